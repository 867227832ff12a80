"""Lanes in-process: the real GpuQueue, LocalBackend and ModelPool with tiny models, the VLM's generate() held
while the test looks: another user's /caption is answered meanwhile (not without lanes), and a memory budget
that fits one model at a time makes the lanes take turns."""

from __future__ import annotations

import asyncio
import threading

import pytest
from PIL import Image

from bot.queue.gpu_queue import GpuQueue
from bot.queue.jobs import Job
from bot.queue.local import LocalBackend
from bot.settings import Settings
from contract.requests import Answer, AskRequest, Caption, CaptionRequest, Task

pytestmark = pytest.mark.timeout(120)
PHOTO = Image.new("RGB", (64, 48), "red")


async def started(settings: Settings, lanes: bool = True) -> tuple[LocalBackend, GpuQueue]:
    backend = LocalBackend(settings, lanes=lanes)
    await backend.start()
    queue = GpuQueue(
        backend,
        max_pending=10,
        max_per_user=5,
        job_timeout_s=60,
        max_batch_size=8,
        concurrency=backend.concurrency,
        worker_for=backend.worker_for,
    )
    await queue.start()
    return backend, queue


def hold_generate(backend: LocalBackend) -> tuple[threading.Event, threading.Event]:
    """Make the VLM's generate() wait for `release` once it has begun (`decoding`): a long answer."""
    adapter = backend._pool.get(Task.ASK)
    decoding, release = threading.Event(), threading.Event()
    generate = adapter.model.generate

    def held(**kwargs):
        decoding.set()
        release.wait(60)
        return generate(**kwargs)

    adapter.model.generate = held
    return decoding, release


def settings_for(tiny_blip, tiny_qwen2_5_vl, **kw) -> Settings:
    return Settings(
        telegram_bot_token="t",
        caption_model=str(tiny_blip),
        vlm_model=str(tiny_qwen2_5_vl),
        device="cpu",
        vlm_max_new_tokens=4,
        **kw,
    )


@pytest.mark.parametrize("lanes", [True, False])
async def test_a_caption_is_answered_while_another_users_ask_decodes(tiny_blip, tiny_qwen2_5_vl, lanes):
    backend, queue = await started(settings_for(tiny_blip, tiny_qwen2_5_vl, model_memory_budget_gb=0), lanes)
    await asyncio.to_thread(backend._pool.get, Task.CAPTION)
    decoding, release = await asyncio.to_thread(hold_generate, backend)
    asked = queue.submit(Job(AskRequest(PHOTO, "Tell me a long story."), user_id=1, chat_id=1))
    assert await asyncio.to_thread(decoding.wait, 30)
    captioned = queue.submit(Job(CaptionRequest(PHOTO), user_id=2, chat_id=2))
    if lanes:
        assert isinstance(await asyncio.wait_for(captioned.result(), 30), Caption)
        assert not asked.done()  # the answer is still being written
    else:  # one thread for every model: the caption waits for the whole answer
        await asyncio.sleep(1.0)
        assert not captioned.done() and captioned.position == 1
    release.set()
    assert isinstance(await asked.result(), Answer) and isinstance(await captioned.result(), Caption)
    await queue.close()
    await backend.close()


async def test_a_budget_for_one_model_makes_the_lanes_take_turns(tiny_blip, tiny_qwen2_5_vl):
    # 0.5 MB holds the tiny Qwen2.5-VL (0.43 MB) or the tiny BLIP (0.2 MB), not both.
    backend, queue = await started(settings_for(tiny_blip, tiny_qwen2_5_vl, model_memory_budget_gb=0.5 / 1024))
    decoding, release = await asyncio.to_thread(hold_generate, backend)
    asked = queue.submit(Job(AskRequest(PHOTO, "Tell me a long story."), user_id=1, chat_id=1))
    assert await asyncio.to_thread(decoding.wait, 30)
    captioned = queue.submit(Job(CaptionRequest(PHOTO), user_id=2, chat_id=2))
    await asyncio.sleep(1.0)
    assert captioned.position == 0 and not captioned.done()  # running on its lane, waiting for room
    assert list(backend.stats()["loaded"]) == ["ask"]
    release.set()
    assert isinstance(await asked.result(), Answer) and isinstance(await captioned.result(), Caption)
    assert list(backend.stats()["loaded"]) == ["caption"]  # the VLM made room once its answer was done
    for _ in range(2):  # and they keep taking turns
        answer, caption = await asyncio.gather(
            queue.submit(Job(AskRequest(PHOTO, "Again?"), user_id=3, chat_id=3)).result(),
            queue.submit(Job(CaptionRequest(PHOTO), user_id=4, chat_id=4)).result(),
        )
        assert isinstance(answer, Answer) and isinstance(caption, Caption)
    await queue.close()
    await backend.close()
