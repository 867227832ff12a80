"""The Stable Diffusion safety checker (CompVis/stable-diffusion-safety-checker): flags NSFW images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

import numpy as np
from diffusers.pipelines.stable_diffusion.safety_checker import (
    StableDiffusionSafetyChecker,
)
from transformers import AutoImageProcessor

from models.base import on_device

if TYPE_CHECKING:
    from PIL.Image import Image

    from models.base import Device


class SafetyChecker:
    """CLIP image embeddings compared with the checkpoint's concept embeddings and thresholds.

    The SDXL pipelines ship without one; this is the checker Stable Diffusion 1.x/2.x pipelines run,
    loaded on its own from any directory or hub id holding its config, weights and preprocessor config.
    """

    def __init__(self, model: StableDiffusionSafetyChecker, processor, device: Device) -> None:
        self.model = model
        self.processor = processor
        self.device = device

    @classmethod
    def load(cls, source: str, device: Device) -> Self:
        processor = AutoImageProcessor.from_pretrained(source)
        model = StableDiffusionSafetyChecker.from_pretrained(source, dtype=device.dtype)
        on_device(model, device)
        return cls(model, processor, device)

    def flags(self, images: Sequence[Image]) -> list[bool]:
        """One flag per image: True = withhold it."""
        if not images:
            return []
        clip_input = self.processor(images=list(images), return_tensors="pt").pixel_values
        clip_input = clip_input.to(self.device.torch_device, self.device.dtype)
        # The checker blacks out flagged entries of `images` in place; only its flags are used here,
        # so it gets placeholders rather than copies of full-size pictures.
        placeholders = np.zeros((len(images), 1, 1, 3), dtype=np.float32)
        _, flagged = self.model(clip_input=clip_input, images=placeholders)
        return [bool(f) for f in flagged]
