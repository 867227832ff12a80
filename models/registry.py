"""Which adapter serves a task, chosen from the checkpoint's own config (`model_type`)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from contract.errors import ErrorKind, ModelUnavailable
from contract.requests import Task
from models.checkpoints import read_json

if TYPE_CHECKING:
    from models.base import Adapter

# Multi-turn chat VLMs: they answer /ask and draw /box (grounding) alike.
_CHAT_VLMS = {
    "qwen2_vl": "models.qwen_vl:QwenVl",
    "qwen2_5_vl": "models.qwen_vl:QwenVl",
    "qwen3_vl": "models.qwen_vl:QwenVl",
    "qwen3_vl_moe": "models.qwen_vl:QwenVl",
    "glm4v": "models.glm4v:Glm4v",
    "glm4v_moe": "models.glm4v:Glm4v",
}

# task -> checkpoint model_type (config.json) or pipeline class (model_index.json) -> "module:Class"
ADAPTERS: dict[Task, dict[str, str]] = {
    Task.CAPTION: {
        "blip": "models.blip:BlipCaptioner",
    },
    Task.GENERATE: {
        "StableDiffusionXLPipeline": "models.sdxl:SdxlGenerator",
    },
    Task.CLASSIFY: {
        "vit": "models.vit:VitClassifier",
    },
    Task.ASK: {
        **_CHAT_VLMS,
        # single-turn VQA families of the tutorial
        "blip-2": "models.blip2:Blip2Answerer",
        "instructblip": "models.instructblip:InstructBlipAnswerer",
        "vilt": "models.vilt:ViltAnswerer",
    },
    Task.BOX: dict(_CHAT_VLMS),
    Task.EMBED: {
        "clip": "models.clip:ClipEmbedder",
        "chinese_clip": "models.chinese_clip:ChineseClipEmbedder",
    },
}


def read_model_type(source: str) -> str:
    """`model_type` from config.json, or `_class_name` from a diffusers model_index.json.

    `source` is a local directory or a hub id (then only those small files are fetched).
    """
    for filename, key in (("config.json", "model_type"), ("model_index.json", "_class_name")):
        value = (read_json(source, filename) or {}).get(key)
        if value:
            return str(value)
    raise ModelUnavailable(f"{source!r} has neither config.json nor model_index.json")


def adapter_for(task: Task, source: str) -> type[Adapter]:
    """The adapter class for `task` that understands the checkpoint at `source`."""
    model_type = read_model_type(source)
    families = ADAPTERS.get(task, {})
    target = families.get(model_type)
    if target is None:
        supported = ", ".join(sorted(families)) or "none yet"
        raise ModelUnavailable(
            f"{source!r} is a {model_type!r} model; {task} supports: {supported}",
            ErrorKind.WRONG_FAMILY,
            (str(task), model_type),
        )
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)
