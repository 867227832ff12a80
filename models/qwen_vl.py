"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL (native transformers classes): multi-turn /ask and /box.

The tutorial's Qwen-VL-Chat (v1) is remote code that can't run on transformers 5; these are its
successors. The family is one adapter; what differs between generations is how they write boxes.
"""

from __future__ import annotations

from typing import ClassVar

from models.chat_format import GROUNDING as _ALL_FAMILIES
from models.chat_format import grounding_prompt
from models.chat_vlm import ChatVlm
from models.grounding import GroundingFormat

GROUNDING = {name: fmt for name, fmt in _ALL_FAMILIES.items() if name.startswith("qwen")}


class QwenVl(ChatVlm):
    """Qwen-VL chat models through AutoModelForImageTextToText and an image-only processor."""

    image_token: ClassVar[str] = "<|image_pad|>"

    def grounding_format(self) -> GroundingFormat:
        return GROUNDING[self.model_type]

    def grounding_prompt(self, target: str) -> str:
        return grounding_prompt(self.grounding_format(), target)
