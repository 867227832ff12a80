"""ViLT (dandelin/vilt-b32-finetuned-vqa): single-turn /ask answered from its fixed answer vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Self

import torch
from transformers import ViltForQuestionAnswering, ViltProcessor

from contract.requests import Answer, AskRequest, Task
from models.base import Device, on_device

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.worker import Interrupt


class ViltAnswerer:
    """Classifies (photo, question) into one of the answers it was trained with ("yes", "2", "red"...)."""

    task: ClassVar[Task] = Task.ASK

    def __init__(self, model: ViltForQuestionAnswering, processor: ViltProcessor, device: Device) -> None:
        self.model = model
        self.processor = processor
        self.device = device

    @classmethod
    def load(cls, source: str, device: Device, settings: Settings) -> Self:
        processor = ViltProcessor.from_pretrained(source)
        model = ViltForQuestionAnswering.from_pretrained(source, dtype=device.dtype)
        return cls(on_device(model, device), processor, device)

    def run(self, requests: Sequence[AskRequest], interrupt: Interrupt) -> list[Answer]:
        # Its text encoder has a fixed number of positions: longer questions are cut to fit.
        limit = self.model.config.max_position_embeddings
        inputs = self.processor(
            images=[r.image for r in requests],
            text=[r.question for r in requests],
            padding="max_length" if len(requests) > 1 else False,
            truncation=True,
            max_length=limit,
            return_tensors="pt",
        ).to(self.device.torch_device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.device.dtype)
        logits = self.model(**inputs).logits
        best = torch.argmax(logits, dim=-1).tolist()
        labels = {int(k): v for k, v in (self.model.config.id2label or {}).items()}
        return [Answer(labels[int(i)]) for i in best]
