"""The embedded backend: worker threads (lanes: the VLM's, and one for the rest) sharing the device and a model pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from bot.queue.backend import preload_tasks
from contract.requests import Task

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.requests import Request, Result, Task
    from contract.worker import Interrupt, OnPartial
    from models.pool import ModelPool

log = logging.getLogger(__name__)


# The tasks with a lane (worker thread) of their own; every other task runs on the "models" lane.
# /ask and /box generate for many seconds: on their own lane they never hold up /caption, /find, /gen.
LANES = {Task.ASK: "vlm", Task.BOX: "vlm"}
DEFAULT_LANE = "models"


class LocalBackend:
    """Runs each lane's batches on that lane's thread: one batch at a time per lane, lanes side by side.

    The lanes share one ModelPool, so they stay within one memory budget: a lane whose model has to
    make room waits until the other lane's model is done. torch releases the GIL inside its kernels,
    so the event loop keeps answering (and the other lane keeps running) while a model runs.
    `lanes=False` runs every task on one thread, as before lanes (kept for the benchmark's comparison).
    """

    def __init__(self, settings: Settings, *, lanes: bool = True) -> None:
        self._settings = settings
        self._lanes = LANES if lanes else {}
        names = [DEFAULT_LANE, *sorted(set(self._lanes.values()))]
        self._executors = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-worker") for name in names
        }
        self._pool: ModelPool | None = None
        self._janitor: asyncio.Task[None] | None = None

    concurrency = 1  # one batch at a time on each lane
    batches_in_queue = True

    def worker_for(self, task: Task) -> str:
        return self._lanes.get(task, DEFAULT_LANE)

    @property
    def _executor(self) -> ThreadPoolExecutor:
        return self._executors[DEFAULT_LANE]

    async def start(self) -> None:
        # torch is imported on the worker thread, so the bot answers while it loads.
        loop = asyncio.get_running_loop()
        self._pool = await loop.run_in_executor(self._executor, self._make_pool)
        tasks = [t for t in preload_tasks(self._settings.preload_models) if t in self._pool.tasks]
        for lane, executor in self._executors.items():
            mine = [t for t in tasks if self.worker_for(t) == lane]
            if mine:
                # Not awaited: the bot starts polling while models load; jobs queue behind their lane's load.
                loop.run_in_executor(executor, self._pool.preload, mine)
        if self._settings.model_idle_unload_s:
            self._janitor = asyncio.create_task(self._unload_idle_models())

    def _make_pool(self) -> ModelPool:
        from models.pool import ModelPool

        return ModelPool(self._settings)

    async def _unload_idle_models(self) -> None:
        period = max(1.0, min(self._settings.model_idle_unload_s / 4, 30.0))
        loop = asyncio.get_running_loop()
        pool = self._pool
        assert pool is not None  # started
        while True:
            await asyncio.sleep(period)
            await loop.run_in_executor(self._executor, pool.unload_idle)

    async def run(
        self, task: Task, requests: Sequence[Request], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Result]:
        if self._pool is None:
            raise RuntimeError("LocalBackend.run() before start()")
        loop = asyncio.get_running_loop()

        def relay(index: int, text: str) -> None:
            # Adapters report from the worker thread; the callback belongs to the event loop.
            if on_partial is None:
                return
            with contextlib.suppress(RuntimeError):  # the loop closed during shutdown: nobody listens
                loop.call_soon_threadsafe(on_partial, index, text)

        return await loop.run_in_executor(
            self._executors[self.worker_for(task)],
            self._pool.run,
            task,
            list(requests),
            interrupt,
            relay if on_partial else None,
        )

    async def close(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._pool.close)
        for executor in self._executors.values():
            executor.shutdown(wait=False, cancel_futures=True)

    def stats(self) -> dict[str, object]:
        return self._pool.stats() if self._pool is not None else {}
