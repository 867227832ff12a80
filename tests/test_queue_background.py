"""GpuQueue's background lane (photo indexing): own cap, never in a user's way, batched, not starved."""

from __future__ import annotations

import asyncio
import time

import pytest
from PIL import Image

from bot.errors import Busy, TooManyPending
from bot.queue.gpu_queue import GpuQueue
from bot.queue.jobs import Job, Lane
from contract.requests import CaptionRequest, EmbedImageRequest
from tests.support.fake_backend import FakeBackend, settle

IMAGE = Image.new("RGB", (4, 4))


def index_job(user: int, name: str, chat: int = 1) -> Job:
    return Job(EmbedImageRequest(_tagged(name)), user_id=user, chat_id=chat, lane=Lane.BACKGROUND)


def caption_job(user: int, name: str) -> Job:
    return Job(CaptionRequest(IMAGE, name), user_id=user, chat_id=user)


def make_queue(backend, **overrides) -> GpuQueue:
    options = dict(max_pending=3, max_per_user=2, job_timeout_s=10.0, max_batch_size=8, background_window_s=0.05)
    options.update(overrides)
    return GpuQueue(backend, **options)


async def test_indexing_never_counts_against_a_users_caps_and_has_its_own():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend, max_background=20)
    await queue.start()
    # A user with many photos being indexed can still ask for two captions (their cap)...
    indexing = [queue.submit(index_job(1, f"p{i}")) for i in range(20)]
    captions = [queue.submit(caption_job(1, "c0")), queue.submit(caption_job(1, "c1"))]
    with pytest.raises(TooManyPending):
        queue.submit(caption_job(1, "c2"))
    # ...and the global cap counts only interactive jobs.
    queue.submit(caption_job(2, "d0"))
    with pytest.raises(Busy):
        queue.submit(caption_job(3, "e0"))
    with pytest.raises(Busy):  # the background lane's own cap
        queue.submit(index_job(1, "p20"))
    assert queue.stats().background >= 12
    assert all(t.position is None or t.position == 0 for t in indexing)  # no place in anyone's line
    assert [t.position for t in captions] == [1, 3]
    backend.gate.set()
    await asyncio.gather(*(t.result() for t in indexing + captions))
    await queue.close()


async def test_a_users_request_waits_behind_at_most_the_running_indexing_batch():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend)
    await queue.start()
    photos = [queue.submit(index_job(1, f"p{i}")) for i in range(24)]
    await asyncio.sleep(0.01)  # the first full batch of 8 starts
    assert backend.batches == [[f"p{i}" for i in range(8)]]
    caption = queue.submit(caption_job(2, "asked"))
    assert caption.position == 1
    backend.gate.set()
    await caption.result()
    await asyncio.gather(*(t.result() for t in photos))
    assert backend.batches[1] == ["asked"]  # right after the running batch, before 16 more photos
    assert backend.batches[2:] == [[f"p{i}" for i in range(8, 16)], [f"p{i}" for i in range(16, 24)]]
    await queue.close()


async def test_photos_arriving_together_share_forward_passes():
    backend = FakeBackend()
    queue = make_queue(backend, background_window_s=1.0)
    await queue.start()
    tickets = []
    for i in range(16):  # an album arriving photo by photo, as downloads finish
        tickets.append(queue.submit(index_job(1, f"p{i}", chat=i % 3)))
        await asyncio.sleep(0.005)
    await asyncio.gather(*(t.result() for t in tickets))
    assert [len(b) for b in backend.batches] == [8, 8]
    await queue.close()


async def test_a_lone_photo_is_indexed_after_the_window_not_never():
    backend = FakeBackend()
    queue = make_queue(backend, background_window_s=0.1)
    await queue.start()
    started = time.monotonic()
    await queue.submit(index_job(1, "alone")).result()
    assert 0.05 <= time.monotonic() - started < 2
    assert backend.batches == [["alone"]]
    await queue.close()


async def test_indexing_and_user_requests_never_share_a_batch():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend, max_pending=10, max_per_user=5)
    await queue.start()
    first = queue.submit(caption_job(9, "first"))
    await settle()
    photos = [queue.submit(index_job(1, f"p{i}")) for i in range(3)]
    queries = [queue.submit(Job(EmbedImageRequest(_tagged(f"q{i}")), user_id=2 + i, chat_id=2)) for i in range(2)]
    backend.gate.set()
    await asyncio.gather(first.result(), *(t.result() for t in photos + queries))
    assert backend.batches == [["first"], ["q0", "q1"], ["p0", "p1", "p2"]]
    await queue.close()


async def test_starved_indexing_takes_turns_with_a_busy_line():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend, max_pending=50, max_per_user=20, max_batch_size=1, background_max_wait_s=0.0)
    await queue.start()
    first = queue.submit(caption_job(9, "first"))
    await settle()
    captions = [queue.submit(caption_job(1, f"c{i}")) for i in range(4)]
    photos = [queue.submit(index_job(1, f"p{i}")) for i in range(4)]
    backend.gate.set()
    await asyncio.gather(first.result(), *(t.result() for t in captions + photos))
    order = [b[0] for b in backend.batches[1:]]
    assert order == ["p0", "c0", "p1", "c1", "p2", "c2", "p3", "c3"]
    await queue.close()


async def test_cancel_never_touches_indexing():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend, background_window_s=0.0)
    await queue.start()
    running = queue.submit(index_job(1, "p0"))
    await asyncio.sleep(0.01)
    waiting = queue.submit(index_job(1, "p1"))
    assert queue.cancel(1) is None and queue.cancel(1, chat_id=1) is None
    assert not backend.interrupts[0].is_set()
    backend.gate.set()
    await asyncio.gather(running.result(), waiting.result())
    await queue.close()


def _tagged(name: str) -> Image.Image:
    image = IMAGE.copy()
    image.info["tag"] = name
    return image
