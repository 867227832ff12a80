"""BLIP-2 (Salesforce/blip2-*): single-turn /ask with the prompt form "Question: … Answer:"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Self

from transformers import (
    Blip2ForConditionalGeneration,
    Blip2Processor,
    PreTrainedModel,
    ProcessorMixin,
    StoppingCriteriaList,
)

from contract.requests import Answer, AskRequest, Task
from models.base import Device, PartialText, StopOnInterrupt, on_device
from models.quantization import is_placed, quantized_load_kwargs

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.worker import Interrupt, OnPartial


class Blip2Answerer:
    """Answers one question about a photo; it keeps no history (Answer.history_used is None)."""

    task: ClassVar[Task] = Task.ASK
    streams: ClassVar[bool] = True
    model_class: ClassVar[type[PreTrainedModel]] = Blip2ForConditionalGeneration
    processor_class: ClassVar[type[ProcessorMixin]] = Blip2Processor

    def __init__(self, model, processor, device: Device, max_new_tokens: int) -> None:
        self.model = model
        self.processor = processor
        self.device = device
        self.max_new_tokens = max_new_tokens

    @classmethod
    def load(cls, source: str, device: Device, settings: Settings) -> Self:
        processor = cls.processor_class.from_pretrained(source)
        load_kwargs = quantized_load_kwargs(settings.vlm_quantization, source, device)
        model = cls.model_class.from_pretrained(source, **load_kwargs)
        model = model.eval() if is_placed(load_kwargs) else on_device(model, device)
        return cls(model, processor, device, settings.vlm_max_new_tokens)

    @staticmethod
    def prompt(question: str) -> str:
        """BLIP-2 was trained on this form; a bare question gets worse answers."""
        return f"Question: {question} Answer:"

    def run(
        self, requests: Sequence[AskRequest], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Answer]:
        answers = []
        for index, request in enumerate(requests):
            emit = (lambda text, i=index: on_partial(i, text)) if on_partial is not None else None
            answers.append(Answer(self._answer(request, interrupt, emit)))
        return answers

    def _answer(self, request: AskRequest, interrupt: Interrupt, emit) -> str:
        inputs = self.processor(images=request.image, text=self.prompt(request.question), return_tensors="pt")
        inputs = inputs.to(self.device.torch_device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        decode = self._decode
        output = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            stopping_criteria=StoppingCriteriaList([StopOnInterrupt(interrupt)]),
            streamer=PartialText(decode, emit) if emit is not None else None,
        )
        return decode(output[0, inputs["input_ids"].shape[1] :].tolist())

    def _decode(self, ids: list[int]) -> str:
        return self.processor.tokenizer.decode(ids, skip_special_tokens=True).strip()
