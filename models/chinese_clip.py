"""Chinese-CLIP (OFA-Sys/chinese-clip-vit-*): CLIP with a Chinese RoBERTa text tower, for /find in Chinese."""

from __future__ import annotations

from typing import ClassVar

from transformers import ChineseCLIPModel, ChineseCLIPProcessor

from models.clip import ClipEmbedder


class ChineseClipEmbedder(ClipEmbedder):
    """The same embedding contract as ClipEmbedder; only the classes that load the checkpoint differ."""

    model_class: ClassVar[type] = ChineseCLIPModel
    processor_class: ClassVar[type] = ChineseCLIPProcessor
