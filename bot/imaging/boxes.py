"""/box's picture: the boxes a model found, drawn with labels onto the photo (scaled for display)."""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image, ImageDraw, ImageFont

from contract.requests import Box

# Telegram shows photos up to 2560 px on the long side; bigger ones are only downscaled by it.
MAX_SIDE = 2560
# Small photos are enlarged before drawing, so that labels stay readable on a phone.
MIN_SHORT_SIDE = 480

PALETTE = (
    (255, 59, 48),
    (52, 199, 89),
    (0, 122, 255),
    (255, 149, 0),
    (175, 82, 222),
    (255, 214, 10),
    (90, 200, 250),
    (255, 45, 85),
)


def box_style(size: tuple[int, int]) -> tuple[int, int]:
    """(line width, font size) in pixels for an image of `size`: both grow with the image."""
    short = min(size)
    return max(2, round(short / 160)), max(12, round(short / 28))


def colour(index: int) -> tuple[int, int, int]:
    """The colour of the `index`-th box."""
    return PALETTE[index % len(PALETTE)]


def draw_boxes(image: Image.Image, boxes: list[Box] | tuple[Box, ...]) -> Image.Image:
    """A copy of `image` with each box outlined (inside its edges) and labelled "n. label" in its colour."""
    out = image.convert("RGB")  # always a copy
    draw = ImageDraw.Draw(out)
    line, font_size = box_style(out.size)
    font = ImageFont.load_default(size=font_size)
    pad = max(1, font_size // 6)
    for index, box in enumerate(boxes):
        fill = colour(index)
        draw.rectangle((box.x1, box.y1, box.x2, box.y2), outline=fill, width=line)
        text = f"{index + 1}. {box.label}" if box.label else f"{index + 1}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        label_w, label_h = right - left + 2 * pad, bottom - top + 2 * pad
        # Above the box when there is room, else just inside its top edge; never past the right edge.
        y = box.y1 - label_h if box.y1 - label_h >= 0 else box.y1
        x = min(box.x1, max(0, out.width - label_w))
        draw.rectangle((x, y, x + label_w - 1, y + label_h - 1), fill=fill)
        ink = (
            (0, 0, 0)
            if sum(c * w for c, w in zip(fill, (0.299, 0.587, 0.114), strict=False)) > 150
            else (255, 255, 255)
        )
        draw.text((x + pad - left, y + pad - top), text, font=font, fill=ink)
    return out


def display_scale(size: tuple[int, int]) -> float:
    """How much /box scales a photo before drawing: small ones up (readable labels), huge ones down."""
    width, height = size
    scale = max(1.0, MIN_SHORT_SIDE / min(width, height))
    return min(scale, MAX_SIDE / max(width, height))


def annotate(image: Image.Image, boxes: list[Box] | tuple[Box, ...]) -> bytes:
    """The JPEG that /box sends: `image` scaled for display (see display_scale) with `boxes` drawn."""
    scale = display_scale(image.size)
    if abs(scale - 1.0) > 1e-6:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        boxes = [
            replace(b, x1=round(b.x1 * scale), y1=round(b.y1 * scale), x2=round(b.x2 * scale), y2=round(b.y2 * scale))
            for b in boxes
        ]
    out = io.BytesIO()
    draw_boxes(image, boxes).save(out, "JPEG", quality=90)
    return out.getvalue()
