"""VLM_QUANTIZATION: loading VLM_MODEL as a GPTQ checkpoint or in bitsandbytes 4-bit (GPU only, optional extras)."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import torch

from contract.errors import ModelUnavailable
from models.checkpoints import read_json

if TYPE_CHECKING:
    from models.base import Device


def quantized_load_kwargs(setting: str, source: str, device: Device) -> dict[str, Any]:
    """Extra from_pretrained() arguments for VLM_QUANTIZATION, or a ModelUnavailable saying what is missing.

    * ``none``: the checkpoint as it is, in the device's precision.
    * ``gptq``: a GPTQ checkpoint (its config.json carries the quantization_config); transformers
      loads it through optimum + gptqmodel (``pip install 'clipbot[gptq]'``).
    * ``bnb-4bit``: any checkpoint, quantized to 4-bit NF4 while loading (``pip install 'clipbot[bnb]'``).

    Both quantized modes need a CUDA GPU; the weights are placed on it while loading.
    """
    if setting == "none":
        return {"dtype": device.dtype}
    if device.torch_device.type != "cuda":
        raise ModelUnavailable(f"VLM_QUANTIZATION={setting} needs a CUDA GPU, but DEVICE resolved to {device}")
    placement = {"device_map": {"": str(device.torch_device)}}
    if setting == "gptq":
        _require(("optimum", "gptqmodel"), "gptq")
        method = _quant_method(source)
        if method != "gptq":
            raise ModelUnavailable(
                f"VLM_QUANTIZATION=gptq but {source!r} is not a GPTQ checkpoint (quant_method: {method or 'none'})"
            )
        return {"dtype": torch.float16, **placement}
    if setting == "bnb-4bit":
        _require(("bitsandbytes",), "bnb")
        from transformers import BitsAndBytesConfig

        config = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.float16,
        )
        return {"quantization_config": config, "dtype": torch.float16, **placement}
    raise ModelUnavailable(f"unknown VLM_QUANTIZATION {setting!r}; use none, gptq or bnb-4bit")


def is_placed(load_kwargs: dict[str, Any]) -> bool:
    """Whether from_pretrained() already put the weights on the device (quantized models can't be moved)."""
    return "device_map" in load_kwargs


def _require(modules: tuple[str, ...], extra: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelUnavailable(
            f"VLM_QUANTIZATION needs {', '.join(missing)}: install the extra with pip install 'clipbot[{extra}]'"
        )


def _quant_method(source: str) -> str | None:
    config = read_json(source, "config.json") or {}
    quantization = config.get("quantization_config") or config.get("text_config", {}).get("quantization_config")
    return (quantization or {}).get("quant_method")
