"""GpuQueue with lanes (workers): the VLM's jobs run next to the others, fair order and caps still hold,
and a cancelled job in a running batch stops only its own request."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from bot.errors import JobCancelled, TooManyPending
from bot.queue.gpu_queue import GpuQueue
from bot.queue.jobs import Job
from contract.requests import Answer, AskRequest, Caption, CaptionRequest, Task
from contract.worker import Interrupt
from tests.support.fake_backend import settle

pytestmark = pytest.mark.timeout(30)


def image(tag: str) -> Image.Image:
    picture = Image.new("RGB", (4, 4))
    picture.info["tag"] = tag
    return picture


def ask(user: int, tag: str) -> Job:
    return Job(AskRequest(image(tag), "what?"), user_id=user, chat_id=user)


def caption(user: int, tag: str) -> Job:
    return Job(CaptionRequest(image(tag), tag), user_id=user, chat_id=user)


class LanedBackend:
    """/ask and /box on a "vlm" worker, the rest on "models"; each task's batches wait for its gate."""

    concurrency = 1

    def __init__(self) -> None:
        self.gates = {Task.ASK: asyncio.Event(), Task.CAPTION: asyncio.Event()}
        for gate in self.gates.values():
            gate.set()
        self.batches: list[list[str]] = []
        self.interrupts: list[Interrupt] = []

    def worker_for(self, task: Task) -> str:
        return "vlm" if task in (Task.ASK, Task.BOX) else "models"

    async def run(self, task, requests, interrupt, on_partial=None):
        self.batches.append([r.image.info["tag"] for r in requests])
        self.interrupts.append(interrupt)
        await self.gates[task].wait()
        if task is Task.ASK:
            return [Answer(f"answer {r.image.info['tag']}", history_used=0) for r in requests]
        return [Caption(f"caption {r.image.info['tag']}") for r in requests]


def make_queue(backend: LanedBackend, **overrides) -> GpuQueue:
    options = {
        "max_pending": 100,
        "max_per_user": 5,
        "job_timeout_s": 10.0,
        "max_batch_size": 1,
        "concurrency": backend.concurrency,
        "worker_for": backend.worker_for,
    }
    options.update(overrides)
    return GpuQueue(backend, **options)


async def test_a_caption_is_answered_while_another_users_ask_runs():
    backend = LanedBackend()
    backend.gates[Task.ASK].clear()  # a long answer
    queue = make_queue(backend)
    await queue.start()
    long_ask = queue.submit(ask(1, "A-ask"))
    await settle()
    quick = queue.submit(caption(2, "B-cap"))
    assert quick.position == 1 and not queue.saturated_for(Task.CAPTION) and queue.saturated_for(Task.ASK)
    assert (await asyncio.wait_for(quick.result(), 5)).text == "caption B-cap"
    assert not long_ask.done()
    backend.gates[Task.ASK].set()
    assert (await long_ask.result()).text == "answer A-ask"
    await queue.close()


async def test_without_lanes_the_caption_waits_for_the_ask():
    backend = LanedBackend()
    backend.gates[Task.ASK].clear()
    queue = make_queue(backend, worker_for=None)
    await queue.start()
    long_ask = queue.submit(ask(1, "A-ask"))
    await settle()
    quick = queue.submit(caption(2, "B-cap"))
    await asyncio.sleep(0.2)
    assert quick.position == 1 and not quick.done()
    backend.gates[Task.ASK].set()
    await asyncio.gather(long_ask.result(), quick.result())
    assert backend.batches == [["A-ask"], ["B-cap"]]
    await queue.close()


async def test_positions_count_the_jobs_ahead_on_the_same_lane():
    backend = LanedBackend()
    backend.gates[Task.ASK].clear()
    backend.gates[Task.CAPTION].clear()
    queue = make_queue(backend)
    await queue.start()
    running = [queue.submit(ask(1, "A-ask")), queue.submit(caption(2, "B-cap"))]
    await settle()
    asks = [queue.submit(ask(user, f"ask{user}")) for user in (3, 4)]
    captions = [queue.submit(caption(user, f"cap{user}")) for user in (5, 6)]
    assert [t.position for t in running] == [0, 0]
    assert [t.position for t in asks] == [1, 2] and [t.position for t in captions] == [1, 2]
    backend.gates[Task.ASK].set()
    backend.gates[Task.CAPTION].set()
    await asyncio.gather(*(t.result() for t in running + asks + captions))
    await queue.close()


async def test_a_users_jobs_start_in_the_order_sent_across_lanes():
    backend = LanedBackend()
    backend.gates[Task.ASK].clear()
    queue = make_queue(backend)
    await queue.start()
    first = queue.submit(ask(1, "A-ask1"))
    await settle()
    second = queue.submit(ask(2, "B-ask"))  # waits for the VLM's lane
    later = queue.submit(caption(2, "B-cap"))  # B's next job: it must not start before B's /ask
    other = queue.submit(caption(3, "C-cap"))
    assert (await asyncio.wait_for(other.result(), 5)).text == "caption C-cap"
    await asyncio.sleep(0.1)
    assert not later.done() and ["B-cap"] not in backend.batches
    backend.gates[Task.ASK].set()
    await asyncio.gather(first.result(), second.result(), later.result())
    assert backend.batches.index(["B-ask"]) < backend.batches.index(["B-cap"])
    await queue.close()


async def test_caps_count_jobs_on_every_lane():
    backend = LanedBackend()
    backend.gates[Task.ASK].clear()
    backend.gates[Task.CAPTION].clear()
    queue = make_queue(backend, max_per_user=3)
    await queue.start()
    tickets = [queue.submit(ask(1, "a1")), queue.submit(caption(1, "c1")), queue.submit(ask(1, "a2"))]
    with pytest.raises(TooManyPending):
        queue.submit(caption(1, "c2"))
    backend.gates[Task.ASK].set()
    backend.gates[Task.CAPTION].set()
    await asyncio.gather(*(t.result() for t in tickets))
    await queue.close()


async def test_same_model_asks_batch_and_a_cancel_drops_only_its_own_request():
    backend = LanedBackend()
    backend.gates[Task.ASK].clear()
    queue = make_queue(backend, max_batch_size=8)
    await queue.start()
    blocker = queue.submit(ask(9, "first"))
    await settle()
    tickets = [queue.submit(ask(user, f"ask{user}")) for user in (1, 2, 3, 4)]
    backend.gates[Task.ASK].set()
    await blocker.result()
    backend.gates[Task.ASK].clear()
    await settle()
    assert backend.batches[-1] == ["ask1", "ask2", "ask3", "ask4"]  # four /ask jobs decode together
    interrupt = backend.interrupts[-1]
    assert queue.cancel(3) is tickets[2].job
    with pytest.raises(JobCancelled):
        await tickets[2].result()
    assert interrupt.is_set(2) and not interrupt.is_set() and not interrupt.is_set(0)
    backend.gates[Task.ASK].set()
    answers = await asyncio.gather(*(t.result() for t in tickets if t is not tickets[2]))
    assert [a.text for a in answers] == ["answer ask1", "answer ask2", "answer ask4"]
    await queue.close()


async def test_a_batch_mate_does_not_overtake_an_earlier_job_of_its_user():
    backend = LanedBackend()
    backend.gates[Task.ASK].clear()
    backend.gates[Task.CAPTION].clear()
    queue = make_queue(backend, max_batch_size=8)
    await queue.start()
    running = [queue.submit(ask(9, "busy-vlm")), queue.submit(caption(8, "busy-models"))]
    await settle()
    a_ask = queue.submit(ask(1, "A-ask"))
    a_cap = queue.submit(caption(1, "A-cap"))  # may not start before A's /ask
    b_cap = queue.submit(caption(2, "B-cap"))
    backend.gates[Task.CAPTION].set()
    await b_cap.result()
    assert ["B-cap"] in backend.batches and not a_cap.done()
    backend.gates[Task.ASK].set()
    await asyncio.gather(*(t.result() for t in [*running, a_ask, a_cap]))
    assert backend.batches.index(["A-ask"]) < backend.batches.index(["A-cap"])
    await queue.close()
