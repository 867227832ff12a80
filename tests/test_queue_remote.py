"""GpuQueue with remote tasks (VLM_URL): their jobs run beside the device's, many at once, in fair order."""

from __future__ import annotations

import asyncio

from PIL import Image

from bot.queue.gpu_queue import GpuQueue
from bot.queue.jobs import Job
from contract.requests import Answer, AskRequest, Caption, CaptionRequest, Task
from tests.support.fake_backend import settle

IMAGE = Image.new("RGB", (4, 4))


class SplitBackend:
    """Captions run on the "device", asks on the "server"; each kind is held until its gate opens."""

    def __init__(self) -> None:
        self.device_gate, self.remote_gate = asyncio.Event(), asyncio.Event()
        self.started: list[str] = []
        self.running = {"device": 0, "remote": 0}
        self.most = {"device": 0, "remote": 0}

    async def run(self, task, requests, interrupt, on_partial=None):
        where = "remote" if task is Task.ASK else "device"
        self.started += [r.question if task is Task.ASK else r.prefix for r in requests]
        self.running[where] += 1
        self.most[where] = max(self.most[where], self.running[where])
        try:
            await (self.remote_gate if where == "remote" else self.device_gate).wait()
        finally:
            self.running[where] -= 1
        return [Answer(r.question, 0) if task is Task.ASK else Caption(r.prefix) for r in requests]


def ask(user: int, question: str) -> Job:
    return Job(AskRequest(IMAGE, question), user_id=user, chat_id=user)


def caption(user: int, prefix: str) -> Job:
    return Job(CaptionRequest(IMAGE, prefix), user_id=user, chat_id=user)


def make_queue(backend, remote_concurrency: int) -> GpuQueue:
    def worker_for(task: Task) -> str:
        return "remote" if task in (Task.ASK, Task.BOX) else "device"

    return GpuQueue(
        backend,
        max_pending=100,
        max_per_user=5,
        job_timeout_s=10.0,
        concurrency=1,
        worker_for=worker_for,
        capacity={"remote": remote_concurrency},
    )


async def test_remote_jobs_run_many_at_once_beside_a_busy_device():
    backend = SplitBackend()
    queue = make_queue(backend, remote_concurrency=4)
    await queue.start()
    c0 = queue.submit(caption(1, "C0"))
    await settle()  # the device is busy with C0 from here on
    asks = [queue.submit(ask(user, f"Q{user}")) for user in range(2, 7)]
    c1 = queue.submit(caption(2, "C1"))
    await settle()
    assert backend.most == {"device": 1, "remote": 4}  # four asks stream at once; the device runs one job
    assert [t.position for t in asks] == [0, 0, 0, 0, 1]  # the fifth waits for a remote slot, not the device
    assert c1.position == 1 and queue.saturated_for(Task.CAPTION) and queue.saturated_for(Task.ASK)
    backend.remote_gate.set()
    assert [(await t.result()).text for t in asks] == [f"Q{u}" for u in range(2, 7)]
    assert not c0.done() and c1.position == 1  # the asks finished while the device was still busy
    backend.device_gate.set()
    assert (await c1.result()).text == "C1"
    await queue.close()


async def test_without_remote_tasks_an_ask_waits_for_the_device():
    backend = SplitBackend()
    queue = GpuQueue(backend, max_pending=100, max_per_user=5, job_timeout_s=10.0, concurrency=1)
    await queue.start()
    queue.submit(caption(1, "C0"))
    await settle()
    waiting = queue.submit(ask(2, "Q2"))
    await settle()
    assert waiting.position == 1 and backend.most["remote"] == 0
    backend.device_gate.set()
    backend.remote_gate.set()
    await waiting.result()
    await queue.close()


async def test_remote_jobs_keep_the_fair_order_and_the_per_user_cap():
    backend = SplitBackend()
    queue = make_queue(backend, remote_concurrency=1)
    await queue.start()
    first = queue.submit(ask(1, "A0"))
    await settle()
    tickets = [queue.submit(ask(1, f"A{i}")) for i in range(1, 4)] + [queue.submit(ask(2, "B0"))]
    await settle()
    assert first.position == 0 and tickets[-1].position == 1  # B was never served: it goes first
    backend.remote_gate.set()
    await asyncio.gather(first.result(), *(t.result() for t in tickets))
    assert backend.started == ["A0", "B0", "A1", "A2", "A3"]
    await queue.close()
