"""GpuQueue with a fake backend: fairness, positions, caps, cancel, timeout, error isolation, batching."""

from __future__ import annotations

import asyncio
import time

import pytest
from PIL import Image

from bot.errors import Busy, JobCancelled, JobTimedOut, ModelFailed, ModelUnavailable, TooManyPending
from bot.queue.gpu_queue import GpuQueue
from bot.queue.jobs import Job
from contract.requests import Caption, CaptionRequest, Task
from tests.support.fake_backend import FakeBackend, settle

IMAGE = Image.new("RGB", (4, 4))


def job(user: int, tag: str, chat: int | None = None, seq: int | None = None) -> Job:
    more = {} if seq is None else {"seq": seq}  # seq: the update_id of the request (arrival order by default)
    return Job(CaptionRequest(IMAGE, tag), user_id=user, chat_id=chat if chat is not None else user, **more)


def make_queue(backend: FakeBackend, **overrides) -> GpuQueue:
    options = dict(max_pending=100, max_per_user=5, job_timeout_s=10.0, max_batch_size=1)
    options.update(overrides)
    return GpuQueue(backend, **options)


async def test_round_robin_by_user_not_arrival_order():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend)
    await queue.start()
    tickets = [queue.submit(job(1, "A0"))]
    await settle()  # A0 starts; everything else arrives while it runs
    for user, name in ((1, "A"), (2, "B"), (3, "C"), (4, "D")):
        for i in range(1 if user == 1 else 0, 5):
            tickets.append(queue.submit(job(user, f"{name}{i}")))
    backend.gate.set()
    await asyncio.gather(*(t.result() for t in tickets))
    order = [b[0] for b in backend.batches]
    assert order == [
        "A0",
        "B0",
        "C0",
        "D0",
        "A1",
        "B1",
        "C1",
        "D1",
        "A2",
        "B2",
        "C2",
        "D2",
        "A3",
        "B3",
        "C3",
        "D3",
        "A4",
        "B4",
        "C4",
        "D4",
    ]
    await queue.close()


async def test_positions_follow_the_fair_order_and_shrink():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend)
    await queue.start()
    running = queue.submit(job(1, "A0"))
    await settle()
    assert running.position == 0
    assert queue.saturated_for(Task.CAPTION)
    a1 = queue.submit(job(1, "A1"))
    a2 = queue.submit(job(1, "A2"))
    b0 = queue.submit(job(2, "B0"))
    # B was never served, so B0 goes ahead of A's second and third jobs.
    assert (b0.position, a1.position, a2.position) == (1, 2, 3)
    c0 = queue.submit(job(3, "C0"))
    assert (b0.position, c0.position, a1.position, a2.position) == (1, 2, 3, 4)
    backend.gate.set()
    await running.result()
    await b0.result()
    assert a2.done() or a2.position in (0, 1, 2)
    await asyncio.gather(a1.result(), a2.result(), c0.result())
    assert a2.position is None
    await queue.close()


async def test_per_user_and_global_caps():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend, max_per_user=2, max_pending=3)
    await queue.start()
    queue.submit(job(1, "A0"))
    await settle()
    queue.submit(job(1, "A1"))
    with pytest.raises(TooManyPending) as too_many:
        queue.submit(job(1, "A2"))
    assert "2 requests" in too_many.value.user_message.en
    queue.submit(job(2, "B0"))
    queue.submit(job(3, "C0"))  # three waiting (the running A0 doesn't count)
    with pytest.raises(Busy) as busy:
        queue.submit(job(4, "D0"))
    assert "try again" in busy.value.user_message.en
    backend.gate.set()
    await queue.close()


async def test_cancel_waiting_job_removes_only_the_newest_of_that_user_in_that_chat():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend)
    await queue.start()
    first = queue.submit(job(1, "A0"))
    await settle()
    a1 = queue.submit(job(1, "A1", chat=10))
    a2 = queue.submit(job(1, "A2", chat=10))
    a3 = queue.submit(job(1, "A3", chat=11))
    b0 = queue.submit(job(2, "B0"))
    assert queue.cancel(1, chat_id=10).request.prefix == "A2"
    with pytest.raises(JobCancelled):
        await a2.result()
    assert queue.cancel(3) is None
    backend.gate.set()
    results = await asyncio.gather(first.result(), a1.result(), a3.result(), b0.result())
    assert [r.text for r in results] == ["caption of A0", "caption of A1", "caption of A3", "caption of B0"]
    assert "A2" not in [b[0] for b in backend.batches]
    await queue.close()


async def test_cancel_running_job_interrupts_it():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend)
    await queue.start()
    running = queue.submit(job(1, "A0"))
    await settle()
    assert queue.cancel(1).request.prefix == "A0"
    with pytest.raises(JobCancelled):
        await running.result()
    assert backend.interrupts[0].is_set()
    backend.gate.set()
    await queue.close()


async def test_timeout_fails_the_job_stops_it_and_the_worker_goes_on():
    class SlowBackend(FakeBackend):
        async def run(self, task, requests, interrupt):
            if requests[0].prefix == "slow":
                while not interrupt.is_set():  # a well-behaved adapter polls its interrupt
                    await asyncio.sleep(0.01)
                return [Caption("late")]
            return await super().run(task, requests, interrupt)

    backend = SlowBackend()
    queue = make_queue(backend, job_timeout_s=0.2)
    await queue.start()
    slow = queue.submit(job(1, "slow"))
    fast = queue.submit(job(2, "fast"))
    started = time.monotonic()
    with pytest.raises(JobTimedOut):
        await slow.result()
    assert time.monotonic() - started < 2
    assert (await fast.result()).text == "caption of fast"
    assert queue.stats().failed == 1
    await queue.close()


async def test_a_failing_job_fails_alone_even_inside_a_batch():
    backend = FakeBackend()
    backend.gate.clear()
    backend.fail_on = {"bad"}
    queue = make_queue(backend, max_batch_size=8)
    await queue.start()
    first = queue.submit(job(9, "first"))
    await settle()
    good1 = queue.submit(job(1, "good1"))
    bad = queue.submit(job(2, "bad"))
    good2 = queue.submit(job(3, "good2"))
    backend.gate.set()
    assert (await first.result()).text == "caption of first"
    assert (await good1.result()).text == "caption of good1"
    with pytest.raises(ModelFailed) as failed:
        await bad.result()
    assert "CUDA" not in failed.value.user_message.en  # users never see exception text
    assert (await good2.result()).text == "caption of good2"
    # one batch of three, then each retried alone
    assert backend.batches[1:] == [["good1", "bad", "good2"], ["good1"], ["bad"], ["good2"]]
    # the worker keeps serving
    assert (await queue.submit(job(4, "after")).result()).text == "caption of after"
    await queue.close()


async def test_model_unavailable_reaches_each_job_with_its_own_message():
    backend = FakeBackend()
    backend.unavailable = True
    queue = make_queue(backend)
    await queue.start()
    with pytest.raises(ModelUnavailable) as unavailable:
        await queue.submit(job(1, "x")).result()
    assert "isn't available" in unavailable.value.user_message.en
    await queue.close()


async def test_waiting_jobs_are_batched_in_fair_order_up_to_the_limit():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend, max_batch_size=3)
    await queue.start()
    tickets = [queue.submit(job(1, "A0"))]
    await settle()
    tickets += [queue.submit(job(1, f"A{i}")) for i in (1, 2)]
    tickets += [queue.submit(job(2, f"B{i}")) for i in (0, 1)]
    backend.gate.set()
    await asyncio.gather(*(t.result() for t in tickets))
    assert backend.batches == [["A0"], ["B0", "A1", "B1"], ["A2"]]
    await queue.close()


async def test_a_users_jobs_run_in_the_order_sent_not_the_order_submitted():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend)
    await queue.start()
    first = queue.submit(job(1, "m1", seq=101))
    await settle()
    # m3's download finished before m2's: it is submitted first, but m2 was sent first.
    m3 = queue.submit(job(1, "m3", seq=103))
    m2 = queue.submit(job(1, "m2", seq=102))
    assert (m2.position, m3.position) == (1, 2)
    assert queue.cancel(1).request.prefix == "m3"  # /cancel withdraws the newest sent
    backend.gate.set()
    await asyncio.gather(first.result(), m2.result())
    assert backend.batches == [["m1"], ["m2"]]
    await queue.close()


async def test_lone_job_starts_at_once():
    backend = FakeBackend()
    queue = make_queue(backend, max_batch_size=8)
    await queue.start()
    started = time.monotonic()
    assert (await queue.submit(job(1, "solo")).result()).text == "caption of solo"
    assert time.monotonic() - started < 0.5
    await queue.close()


async def test_close_ends_waiting_and_running_jobs_with_shutting_down_and_interrupts():
    from bot.errors import ShuttingDown

    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend)
    await queue.start()
    running = queue.submit(job(1, "A0"))
    await settle()
    waiting = queue.submit(job(2, "B0"))
    await queue.close()
    for ticket in (running, waiting):
        with pytest.raises(ShuttingDown):
            await ticket.result()
    assert backend.interrupts[0].is_set()
    backend.gate.set()


async def test_per_task_batch_size_overrides_the_default():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend, max_batch_size=8, batch_sizes={"caption": 2})
    await queue.start()
    tickets = [queue.submit(job(1, "A0"))]
    await settle()
    tickets += [queue.submit(job(u, f"U{u}")) for u in range(2, 7)]
    backend.gate.set()
    await asyncio.gather(*(t.result() for t in tickets))
    assert [len(b) for b in backend.batches] == [1, 2, 2, 1]
    await queue.close()


async def test_batch_window_gathers_near_simultaneous_jobs_and_bounds_a_lone_jobs_wait():
    backend = FakeBackend()
    queue = make_queue(backend, max_batch_size=8, batch_window_s=0.05)
    await queue.start()
    first = queue.submit(job(1, "A"))
    await asyncio.sleep(0.01)  # arrives inside the window
    second = queue.submit(job(2, "B"))
    await asyncio.gather(first.result(), second.result())
    assert backend.batches == [["A", "B"]]
    started = time.monotonic()
    await queue.submit(job(3, "C")).result()
    assert time.monotonic() - started < 0.5
    await queue.close()


async def test_cancel_matching_reaches_any_waiting_or_running_job():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend)
    await queue.start()
    running = queue.submit(Job(CaptionRequest(IMAGE, "r"), user_id=1, chat_id=5, message_id=10))
    await settle()
    waiting = queue.submit(Job(CaptionRequest(IMAGE, "w"), user_id=2, chat_id=5, message_id=11))
    assert queue.cancel_matching(lambda j: j.message_id == 11) is waiting.job
    assert queue.cancel_matching(lambda j: j.message_id == 10) is running.job
    assert queue.cancel_matching(lambda j: True) is None
    for ticket in (running, waiting):
        with pytest.raises(JobCancelled):
            await ticket.result()
    backend.gate.set()
    await queue.close()


async def test_a_users_later_job_waits_for_an_earlier_request_still_being_prepared():
    backend = FakeBackend()
    queue = make_queue(backend)
    await queue.start()
    queue.announce(1, seq=10)  # user 1's first photo is still downloading
    later = queue.submit(job(1, "A-second", seq=11))
    other = queue.submit(job(2, "B", seq=12))
    await other.result()
    await settle()
    assert not later.done() and later.position == 1  # it keeps its place, shown to the user
    first = queue.submit(job(1, "A-first", seq=10))
    await asyncio.gather(first.result(), later.result())
    assert [b[0] for b in backend.batches] == ["B", "A-first", "A-second"]
    await queue.close()


async def test_a_withdrawn_or_stale_announcement_stops_holding(monkeypatch):
    import bot.queue.gpu_queue

    backend = FakeBackend()
    queue = make_queue(backend)
    await queue.start()
    queue.announce(1, seq=10)
    held = queue.submit(job(1, "A", seq=11))
    await settle()
    assert not held.done()
    queue.withdraw(1, seq=10)  # the earlier request was answered without a job (e.g. bad input)
    assert (await held.result()).text == "caption of A"

    monkeypatch.setattr(bot.queue.gpu_queue, "ANNOUNCED_HOLD_S", 0.2)
    queue.announce(1, seq=20)  # a request that never submits nor withdraws: its hold runs out
    started = time.monotonic()
    stuck = queue.submit(job(1, "A2", seq=21))
    await stuck.result()
    assert 0.15 < time.monotonic() - started < 2.0
    await queue.close()


async def test_wait_admission_lets_a_users_requests_count_in_the_order_they_were_sent():
    queue = make_queue(FakeBackend())
    queue.announce(1, seq=10)
    queue.announce(1, seq=11)
    queue.announce(2, seq=5)  # another user's earlier request holds nobody of user 1
    later = asyncio.create_task(queue.wait_admission(1, 11))
    await queue.wait_admission(1, 10)  # nothing of user 1 was sent before it
    await settle()
    assert not later.done()
    queue.withdraw(1, seq=10)
    await asyncio.wait_for(later, 1.0)


async def test_admitted_requests_count_against_the_caps_before_their_jobs_are_submitted():
    backend = FakeBackend()
    backend.gate.clear()
    queue = make_queue(backend, max_per_user=2, max_pending=3)
    await queue.start()
    for seq in (10, 11, 12):
        queue.announce(1, seq)
    queue.reserve(1, 10)  # photos still downloading: no job yet
    queue.reserve(1, 11)
    with pytest.raises(TooManyPending):
        queue.reserve(1, 12)  # refused before anything of it is downloaded
    queue.withdraw(1, 12)
    queue.submit(job(1, "A0", seq=10))  # into its kept place: no cap refuses it
    queue.release(1, 11)  # its photo was bad: the place is free again
    queue.announce(1, 13)
    queue.reserve(1, 13)
    queue.announce(2, 20)
    queue.reserve(2, 20)
    with pytest.raises(Busy):  # A0, 1's admitted 13 and 2's admitted 20 fill the queue
        queue.reserve(3, 30)
    backend.gate.set()
    await queue.close()


async def test_wait_admission_waits_for_earlier_requests_to_be_admitted_not_submitted():
    queue = make_queue(FakeBackend())
    for seq in range(10, 15):
        queue.announce(1, seq)
    later = [asyncio.create_task(queue.wait_admission(1, seq)) for seq in range(11, 15)]
    await settle()
    assert not any(task.done() for task in later)
    queue.reserve(1, 10)  # admitted: its photo may download for long, the next one's quota counts now
    await asyncio.wait_for(later[0], 1.0)
    await settle()
    assert not any(task.done() for task in later[1:])
    queue.withdraw(1, 11)  # refused or failed before admission
    queue.reserve(1, 12)
    queue.release(1, 12)  # admitted, then its photo was bad: it held up nobody meanwhile and doesn't now
    await asyncio.wait_for(later[1], 1.0)
    await asyncio.wait_for(later[2], 1.0)
    assert not later[3].done()
    queue.reserve(1, 13)
    await asyncio.wait_for(later[3], 1.0)
    await queue.close()
