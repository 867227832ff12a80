"""Model adapters, one file per model family, behind the small `Adapter` protocol in models.base.

Only this package and the worker that owns the device import torch, transformers or diffusers. Its torch-free
modules (`sources`: which model serves each task; `checkpoints`: a checkpoint's JSON files) are read by the bot too.
"""
