"""Image-only processors for Qwen-VL and GLM-4V checkpoints, which otherwise need torchvision for video."""

from __future__ import annotations

from functools import cache

import transformers
from transformers import ProcessorMixin

from models.registry import read_model_type

# checkpoint model_type -> the processor class its processor_config names
PROCESSOR_CLASSES = {
    "qwen2_vl": "Qwen2VLProcessor",
    "qwen2_5_vl": "Qwen2_5_VLProcessor",
    "qwen3_vl": "Qwen3VLProcessor",
    "qwen3_vl_moe": "Qwen3VLProcessor",
    "glm4v": "Glm4vProcessor",
    "glm4v_moe": "Glm4vProcessor",
}


@cache
def image_only_processor_class(base_cls: type[ProcessorMixin]) -> type[ProcessorMixin]:
    """A subclass of a Qwen-VL / GLM-4V processor class without a video processor.

    Every video processor needs torchvision, and these processors require one; without torchvision
    `AutoProcessor` silently returns a bare tokenizer. `ProcessorMixin` derives its sub-processors
    from `get_attributes()` (for `__init__`, `from_pretrained` and `save_pretrained`), so returning
    only the image processor and the tokenizer makes the processor construct, load and save without
    one. The base `__init__` still passes `video_processor=None` positionally, which `ProcessorMixin`
    drops (it zips arguments with `get_attributes()`). The subclass keeps the base class's name so
    that `save_pretrained` writes the real `processor_class`, as an official checkpoint does.
    """

    class ImageOnlyProcessor(base_cls):  # type: ignore[valid-type, misc]
        @classmethod
        def get_attributes(cls) -> list[str]:
            return ["image_processor", "tokenizer"]

    ImageOnlyProcessor.__name__ = base_cls.__name__
    ImageOnlyProcessor.__qualname__ = base_cls.__qualname__
    ImageOnlyProcessor.__doc__ = f"{base_cls.__name__} without a video processor (image + text only)."
    return ImageOnlyProcessor


def load_image_only_processor(source: str) -> ProcessorMixin:
    """The processor of a Qwen2-VL / Qwen2.5-VL / Qwen3-VL / GLM-4.1V / GLM-4.5V checkpoint, images only.

    `source` is a local directory or a hub id; the processor class comes from its config's model_type.
    """
    model_type = read_model_type(source)
    try:
        base_cls = getattr(transformers, PROCESSOR_CLASSES[model_type])
    except KeyError:
        raise ValueError(f"no image-only processor recipe for model_type {model_type!r}") from None
    return image_only_processor_class(base_cls).from_pretrained(source)
