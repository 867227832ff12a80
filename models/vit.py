"""ViT image classification (google/vit-base-patch16-224 and other ImageNet ViTs): the top labels of a photo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Self

import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification

from contract.errors import Interrupted
from contract.requests import Classification, ClassifyRequest, Task

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.worker import Interrupt
    from models.base import Device


class VitClassifier:
    """Classifies a batch of photos in one forward pass."""

    task: ClassVar[Task] = Task.CLASSIFY

    def __init__(self, model, processor, device: Device) -> None:
        self.model = model
        self.processor = processor
        self.device = device
        self.labels = model.config.id2label
        # Multi-label checkpoints score each label on its own (sigmoid); ImageNet ones share one softmax.
        self.multi_label = model.config.problem_type == "multi_label_classification"

    @classmethod
    def load(cls, source: str, device: Device, settings: Settings) -> Self:
        processor = AutoImageProcessor.from_pretrained(source)
        model = AutoModelForImageClassification.from_pretrained(source, dtype=device.dtype)
        model.to(device.torch_device).eval()
        return cls(model, processor, device)

    def run(self, requests: Sequence[ClassifyRequest], interrupt: Interrupt) -> list[Classification]:
        if interrupt.is_set():
            raise Interrupted("interrupted before classifying")
        pixels = self.processor(images=[r.image for r in requests], return_tensors="pt").pixel_values
        logits = self.model(pixel_values=pixels.to(self.device.torch_device, self.device.dtype)).logits.float()
        probabilities = logits.sigmoid() if self.multi_label else logits.softmax(dim=-1)
        results = []
        for request, row in zip(requests, probabilities, strict=False):
            top = torch.topk(row, k=min(request.top_k, row.numel()))
            labels = tuple(
                (self.labels.get(i, str(i)), p) for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=False)
            )
            results.append(Classification(labels))
        return results
