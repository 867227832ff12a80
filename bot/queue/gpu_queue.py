"""GpuQueue: the fair, capped job queue in front of the backend that owns the device."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import texts
from bot.errors import (
    BotError,
    Busy,
    JobCancelled,
    JobTimedOut,
    ModelFailed,
    ShuttingDown,
    TooManyPending,
    from_worker,
)
from bot.queue.jobs import Lane
from contract.errors import WorkerError
from contract.requests import Task
from contract.worker import Interrupt

if TYPE_CHECKING:
    from bot.queue.backend import Backend
    from bot.queue.jobs import Job
    from contract.requests import Result

log = logging.getLogger(__name__)

# Background (indexing) jobs: how long a part-full batch waits for more photos before it runs anyway, and
# how long the oldest may wait behind interactive jobs before one batch of them goes first.
BACKGROUND_BATCH_WINDOW_S = 0.25
BACKGROUND_MAX_WAIT_S = 30.0
# A user's job waits while an earlier request of theirs is still being prepared (announced, not yet
# submitted: its photo still downloading), but never longer than this.
ANNOUNCED_HOLD_S = 30.0


class Ticket:
    """A submitted job as its handler sees it: a live queue position and, in the end, a result."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.position: int | None = None  # 1.. while waiting (1 = next), 0 while running, None when done
        self.partial: str | None = None  # the answer so far, for streamed requests while they run
        self._future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Event()
        self._interrupt: Interrupt | None = None
        self._index = 0  # its request's place in the running batch, for Interrupt.drop

    def done(self) -> bool:
        return self._future.done()

    async def wait_changed(self, timeout: float | None = None) -> None:
        """Return when the position changed or the job ended (or after `timeout` seconds)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
        self._changed.clear()

    async def result(self) -> Result:
        """The job's result; raises the job's BotError (cancelled, timed out, model failed...)."""
        return await asyncio.shield(self._future)

    def _move(self, position: int | None) -> None:
        if position != self.position:
            self.position = position
            self._changed.set()

    def _show_partial(self, text: str) -> None:
        if not self.done() and text != self.partial:
            self.partial = text
            self._changed.set()

    def _finish(self, result: Result | None = None, error: BaseException | None = None) -> bool:
        if self._future.done():
            return False
        if error is not None:
            self._future.set_exception(error)
            self._future.exception()  # a cancelled waiter must not leave "exception never retrieved" noise
        else:
            assert result is not None, "a ticket finishes with a result or an error"
            self._future.set_result(result)
        self._move(None)
        return True


@dataclass(frozen=True)
class QueueStats:
    waiting: dict[str, int]
    running: int
    served: int  # users' jobs answered
    failed: int  # users' jobs that ended in an error
    background: int = 0  # indexing jobs waiting
    indexed: int = 0  # indexing jobs done
    index_failed: int = 0  # indexing jobs that failed


class GpuQueue:
    """Orders jobs fairly across users and feeds them to the backend in batches.

    Fairness: the next job comes from the user who was served least recently (users never served
    first, in order of arrival), so 4 users with 5 jobs each are served A B C D A B C D ...
    rather than in arrival order. Jobs of one user keep the order they were sent in (`Job.seq`), even
    when an earlier one is submitted later (its photo took longer to download): a request `announce()`d
    when it arrives holds back the same user's later jobs until it is submitted or withdrawn.
    Admission: a request `reserve()`s its place before its work is prepared (its photo downloaded), and
    counts against the caps from then on, so a flood is refused before it costs a download.
    Batching: jobs waiting behind the chosen one with the same batch key join it, in fair order,
    up to the task's batch size. A lone job arriving at an idle worker waits `batch_window_s`
    (a few ms) for batch mates; jobs arriving while the worker is busy simply gather.

    Workers: the backend may run tasks on several workers (`worker_for`, e.g. the VLM's lane next to
    the lane of every other model, or a serving engine for /ask and /box with VLM_URL); each runs up to
    `concurrency` batches at once (or its own number in `capacity`: many streams to a server), so a long /ask
    holds up only other /ask and /box jobs. The next batch is led by the first job in fair order whose
    worker is free; a user's jobs still start in the order they were sent (only a user's earliest
    waiting job may lead), and queue positions count the jobs ahead on the same worker.

    Background lane (photo indexing, `Lane.BACKGROUND`): its jobs wait in their own first-in-first-out
    line with their own cap (`max_background`), never count against a user's caps or positions, and run
    only when no interactive job is waiting, so a user's request waits behind at most the one indexing
    batch already running. A part-full indexing batch waits up to `background_window_s` for more photos
    (one forward pass for an album instead of one per photo), and once the oldest indexing job has waited
    `background_max_wait_s`, one indexing batch goes ahead of the interactive line, so a busy bot still
    indexes. Interactive and background jobs never share a batch: on a CPU a batch takes as long as its
    size, and a user's request must not carry seven photos' worth of indexing.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        max_pending: int,
        max_per_user: int,
        job_timeout_s: float,
        max_batch_size: int = 1,
        batch_sizes: Mapping[str, int] | None = None,
        batch_window_s: float = 0.0,
        concurrency: int = 1,
        worker_for: Callable[[Task], str] | None = None,
        capacity: Mapping[str, int] | None = None,
        max_background: int = 1000,
        background_window_s: float = BACKGROUND_BATCH_WINDOW_S,
        background_max_wait_s: float = BACKGROUND_MAX_WAIT_S,
    ) -> None:
        self._backend = backend
        self._max_pending = max_pending
        self._max_per_user = max_per_user
        self._timeout = job_timeout_s
        self._max_batch = max(1, max_batch_size)
        self._batch_sizes = {str(task): max(1, size) for task, size in (batch_sizes or {}).items()}
        self._batch_window = batch_window_s
        self._concurrency = max(1, concurrency)
        self._worker_for = worker_for or (lambda task: "device")
        self._capacity = {worker: max(1, slots) for worker, slots in (capacity or {}).items()}
        self._busy = Counter[str]()  # batches in flight per worker
        self._waiting: dict[int, deque[Ticket]] = {}
        self._background: deque[Ticket] = deque()
        self._max_background = max_background
        self._background_window = background_window_s
        self._background_max_wait = background_max_wait_s
        self._last_lane = Lane.INTERACTIVE
        self._running: list[Ticket] = []
        self._last_served: dict[int, int] = {}
        self._service_clock = 0
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._counts = Counter[tuple[Lane, bool]]()  # (lane, succeeded) -> jobs
        self._announced: dict[int, dict[int, float]] = {}  # user -> {seq: when} of requests being prepared
        self._admitted: dict[int, asyncio.Event] = {}  # seq -> set once the announced request is admitted or withdrawn
        self._preparing: dict[int, tuple[int, int, asyncio.Event]] = {}  # seq -> (user, chat, set when done)
        # Requests admitted (`reserve`) but not submitted yet: their photo is downloading. They count
        # against the caps like queued jobs, so a flood is refused before anything is downloaded.
        self._reserved: dict[int, set[int]] = {}  # user -> seqs
        self._closed = False

    # -- public API ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch(), name="gpu-queue-dispatcher")

    async def close(self) -> None:
        """Stop taking jobs; every waiting and running job ends with ShuttingDown (the journal keeps them)."""
        self._closed = True
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        for ticket in list(self._iter_waiting()) + list(self._background) + self._running:
            ticket._finish(error=ShuttingDown(f"job {ticket.job.id} stopped by shutdown"))
            if ticket._interrupt is not None:
                ticket._interrupt.set()
        self._waiting.clear()
        self._background.clear()

    def announce(self, user_id: int, seq: int, chat_id: int | None = None) -> None:
        """A request of the user (ordered by `seq`) arrived and may submit a job soon: until it does, or
        is withdrawn, the user's jobs with a later seq wait for it (at most ANNOUNCED_HOLD_S), and so
        do their later requests in `chat_id` that call `wait_turn` (see there)."""
        self._announced.setdefault(user_id, {})[seq] = time.monotonic()
        self._admitted.setdefault(seq, asyncio.Event())
        if chat_id is not None:
            self._preparing.setdefault(seq, (user_id, chat_id, asyncio.Event()))

    async def wait_turn(self, user_id: int, seq: int, chat_id: int) -> None:
        """Wait until the user's earlier requests in the chat are done preparing (at most ANNOUNCED_HOLD_S).

        A request prepares by reading what earlier ones wrote (/ask: which photo the conversation is
        about), so "/ask what is this?" on a new photo and at once "/ask and the colour?" must prepare in
        the order they were sent, not in the order their downloads happen to finish.
        """
        deadline = time.monotonic() + ANNOUNCED_HOLD_S
        while True:
            earlier = [
                (s, done)
                for s, (user, chat, done) in self._preparing.items()
                if user == user_id and chat == chat_id and s < seq
            ]
            if not earlier:
                return
            # The latest earlier one: it prepares only after those before it, so a flood's requests each wait
            # on one event (waking all of them at each step costs the loop the square of the flood).
            _, done = max(earlier, key=lambda pair: pair[0])
            try:
                async with asyncio.timeout(deadline - time.monotonic()):
                    await done.wait()
            except TimeoutError:
                log.warning("request %s of user %s went ahead of an earlier one still preparing", seq, user_id)
                return

    def withdraw(self, user_id: int, seq: int) -> None:
        """The request is done preparing (submitted its job, answered without one, or failed)."""
        preparing = self._preparing.pop(seq, None)
        if preparing is not None:
            preparing[2].set()
        admitted = self._admitted.pop(seq, None)
        if admitted is not None:
            admitted.set()
        seqs = self._announced.get(user_id)
        if seqs is not None and seqs.pop(seq, None) is not None:
            if not seqs:
                del self._announced[user_id]
            self._wake.set()

    async def wait_admission(self, user_id: int, seq: int) -> None:
        """Wait until the user's announced requests before `seq` are admitted (`reserve`), submitted or
        withdrawn (or held for ANNOUNCED_HOLD_S): a request's quota and caps are counted after those of the
        requests sent before it, whichever photo downloads first."""
        while True:
            now = time.monotonic()
            earlier = [
                (s, at + ANNOUNCED_HOLD_S)
                for s, at in self._announced.get(user_id, {}).items()
                if s < seq and at + ANNOUNCED_HOLD_S > now and not self._is_admitted(s)
            ]
            if not earlier:
                return
            latest = max(s for s, _ in earlier)  # admitted only after those before it: one event to wait on
            event = self._admitted[latest]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(end for _, end in earlier) - now):
                    await event.wait()

    def _is_admitted(self, seq: int) -> bool:
        event = self._admitted.get(seq)
        return event is None or event.is_set()

    def reserve(self, user_id: int, seq: int) -> None:
        """Admit a request before its work is prepared (its photo downloaded): raises Busy or TooManyPending
        when a cap is reached, counting the jobs waiting and running and the requests already admitted.
        The job it then submits takes the place; `release` gives it back if none comes."""
        if self._closed:
            raise ShuttingDown(f"request {seq} not admitted: the queue is closed")
        self._check_caps(user_id, seq)
        self._reserved.setdefault(user_id, set()).add(seq)
        admitted = self._admitted.get(seq)
        if admitted is not None:
            admitted.set()

    def release(self, user_id: int, seq: int) -> None:
        """A request admitted by `reserve` ended without submitting its job (bad input, a failed download)."""
        seqs = self._reserved.get(user_id)
        if seqs is not None and seq in seqs:
            seqs.discard(seq)
            if not seqs:
                del self._reserved[user_id]

    def _check_caps(self, user_id: int, seq: int) -> None:
        reserved = self._reserved.get(user_id, set())
        pending = (
            sum(len(q) for q in self._waiting.values())
            + sum(len(seqs) for seqs in self._reserved.values())
            - (seq in reserved)
        )
        if pending >= self._max_pending:
            raise Busy(f"queue full ({pending} waiting)")
        mine = (
            len(self._waiting.get(user_id, ()))
            + sum(t.job.user_id == user_id and t.job.lane is Lane.INTERACTIVE for t in self._running)
            + len(reserved - {seq})
        )
        if mine >= self._max_per_user:
            raise TooManyPending(f"user {user_id} has {mine} pending", user_message=texts.too_many_pending(mine))

    def submit(self, job: Job) -> Ticket:
        """Queue `job`; raises Busy or TooManyPending when a cap is reached."""
        if self._closed:  # a request still preparing when the bot stopped: its journal entry replays it
            raise ShuttingDown(f"job {job.id} not queued: the queue is closed")
        if job.lane is Lane.BACKGROUND:
            return self._submit_background(job)
        if job.seq not in self._reserved.get(job.user_id, ()):  # else admitted before: its place is kept
            self._check_caps(job.user_id, job.seq)
        self.release(job.user_id, job.seq)
        self.withdraw(job.user_id, job.seq)
        ticket = Ticket(job)
        # A user's jobs run in the order they were sent (seq), not in the order their downloads finished.
        bisect.insort(self._waiting.setdefault(job.user_id, deque()), ticket, key=lambda t: t.job.seq)
        self._reposition()
        self._wake.set()
        log.info("job %s queued: %s for user %s (position %s)", job.id, job.task, job.user_id, ticket.position)
        return ticket

    def _submit_background(self, job: Job) -> Ticket:
        if len(self._background) >= self._max_background:
            raise Busy(f"background lane full ({len(self._background)} waiting)")
        ticket = Ticket(job)
        self._background.append(ticket)
        self._wake.set()
        log.debug("job %s queued in the background lane: %s for chat %s", job.id, job.task, job.chat_id)
        return ticket

    def cancel(self, user_id: int, chat_id: int | None = None) -> Job | None:
        """Cancel the user's newest waiting job (in `chat_id` if given), else their running one."""
        mine = [t.job for t in self._waiting.get(user_id, ()) if chat_id is None or t.job.chat_id == chat_id]
        if mine:
            newest = mine[-1]
            return self.cancel_matching(lambda job: job is newest)
        return self.cancel_matching(lambda job: job.user_id == user_id and (chat_id is None or job.chat_id == chat_id))

    def cancel_matching(self, predicate: Callable[[Job], bool]) -> Job | None:
        """Cancel the first waiting or running job that `predicate` accepts (an admin's /cancel on a reply)."""
        for user, queue in list(self._waiting.items()):
            for ticket in queue:
                if predicate(ticket.job):
                    queue.remove(ticket)
                    if not queue:
                        del self._waiting[user]
                    ticket._finish(error=JobCancelled(f"job {ticket.job.id} cancelled while waiting"))
                    self._reposition()
                    return ticket.job
        for ticket in self._running:
            if ticket.job.lane is not Lane.INTERACTIVE:
                continue  # indexing isn't anyone's request to cancel
            if predicate(ticket.job) and ticket._finish(
                error=JobCancelled(f"job {ticket.job.id} cancelled while running")
            ):
                self._interrupt_if_abandoned(ticket)
                return ticket.job
        return None

    def stats(self) -> QueueStats:
        waiting = Counter(str(t.job.task) for t in self._iter_waiting())
        counts = self._counts
        return QueueStats(
            dict(waiting),
            len(self._running),
            counts[Lane.INTERACTIVE, True],
            counts[Lane.INTERACTIVE, False],
            len(self._background),
            counts[Lane.BACKGROUND, True],
            counts[Lane.BACKGROUND, False],
        )

    def saturated_for(self, task: Task) -> bool:
        """Whether every slot of the worker that runs `task` is taken, so its next job has to wait."""
        return not self._has_slot(task)

    def _has_slot(self, task: Task) -> bool:
        worker = self._worker_for(task)
        return self._busy[worker] < self._capacity.get(worker, self._concurrency)

    # -- ordering -----------------------------------------------------------------------------

    def _iter_waiting(self) -> Iterator[Ticket]:
        for queue in self._waiting.values():
            yield from queue

    def _fair_order(self) -> list[Ticket]:
        """Every waiting ticket in the order the dispatcher would take them."""
        heap = [(self._last_served.get(u, -1), q[0].job.seq, u) for u, q in self._waiting.items() if q]
        heapq.heapify(heap)
        index = {u: 0 for u in self._waiting}
        clock = self._service_clock
        order: list[Ticket] = []
        while heap:
            _, _, user = heapq.heappop(heap)
            queue = self._waiting[user]
            order.append(queue[index[user]])
            index[user] += 1
            clock += 1
            if index[user] < len(queue):
                heapq.heappush(heap, (clock, queue[index[user]].job.seq, user))
        return order

    def _reposition(self) -> None:
        places = Counter[str]()  # per worker: a /caption doesn't wait behind /ask jobs on the VLM's lane
        for ticket in self._fair_order():
            worker = self._worker_for(ticket.job.task)
            places[worker] += 1
            ticket._move(places[worker])

    def _held_until(self, ticket: Ticket) -> float | None:
        """When the ticket may run at the latest, if an earlier announced request of its user holds it."""
        seqs = self._announced.get(ticket.job.user_id)
        if not seqs:
            return None
        now = time.monotonic()
        ends = [
            at + ANNOUNCED_HOLD_S for seq, at in seqs.items() if seq < ticket.job.seq and at + ANNOUNCED_HOLD_S > now
        ]
        return max(ends) if ends else None

    def _take_batch(self) -> list[Ticket] | None:
        order = [t for t in self._fair_order() if self._held_until(t) is None]
        # Only a user's earliest waiting job may lead, and only on a worker with a free slot.
        heads = {id(queue[0]) for queue in self._waiting.values() if queue}
        first = next((t for t in order if id(t) in heads and self._has_slot(t.job.task)), None)
        if first is None:
            return None  # every waiting job waits for a busy worker or an earlier request of its user
        order = order[order.index(first) :]
        key = first.job.request.batch_key
        limit = self._batch_sizes.get(str(first.job.task), self._max_batch)
        batch, chosen = [first], {id(first)}
        for ticket in order[1:]:
            if len(batch) >= limit:
                break
            if ticket.job.request.batch_key != key:
                continue
            # A mate must not overtake an earlier job of its user (say an /ask waiting for the VLM's lane).
            mine = self._waiting[ticket.job.user_id]
            if all(id(t) in chosen for t in itertools.islice(mine, mine.index(ticket))):
                batch.append(ticket)
                chosen.add(id(ticket))
        for ticket in batch:
            user = ticket.job.user_id
            self._waiting[user].remove(ticket)
            if not self._waiting[user]:
                del self._waiting[user]
            self._service_clock += 1
            self._last_served[user] = self._service_clock
        return batch

    # -- running ------------------------------------------------------------------------------

    def _take_background(self) -> list[Ticket]:
        first = self._background.popleft()
        key = first.job.request.batch_key
        limit = self._batch_sizes.get(str(first.job.task), self._max_batch)
        batch = [first]
        for ticket in list(self._background):
            if len(batch) >= limit:
                break
            if ticket.job.request.batch_key == key:
                self._background.remove(ticket)
                batch.append(ticket)
        return batch

    def _background_age(self) -> float:
        return time.monotonic() - self._background[0].job.created

    def _next_batch(self) -> list[Ticket] | None:
        """The batch to run now, or None when nothing should run yet."""
        while self._background and self._background[0].done():  # finished elsewhere (queue closing)
            self._background.popleft()
        # A busy indexing worker leaves the interactive line free to use another.
        background_ready = bool(self._background) and self._has_slot(self._background[0].job.task)
        starved = background_ready and self._background_age() >= self._background_max_wait
        # Starved indexing goes first, but alternating with the interactive line, never monopolising it.
        if starved and self._last_lane is Lane.INTERACTIVE:
            self._last_lane = Lane.BACKGROUND
            return self._take_background()
        if self._waiting:
            batch = self._take_batch()
            if batch is not None:
                self._last_lane = Lane.INTERACTIVE
                return batch
        if background_ready:
            limit = self._batch_sizes.get(str(self._background[0].job.task), self._max_batch)
            if len(self._background) >= limit or self._background_age() >= self._background_window:
                self._last_lane = Lane.BACKGROUND
                return self._take_background()
        return None

    def _idle_delay(self) -> float | None:
        """Nothing can run yet: how long until something may (a part-full indexing batch's window ends,
        a hold on a user's jobs expires); None when only a wake-up (a job, a free worker) can change that."""
        now = time.monotonic()
        ends = [self._background[0].job.created + self._background_window] if self._background else []
        ends += [until for t in self._iter_waiting() if (until := self._held_until(t)) is not None]
        ends = [end for end in ends if end > now]
        return min(ends) - now if ends else None

    def _idle_worker_has_work(self) -> bool:
        return any(queue and self._has_slot(queue[0].job.task) for queue in self._waiting.values())

    async def _dispatch(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that arrives as the
            # wake-up does, and close() then waits for this loop forever.
            with contextlib.suppress(TimeoutError):  # a part-full indexing batch's window, or a hold, ended
                async with asyncio.timeout(self._idle_delay()):
                    await self._wake.wait()
            self._wake.clear()
            if self._batch_window and self._idle_worker_has_work():
                # An idle worker waits a few ms for batch mates; a busy one gathers them anyway.
                await asyncio.sleep(self._batch_window)
            while (batch := self._next_batch()) is not None:
                self._start(batch)

    def _start(self, batch: list[Ticket]) -> None:
        worker = self._worker_for(batch[0].job.task)
        self._busy[worker] += 1
        interrupt = Interrupt(deadline=time.monotonic() + self._timeout)
        for ticket in batch:
            ticket._interrupt = interrupt
            ticket._move(0)
        self._running.extend(batch)
        self._reposition()
        task = asyncio.create_task(self._run_batch(batch, interrupt, worker))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _run_batch(self, batch: list[Ticket], interrupt: Interrupt, worker: str) -> None:
        try:
            await self._run_and_resolve(batch, interrupt)
        finally:
            for ticket in batch:
                self._running.remove(ticket)
            self._busy[worker] -= 1
            self._wake.set()  # the worker is free: its next batch may start

    async def _run_and_resolve(self, batch: list[Ticket], interrupt: Interrupt) -> None:
        task = batch[0].job.task
        ids = ",".join(t.job.id for t in batch)
        live = [t for t in batch if not t.done()]
        if not live:
            return
        requests = [t.job.request for t in live]
        for index, ticket in enumerate(live):  # a cancel now stops this run (or only this request of it)
            ticket._interrupt, ticket._index = interrupt, index
        if any(getattr(r, "streamed", False) for r in requests):

            def on_partial(index: int, text: str) -> None:
                if 0 <= index < len(live):
                    live[index]._show_partial(text)

            call = asyncio.ensure_future(self._backend.run(task, requests, interrupt, on_partial))
        else:  # backends need not know about streaming for requests that don't stream
            call = asyncio.ensure_future(self._backend.run(task, requests, interrupt))
        done, _ = await asyncio.wait({call}, timeout=self._timeout)
        if not done:
            interrupt.set()
            log.warning("jobs %s timed out after %.0f s; stopping them", ids, self._timeout)
            for ticket in live:
                self._fail(ticket, JobTimedOut(f"job {ticket.job.id} timed out"))
            # Keep the slot until the device is really free, so the next job doesn't time out behind it.
            await asyncio.wait({call})
            if not call.cancelled():
                call.exception()
            return
        try:
            results = call.result()
        except (BotError, WorkerError) as exc:
            log.warning("jobs %s failed: %s", ids, exc)
            error = exc if isinstance(exc, BotError) else from_worker(exc)
            for ticket in live:
                self._fail(ticket, error)
            return
        except Exception:
            if len(live) > 1:
                # One bad request must not sink its batch mates: retry them one by one.
                log.warning("batch %s failed; retrying its jobs one at a time", ids, exc_info=True)
                for ticket in live:
                    await self._run_and_resolve([ticket], Interrupt(interrupt.deadline))
                return
            log.exception("job %s failed in the model", ids)
            self._fail(live[0], ModelFailed(f"job {ids} raised"))
            return
        if len(results) != len(live):
            log.error("backend returned %d results for %d jobs (%s)", len(results), len(live), ids)
            for ticket in live:
                self._fail(ticket, ModelFailed("result count mismatch"))
            return
        for ticket, result in zip(live, results, strict=False):
            if ticket._finish(result):
                self._counts[ticket.job.lane, True] += 1

    def _fail(self, ticket: Ticket, error: BotError) -> None:
        if ticket._finish(error=error):
            self._counts[ticket.job.lane, False] += 1

    def _interrupt_if_abandoned(self, ticket: Ticket) -> None:
        """Stop the run of a cancelled job: all of it when nobody else waits on it, else only its request
        (a batched generation stops that answer and carries on with the others)."""
        interrupt = ticket._interrupt
        if interrupt is None:
            return
        if all(t.done() for t in self._running if t._interrupt is interrupt):
            interrupt.set()
        else:
            interrupt.drop(ticket._index)
