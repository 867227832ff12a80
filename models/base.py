"""The adapter protocol every model family implements, and device selection."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, TypeVar, cast

import torch
from transformers import StoppingCriteria
from transformers.generation.streamers import BaseStreamer

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.requests import Request, Result, Task
    from contract.worker import Interrupt, OnPartial

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Device:
    """Where and in which precision models run."""

    torch_device: torch.device
    dtype: torch.dtype

    @classmethod
    def resolve(cls, setting: str, dtype: str = "auto") -> Device:
        """DEVICE=auto picks CUDA when present, then Apple's MPS, else the CPU; DTYPE=auto picks the precision
        (see `auto_dtype`), any other DTYPE is taken as it is."""
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
        chosen = auto_dtype(device) if dtype == "auto" else getattr(torch, dtype)
        if device.type == "cpu" and chosen == torch.float16:
            log.warning("DTYPE=float16 on the CPU is slow and some layers refuse it; bfloat16 or float32 are safer")
        return cls(device, chosen)

    def __str__(self) -> str:
        return f"{self.torch_device} ({str(self.dtype).removeprefix('torch.')})"


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (Intel AMX, or AVX512-BF16 as on AMD Zen 4 and Intel Cooper Lake).

    Measured on an AVX512-BF16 EPYC: a bf16 Linear layer ran 2.2x the fp32 rate (1024x2048x2048 and a
    4096x4096 matrix-vector product alike); without such instructions bf16 is emulated and slower than fp32.
    """
    if torch.backends.cpu.get_cpu_capability().upper().startswith("AMX"):
        return True
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def auto_dtype(device: torch.device) -> torch.dtype:
    """DTYPE=auto: fp16 on GPUs (CUDA, MPS), bf16 on CPUs that multiply it natively, else fp32."""
    if device.type != "cpu":
        return torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


M = TypeVar("M", bound=torch.nn.Module)


def on_device(model: M, device: Device) -> M:
    """`model` moved to the device, in eval mode. (torch's own Module.to: transformers wraps its `to` in a
    decorator whose annotations mypy reads as needing `self` twice.)"""
    return torch.nn.Module.to(model, device.torch_device).eval()


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


class StreamingAdapter(Adapter, Protocol):
    """An adapter with `streams = True`: its run() also takes `on_partial` and reports answers so far."""

    def run(
        self, requests: Sequence[Request], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Result]:
        """As Adapter.run, calling on_partial(index, text) from the worker thread while it generates."""


class StopOnInterrupt(StoppingCriteria):
    """Ends `generate()` between tokens once the job is cancelled or past its deadline.

    With `rows` (the batch's request index of each generated row) a row also ends alone once its
    request is dropped (`Interrupt.drop`: its user cancelled it), while the other rows go on.
    """

    def __init__(self, interrupt: Interrupt, rows: Sequence[int] | None = None) -> None:
        self.interrupt = interrupt
        self.rows = rows

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object) -> torch.BoolTensor:
        if self.rows is None:
            stop = self.interrupt.is_set()
            return cast(
                torch.BoolTensor, torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)
            )
        stops = [self.interrupt.is_set(row) for row in self.rows]
        return cast(torch.BoolTensor, torch.tensor(stops, dtype=torch.bool, device=input_ids.device))


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


class PartialTexts(BaseStreamer):
    """PartialText for a batch: row i of a batched generate() reports its answer so far to `on_texts[i]`
    (None: that row isn't streamed), each row on its own schedule."""

    def __init__(self, decode: Callable[[list[int]], str], on_texts: Sequence[Callable[[str], None] | None]) -> None:
        self.rows = [PartialText(decode, on_text) if on_text is not None else None for on_text in on_texts]
        for row in self.rows:
            if row is not None:
                row._prompt_seen = True  # this streamer skips the prompt for all of them
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for row, tokens in zip(self.rows, value.reshape(len(self.rows), -1), strict=False):
            if row is not None:
                row.put(tokens)

    def end(self) -> None:
        """Nothing to flush: the complete answers are the jobs' results."""
