"""BLIP image captioning (Salesforce/blip-image-captioning-*), conditional on a prefix or not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Self

from transformers import (
    BlipForConditionalGeneration,
    BlipProcessor,
    StoppingCriteriaList,
)

from contract.requests import Caption, CaptionRequest, Task
from models.base import Device, StopOnInterrupt, on_device

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.worker import Interrupt


class BlipCaptioner:
    """Captions a batch of photos; requests with the same prefix share one generate() call."""

    task: ClassVar[Task] = Task.CAPTION

    def __init__(
        self, model: BlipForConditionalGeneration, processor: BlipProcessor, device: Device, max_new_tokens: int
    ) -> None:
        self.model = model
        self.processor = processor
        self.device = device
        self.max_new_tokens = max_new_tokens

    @classmethod
    def load(cls, source: str, device: Device, settings: Settings) -> Self:
        processor = BlipProcessor.from_pretrained(source)
        model = BlipForConditionalGeneration.from_pretrained(source, dtype=device.dtype)
        on_device(model, device)
        return cls(model, processor, device, settings.caption_max_new_tokens)

    def run(self, requests: Sequence[CaptionRequest], interrupt: Interrupt) -> list[Caption]:
        captions: dict[int, Caption] = {}
        by_prefix: dict[str | None, list[int]] = {}
        for index, request in enumerate(requests):
            by_prefix.setdefault(request.prefix, []).append(index)
        for prefix, indices in by_prefix.items():
            texts = self._caption([requests[i].image for i in indices], prefix, interrupt)
            captions.update({i: Caption(text) for i, text in zip(indices, texts, strict=False)})
        return [captions[i] for i in range(len(requests))]

    def _caption(self, images: list, prefix: str | None, interrupt: Interrupt) -> list[str]:
        text = [prefix] * len(images) if prefix else None
        inputs = self.processor(images=images, text=text, return_tensors="pt").to(self.device.torch_device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.device.dtype)
        output = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            stopping_criteria=StoppingCriteriaList([StopOnInterrupt(interrupt)]),
        )
        return [t.strip() for t in self.processor.batch_decode(output, skip_special_tokens=True)]
