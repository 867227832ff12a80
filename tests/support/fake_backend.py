"""A stand-in Backend for GpuQueue tests: it records each batch, can be held, made to fail, or to be unavailable."""

from __future__ import annotations

import asyncio

from contract.errors import ModelUnavailable
from contract.requests import Answer, AskRequest, Caption, CaptionRequest, Embedding, EmbedTextRequest, Task
from contract.worker import Interrupt


def tag(request) -> str:
    """What names a request in `FakeBackend.batches`: a caption's prefix (or "-"), a text, or the tag in an
    image's info (or its size, for photos decoded from a file)."""
    if isinstance(request, CaptionRequest):
        return request.prefix or "-"
    if isinstance(request, (EmbedTextRequest, AskRequest)):
        return getattr(request, "text", None) or request.question
    return request.image.info.get("tag", "{}x{}".format(*request.image.size))


class FakeBackend:
    """Records every batch as a list of tags; holds each one until `gate` is set (it is set by default).

    Captions come back as "caption of <prefix>", answers as "answer to <question>", embeddings as a fixed
    vector. A batch with a prefix in
    `fail_on` raises like a broken model; with `unavailable` set, every batch raises the worker contract's
    ModelUnavailable.
    """

    concurrency = 1
    batches_in_queue = True

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_on: set[str] = set()
        self.unavailable = False
        self.interrupts: list[Interrupt] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def stats(self) -> dict[str, object]:
        return {}

    async def run(self, task: Task, requests, interrupt: Interrupt, on_partial=None):
        self.interrupts.append(interrupt)
        self.batches.append([tag(r) for r in requests])
        await self.gate.wait()
        if self.unavailable:
            raise ModelUnavailable("no weights")
        if any(tag(r) in self.fail_on for r in requests):
            raise RuntimeError("CUDA error: device-side assert")
        return [Caption(f"caption of {r.prefix}") if isinstance(r, CaptionRequest)
                else Answer(f"answer to {r.question}", len(r.history)) if isinstance(r, AskRequest)
                else Embedding((1.0,), "m") for r in requests]


async def settle() -> None:
    """Let the queue's tasks run until they wait again."""
    for _ in range(5):
        await asyncio.sleep(0)
