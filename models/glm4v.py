"""GLM-4.1V and GLM-4.5V (Glm4vForConditionalGeneration, Glm4vMoeForConditionalGeneration): the native
successors of the tutorial's CogVLM, for multi-turn /ask and /box.

They may think first (``<think>…</think>``) and wrap the final answer in ``<answer>`` and
``<|begin_of_box|>…<|end_of_box|>``; users see only the answer. Boxes are ``[[x1,y1,x2,y2], ...]``
on a 0..1000 grid over the photo.
"""

from __future__ import annotations

from typing import ClassVar

from models import chat_format
from models.chat_vlm import ChatVlm
from models.grounding import GroundingFormat


def grounding_prompt(target: str) -> str:
    """What /box asks a GLM-4V model."""
    return chat_format.grounding_prompt(GroundingFormat.GLM_1000, target)


class Glm4v(ChatVlm):
    """GLM-4V chat models through AutoModelForImageTextToText and an image-only processor."""

    image_token: ClassVar[str] = "<|image|>"
    pixel_budget_frames: ClassVar[int] = 2  # GLM's image processor counts both temporal frames

    def grounding_format(self) -> GroundingFormat:
        return GroundingFormat.GLM_1000

    def grounding_prompt(self, target: str) -> str:
        return grounding_prompt(target)
