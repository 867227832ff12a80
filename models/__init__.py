"""Model adapters, one file per model family, behind the small `Adapter` protocol in models.base.

Only this package and the worker that owns the device import torch, transformers or diffusers.
"""
