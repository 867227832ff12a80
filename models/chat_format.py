"""What a chat VLM's words look like, without torch: each family's grounding format and /box prompt, and
what a user sees of an answer. The in-process adapters and the remote client (bot process) share it."""

from __future__ import annotations

import re

from models.grounding import GroundingFormat

# checkpoint model_type -> how the family writes boxes (bot.boxes)
GROUNDING = {
    "qwen2_vl": GroundingFormat.REF_BOX_1000,  # <|object_ref_start|>..<|box_start|>(x1,y1),(x2,y2)<|box_end|>
    "qwen2_5_vl": GroundingFormat.JSON_PIXELS,  # bbox_2d in the resized input's pixels
    "qwen3_vl": GroundingFormat.JSON_1000,  # bbox_2d on a 0..1000 grid
    "qwen3_vl_moe": GroundingFormat.JSON_1000,
    "glm4v": GroundingFormat.GLM_1000,  # <|begin_of_box|>[[x1,y1,x2,y2], ...]<|end_of_box|>
    "glm4v_moe": GroundingFormat.GLM_1000,
}

_HIDDEN_MARKUP = re.compile(r"</?answer>|<\|begin_of_box\|>|<\|end_of_box\|>")


def grounding_prompt(fmt: GroundingFormat, target: str) -> str:
    """What /box asks a model of this grounding format for every `target` in the photo."""
    if fmt is GroundingFormat.REF_BOX_1000:
        return f"Detect the bounding box of every <|object_ref_start|>{target}<|object_ref_end|> in the image."
    if fmt is GroundingFormat.GLM_1000:
        return (
            f"Locate every {target} in the image. Give the bounding box of each as [x1,y1,x2,y2] "
            "with coordinates from 0 to 1000, all boxes in one list like [[x1,y1,x2,y2],[x1,y1,x2,y2]]."
        )
    return (
        f'Locate every "{target}" in the image and output the bounding box of each in JSON format, '
        f'as [{{"bbox_2d": [x1, y1, x2, y2], "label": "{target}"}}]. If there is none, output [].'
    )


def visible_answer(text: str) -> str:
    """What a user sees of a model's output: no thinking, no answer/box markup ("" while still thinking)."""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    elif text.lstrip().startswith("<think>"):
        return ""
    return _HIDDEN_MARKUP.sub("", text).strip()
