"""The adapter protocol every model family implements, and device selection."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, Sequence

import torch
from transformers import StoppingCriteria

if TYPE_CHECKING:
    from bot.backends import Interrupt
    from bot.jobs import Request, Result, Task
    from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Device:
    """Where and in which precision models run."""

    torch_device: torch.device
    dtype: torch.dtype

    @classmethod
    def resolve(cls, setting: str) -> Device:
        """DEVICE=auto picks CUDA in fp16 when present, then Apple's MPS in fp16, else the CPU in fp32."""
        if setting == "auto":
            if torch.cuda.is_available():
                setting = "cuda"
            elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
                setting = "mps"
            else:
                setting = "cpu"
        device = torch.device(setting)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"DEVICE={setting} but CUDA is not available in this torch build")
        dtype = torch.float32 if device.type == "cpu" else torch.float16
        return cls(device, dtype)

    def __str__(self) -> str:
        return f"{self.torch_device} ({str(self.dtype).removeprefix('torch.')})"


class Adapter(Protocol):
    """One model family: loaded once on the worker, then asked to run batches of one task's requests."""

    task: ClassVar[Task]

    @classmethod
    def load(cls, source: str, device: Device, settings: Settings) -> Self:
        """Load from a hub id or a local directory (the same from_pretrained path either way)."""

    def run(self, requests: Sequence[Request], interrupt: Interrupt) -> list[Result]:
        """One result per request, in order. Called under torch.inference_mode() on the worker thread."""


class StopOnInterrupt(StoppingCriteria):
    """Ends `generate()` between tokens once the job is cancelled or past its deadline."""

    def __init__(self, interrupt: Interrupt) -> None:
        self.interrupt = interrupt

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object) -> torch.BoolTensor:
        stop = self.interrupt.is_set()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)
