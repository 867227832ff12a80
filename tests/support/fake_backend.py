"""A stand-in Backend for GpuQueue tests: it records each batch, can be held, made to fail, or to be unavailable."""

from __future__ import annotations

import asyncio

from contract.errors import ModelUnavailable
from contract.requests import (
    Answer,
    AskRequest,
    Caption,
    CaptionRequest,
    Embedding,
    EmbedTextRequest,
    GeneratedImage,
    GeneratedImages,
    GenerateRequest,
    Task,
)
from contract.worker import Interrupt


def tag(request) -> str:
    """What names a request in `FakeBackend.batches`: a caption's prefix (or "-"), a text, or the tag in an
    image's info (or its size, for photos decoded from a file)."""
    if isinstance(request, CaptionRequest):
        return request.prefix or "-"
    if isinstance(request, EmbedTextRequest):
        return request.text
    if isinstance(request, GenerateRequest):
        return request.prompt
    if isinstance(request, AskRequest):
        return request.question
    return request.image.info.get("tag", "{}x{}".format(*request.image.size))


class FakeBackend:
    """Records every batch as a list of tags; holds each one until `gate` is set (it is set by default).

    Captions come back as "caption of <prefix>", answers as "answer to <question>" (seeing every earlier
    turn), drawings as small PNGs, embeddings as a fixed vector. A batch with a prefix in
    `fail_on` raises like a broken model; with `unavailable` set, every batch raises the worker contract's
    ModelUnavailable.
    """

    concurrency = 1
    batches_in_queue = True

    def worker_for(self, task: Task) -> str:
        return "device"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.requests: list = []  # every request run, in order
        self.single_image = False  # answer /ask like a single-image model: about the first photo only
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
        self.requests.extend(requests)
        await self.gate.wait()
        if self.unavailable:
            raise ModelUnavailable("no weights")
        if any(tag(r) in self.fail_on for r in requests):
            raise RuntimeError("CUDA error: device-side assert")
        return [_result(r, self.single_image) for r in requests]


def _result(request, single_image: bool = False):
    if isinstance(request, CaptionRequest):
        return Caption(f"caption of {request.prefix}")
    if isinstance(request, AskRequest):
        seen = 1 if single_image else len(request.images)
        return Answer(f"answer to {request.question}", history_used=len(request.history), images_used=seen)
    if isinstance(request, GenerateRequest):
        return GeneratedImages(
            tuple(GeneratedImage(request.seed + n, _png(request.seed + n)) for n in range(request.count))
        )
    return Embedding((1.0,), "m")


def _png(seed: int) -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", (96, 96))
    image.putdata([((seed * 7 + i) % 256, (seed * 13 + 3 * i) % 256, 160) for i in range(96 * 96)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def settle() -> None:
    """Let the queue's tasks run until they wait again."""
    for _ in range(5):
        await asyncio.sleep(0)
