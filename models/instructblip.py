"""InstructBLIP (Salesforce/instructblip-*): single-turn /ask; the question is the instruction."""

from __future__ import annotations

from typing import ClassVar

from transformers import InstructBlipForConditionalGeneration, InstructBlipProcessor

from models.blip2 import Blip2Answerer


class InstructBlipAnswerer(Blip2Answerer):
    """BLIP-2's generation with an instruction-tuned Q-Former: the plain question is the prompt."""

    model_class: ClassVar[type] = InstructBlipForConditionalGeneration
    processor_class: ClassVar[type] = InstructBlipProcessor

    @staticmethod
    def prompt(question: str) -> str:
        return question
