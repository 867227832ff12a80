"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL (native transformers classes): multi-turn /ask and /box.

The tutorial's Qwen-VL-Chat (v1) is remote code that can't run on transformers 5; these are its
successors. The family is one adapter; what differs between generations is how they write boxes.
"""

from __future__ import annotations

from typing import ClassVar

from models.chat_vlm import ChatVlm
from models.grounding import GroundingFormat

GROUNDING = {
    "qwen2_vl": GroundingFormat.REF_BOX_1000,  # <|object_ref_start|>..<|box_start|>(x1,y1),(x2,y2)<|box_end|>
    "qwen2_5_vl": GroundingFormat.JSON_PIXELS,  # bbox_2d in the resized input's pixels
    "qwen3_vl": GroundingFormat.JSON_1000,  # bbox_2d on a 0..1000 grid
    "qwen3_vl_moe": GroundingFormat.JSON_1000,
}


def grounding_prompt(fmt: GroundingFormat, target: str) -> str:
    """What /box asks a Qwen-VL model of this grounding format."""
    if fmt is GroundingFormat.REF_BOX_1000:
        return f"Detect the bounding box of every <|object_ref_start|>{target}<|object_ref_end|> in the image."
    return (
        f'Locate every "{target}" in the image and output the bounding box of each in JSON format, '
        f'as [{{"bbox_2d": [x1, y1, x2, y2], "label": "{target}"}}]. If there is none, output [].'
    )


class QwenVl(ChatVlm):
    """Qwen-VL chat models through AutoModelForImageTextToText and an image-only processor."""

    image_token: ClassVar[str] = "<|image_pad|>"

    def grounding_format(self) -> GroundingFormat:
        return GROUNDING[self.model_type]

    def grounding_prompt(self, target: str) -> str:
        return grounding_prompt(self.grounding_format(), target)
