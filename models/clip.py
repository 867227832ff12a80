"""CLIP (openai/clip-vit-*): normalised image and text embeddings for photo indexing and /find."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, Self

import torch
from transformers import CLIPModel, CLIPProcessor, PreTrainedModel, ProcessorMixin

from contract.requests import Embedding, EmbedImageRequest, EmbedTextRequest, Task
from models.base import Device, on_device

if TYPE_CHECKING:
    from PIL.Image import Image

    from bot.settings import Settings
    from contract.worker import Interrupt

log = logging.getLogger(__name__)

# The image processor (PIL resize, crop, normalise) runs on the CPU, a few ms a photo: on a GPU that is
# longer than the forward pass of a whole batch, so big batches are preprocessed on several threads
# (PIL and numpy release the GIL). Fewer than this many photos a thread isn't worth a thread.
PREPROCESS_THREADS = min(8, os.cpu_count() or 1)
PHOTOS_PER_THREAD = 8


class ClipEmbedder:
    """Embeds a batch of photos in one forward pass of the image tower, and texts in one of the text tower.

    Embeddings are L2-normalised, so the dot product is the cosine similarity of the CLIP paper; they come
    back in float32 whatever the device's precision, tagged with the model they came from.
    """

    task: ClassVar[Task] = Task.EMBED
    model_class: ClassVar[type[PreTrainedModel]] = CLIPModel
    processor_class: ClassVar[type[ProcessorMixin]] = CLIPProcessor

    def __init__(self, model: Any, processor: Any, device: Device, source: str) -> None:
        self.model = model
        self.processor = processor
        self.device = device
        self.source = source
        self._preprocessors: ThreadPoolExecutor | None = None

    @classmethod
    def load(cls, source: str, device: Device, settings: Settings | None = None) -> Self:
        processor = cls.processor_class.from_pretrained(source)
        model = cls.model_class.from_pretrained(source, dtype=device.dtype)
        on_device(model, device)
        return cls(model, processor, device, source)

    @property
    def dim(self) -> int:
        """The embedding size (the projection dimension)."""
        return int(self.model.config.projection_dim)

    def run(self, requests: Sequence[EmbedImageRequest | EmbedTextRequest], interrupt: Interrupt) -> list[Embedding]:
        images = {i: r.image for i, r in enumerate(requests) if isinstance(r, EmbedImageRequest)}
        texts = {i: r.text for i, r in enumerate(requests) if isinstance(r, EmbedTextRequest)}
        vectors: dict[int, torch.Tensor] = {}
        if images:
            vectors.update(zip(images, self.embed_images(list(images.values())), strict=True))
        if texts and not interrupt.is_set():
            vectors.update(zip(texts, self.embed_texts(list(texts.values())), strict=True))
        return [Embedding(tuple(vectors[i].tolist()), self.source) for i in range(len(requests))]

    def embed_images(self, images: Sequence[Image]) -> torch.Tensor:
        """(len(images), dim) unit vectors, float32 on the CPU: one forward pass for the whole batch."""
        pixels = self._pixels(list(images)).to(self.device.torch_device, self.device.dtype)
        features = self.model.get_image_features(pixel_values=pixels).pooler_output
        log.debug("embedded %d images in one forward pass", len(images))
        return _normalised(features)

    def _pixels(self, images: list[Image]) -> torch.Tensor:
        threads = min(PREPROCESS_THREADS, len(images) // PHOTOS_PER_THREAD)
        if threads < 2:
            return self.processor(images=images, return_tensors="pt")["pixel_values"]
        if self._preprocessors is None:
            self._preprocessors = ThreadPoolExecutor(PREPROCESS_THREADS, thread_name_prefix="clip-preprocess")
        size = math.ceil(len(images) / threads)
        chunks = [images[i : i + size] for i in range(0, len(images), size)]
        parts = self._preprocessors.map(lambda c: self.processor(images=c, return_tensors="pt")["pixel_values"], chunks)
        return torch.cat(list(parts))

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """(len(texts), dim) unit vectors; texts longer than the tokenizer's limit are truncated."""
        inputs = self.processor(text=list(texts), padding=True, truncation=True, return_tensors="pt")
        inputs = {k: v.to(self.device.torch_device) for k, v in inputs.items()}
        features = self.model.get_text_features(**inputs).pooler_output
        log.debug("embedded %d texts in one forward pass", len(texts))
        return _normalised(features)


def _normalised(features: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(features.float(), dim=-1).cpu()
