"""The adapter protocol every model family implements, and device selection."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar, Protocol, Self, Sequence

import torch
from transformers import StoppingCriteria
from transformers.generation.streamers import BaseStreamer

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.requests import Request, Result, Task
    from contract.worker import Interrupt

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
        """One result per request, in order. Called under torch.inference_mode() on the worker thread.

        Adapters with a class attribute `streams = True` also take `on_partial` (contract.worker.OnPartial)
        as a third argument and call it from the worker thread with each request's answer so far.
        """


class StopOnInterrupt(StoppingCriteria):
    """Ends `generate()` between tokens once the job is cancelled or past its deadline."""

    def __init__(self, interrupt: Interrupt) -> None:
        self.interrupt = interrupt

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object) -> torch.BoolTensor:
        stop = self.interrupt.is_set()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class PartialText(BaseStreamer):
    """A generate() streamer that reports the answer so far, from the worker thread.

    generate() calls `put` once with the prompt, then with each new token. The new tokens are
    decoded afresh each time by `decode` (so a character split across tokens comes out whole, and
    a model's thinking can be hidden) and handed to `on_text` at most every `interval` seconds,
    when the text changed. The final text is not sent here: it comes back as the job's result.
    """

    interval = 0.2

    def __init__(self, decode: Callable[[list[int]], str], on_text: Callable[[str], None]) -> None:
        self.decode = decode
        self.on_text = on_text
        self.tokens: list[int] = []
        self._prompt_seen = False
        self._sent = ""
        self._sent_at = 0.0

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        if value.dim() > 1:
            if value.shape[0] > 1:
                raise ValueError("PartialText streams one sequence at a time")
            value = value[0]
        self.tokens.extend(int(t) for t in value.tolist())
        now = time.monotonic()
        if now - self._sent_at < self.interval:
            return
        text = self.decode(self.tokens)
        if text and text != self._sent:
            self._sent, self._sent_at = text, now
            self.on_text(text)

    def end(self) -> None:
        """Nothing to flush: the complete answer is the job's result."""
