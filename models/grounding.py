"""Grounding: the boxes a vision-language model names in its answer, parsed into the original photo's pixels.

Pure functions (no torch): the adapters parse with them on the worker. The formats differ by model generation:

=============  ==========================================================  =============================
format         what the model writes                                       coordinates
=============  ==========================================================  =============================
REF_BOX_1000   Qwen-VL (v1), Qwen2-VL: ``<ref>cat</ref><box>(x1,y1),(x2,y2)  0..1000 grid over the photo
               </box>`` (Qwen2-VL spells the tags ``<|object_ref_start|>``,
               ``<|box_start|>``...)
JSON_PIXELS    Qwen2.5-VL: ``[{"bbox_2d": [x1, y1, x2, y2], "label": ..}]``  pixels of the processor's
                                                                           resized input (multiples of 28)
JSON_1000      Qwen3-VL: the same JSON                                     0..1000 relative
GLM_1000       GLM-4.1V / GLM-4.5V: ``<|begin_of_box|>[[x1,y1,x2,y2],      0..1000 relative
               ...]<|end_of_box|>``
=============  ==========================================================  =============================
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from contract.requests import Box

# A model that lists more than this is rambling; the first ones are kept.
MAX_BOXES = 50


class GroundingFormat(StrEnum):
    """How a model family writes boxes (see the module docstring)."""

    REF_BOX_1000 = "ref_box_1000"
    JSON_PIXELS = "json_pixels"
    JSON_1000 = "json_1000"
    GLM_1000 = "glm_1000"


# -- parsing ---------------------------------------------------------------------------------------

_NUMBER = r"(-?\d+(?:\.\d+)?)"
_POINT = rf"\(\s*{_NUMBER}\s*,\s*{_NUMBER}\s*\)"
_REF_OR_BOX = re.compile(
    r"(?:<ref>|<\|object_ref_start\|>)(?P<ref>.*?)(?:</ref>|<\|object_ref_end\|>)"
    rf"|(?:<box>|<\|box_start\|>)\s*{_POINT}\s*,\s*{_POINT}\s*(?:</box>|<\|box_end\|>)",
    re.S,
)
_GLM_BOX = re.compile(r"<\|begin_of_box\|>(.*?)(?:<\|end_of_box\|>|$)", re.S)
_FENCE = re.compile(r"```(?:json)?", re.I)
_BBOX_KEYS = ("bbox_2d", "bbox", "box", "box_2d")
_LABEL_KEYS = ("label", "name", "object", "category")


def parse_boxes(
    text: str,
    fmt: GroundingFormat,
    image_size: tuple[int, int],
    *,
    model_size: tuple[int, int] | None = None,
    default_label: str = "",
) -> list[Box]:
    """Every box in `text`, in the original photo's pixels, clamped to it; [] when there is none.

    `image_size` is the original photo's (width, height); `model_size` the (width, height) of the
    image the model saw, needed for JSON_PIXELS. Malformed or truncated answers give the boxes that
    can be read; degenerate boxes (no area inside the photo) are dropped, and so are duplicates.
    """
    if fmt is GroundingFormat.REF_BOX_1000:
        raw = list(_ref_boxes(text))
    elif fmt is GroundingFormat.GLM_1000:
        spans = _GLM_BOX.findall(text)
        raw = [box for span in spans for box in _json_boxes(span)] if spans else list(_json_boxes(text))
    else:
        raw = list(_json_boxes(text))

    width, height = image_size
    if fmt is GroundingFormat.JSON_PIXELS:
        model_width, model_height = model_size or image_size
        sx, sy = width / model_width, height / model_height
    else:
        sx, sy = width / 1000, height / 1000

    boxes: list[Box] = []
    for label, (a, b, c, d) in raw:
        box = _clamped(label or default_label, a * sx, b * sy, c * sx, d * sy, width, height)
        if box is not None and box not in boxes:
            boxes.append(box)
        if len(boxes) == MAX_BOXES:
            break
    return boxes


def _clamped(label: str, x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> Box | None:
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        return None  # entirely outside the photo
    left, top = max(0, round(x1)), max(0, round(y1))
    right, bottom = min(width - 1, round(x2)), min(height - 1, round(y2))
    if right <= left or bottom <= top:
        return None
    return Box(label.strip()[:64], left, top, right, bottom)


def _ref_boxes(text: str) -> Iterator[tuple[str | None, tuple[float, ...]]]:
    label: str | None = None
    for match in _REF_OR_BOX.finditer(text):
        if match.group("ref") is not None:
            label = match.group("ref")
        else:
            yield label, tuple(float(v) for v in match.groups()[1:5])


def _json_boxes(text: str) -> Iterator[tuple[str | None, tuple[float, ...]]]:
    """Boxes from every JSON value in `text`: objects with a bbox key, else bare 4-number lists.

    Scanning value by value (rather than parsing the whole answer) keeps the complete objects of
    an answer that was cut off mid-way.
    """
    text = _FENCE.sub(" ", text)
    decoder = json.JSONDecoder()
    values: list[Any] = []
    i = 0
    while True:
        starts = [p for p in (text.find("[", i), text.find("{", i)) if p >= 0]
        if not starts:
            break
        i = min(starts)
        try:
            value, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        values.append(value)
        i = end
    labelled = [box for value in values for box in _walk(value, keyed=True)]
    if labelled:
        yield from labelled
    else:
        for value in values:
            yield from _walk(value, keyed=False)


def _walk(value: Any, keyed: bool) -> Iterator[tuple[str | None, tuple[float, ...]]]:
    if isinstance(value, dict):
        if keyed:
            for key in _BBOX_KEYS:
                coords = _four_numbers(value.get(key))
                if coords is not None:
                    label = next((value[k] for k in _LABEL_KEYS if isinstance(value.get(k), str)), None)
                    yield label, coords
                    return
        for item in value.values():
            yield from _walk(item, keyed)
    elif isinstance(value, list):
        coords = None if keyed else _four_numbers(value)
        if coords is not None:
            yield None, coords
            return
        for item in value:
            yield from _walk(item, keyed)


def _four_numbers(value: Any) -> tuple[float, ...] | None:
    if not isinstance(value, list) or len(value) != 4:
        return None
    numbers = []
    for item in value:
        if isinstance(item, bool):
            return None
        try:
            number = float(item)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(number):
            return None
        numbers.append(number)
    return tuple(numbers)
