"""Batching through the real queue and local backend: waiting /gen jobs with the same settings share one
pipeline call, and waiting /classify jobs one forward pass; every user still gets their own result."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from bot.queue.gpu_queue import GpuQueue
from bot.queue.jobs import Job
from bot.queue.local import LocalBackend
from bot.settings import Settings
from contract.requests import ClassifyRequest, GenerateRequest, Task
from contract.worker import Interrupt

pytestmark = pytest.mark.timeout(120)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


@pytest.fixture
async def backend(tiny_sdxl, tiny_vit):
    settings = Settings(
        telegram_bot_token="t", gen_model=str(tiny_sdxl), classify_model=str(tiny_vit), device="cpu", max_batch_size=8
    )
    backend = LocalBackend(settings)
    await backend.start()
    yield backend
    await backend.close()


async def on_worker(backend: LocalBackend, function, *args):
    """Run `function` on the backend's device thread, which owns the models."""
    return await asyncio.get_running_loop().run_in_executor(backend._executor, function, *args)


async def test_waiting_gen_jobs_with_equal_size_and_steps_run_as_one_pipeline_call(backend):
    pool = backend._pool
    adapter = await on_worker(backend, pool.get, Task.GENERATE)
    calls: list[int] = []
    adapter.pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(len(args[0])))

    def gen(seed: int, prompt: str, size: int = 128) -> GenerateRequest:
        return GenerateRequest(prompt, seed, steps=1, width=size, height=size, guidance=0.0)

    requests = [gen(1, "a cat"), gen(2, "a dog"), gen(3, "a fox", size=64), gen(4, "an owl"), gen(5, "a cow")]
    alone = [await on_worker(backend, pool.run, Task.GENERATE, [r], Interrupt()) for r in requests]
    calls.clear()

    queue = GpuQueue(backend, max_pending=100, max_per_user=5, job_timeout_s=60, max_batch_size=8)
    await queue.start()
    try:
        # Five users' jobs waiting together, as when they arrive while the worker is busy.
        tickets = [queue.submit(Job(r, user_id=100 + i, chat_id=100 + i)) for i, r in enumerate(requests)]
        results = await asyncio.gather(*(t.result() for t in tickets))
    finally:
        await queue.close()
    assert sorted(calls) == [1, 4]  # the 128 px jobs in one call of four, the 64 px job on its own
    for result, (expected,) in zip(results, alone, strict=False):
        (image,) = result.images
        assert image.seed == expected.images[0].seed
        got, want = pixels(image.png), pixels(expected.images[0].png)
        assert got.shape == want.shape and np.abs(got - want).max() <= 1 and (got != want).mean() < 0.001


async def test_waiting_classify_jobs_run_as_one_forward_pass(backend):
    pool = backend._pool
    adapter = await on_worker(backend, pool.get, Task.CLASSIFY)
    calls: list[int] = []
    adapter.model.register_forward_pre_hook(
        lambda m, args, kwargs: calls.append(len(kwargs["pixel_values"])), with_kwargs=True
    )
    colours = ("red", "green", "blue", "white")
    queue = GpuQueue(backend, max_pending=100, max_per_user=5, job_timeout_s=60, max_batch_size=8)
    await queue.start()
    try:
        tickets = [
            queue.submit(Job(ClassifyRequest(Image.new("RGB", (40, 30), c)), user_id=i, chat_id=i))
            for i, c in enumerate(colours)
        ]
        results = await asyncio.gather(*(t.result() for t in tickets))
    finally:
        await queue.close()
    assert calls == [4]
    assert all(len(r.labels) == 5 and sum(p for _, p in r.labels) <= 1 for r in results)
    assert len({r.labels for r in results}) > 1  # each user got their own photo's labels
