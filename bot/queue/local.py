"""The embedded backend: one worker thread owns the device and every loaded model."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Sequence

from bot.queue.backend import preload_tasks

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.requests import Request, Result, Task
    from contract.worker import Interrupt, OnPartial
    from models.pool import ModelPool

log = logging.getLogger(__name__)


class LocalBackend:
    """Runs every batch on one thread, so one device is never driven from two places at once.

    torch releases the GIL inside its kernels, so the event loop keeps answering while a model runs.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="device-worker")
        self._pool: ModelPool | None = None
        self._janitor: asyncio.Task[None] | None = None

    concurrency = 1  # one device, one batch at a time
    batches_in_queue = True

    async def start(self) -> None:
        # torch is imported on the worker thread, so the bot answers while it loads.
        loop = asyncio.get_running_loop()
        self._pool = await loop.run_in_executor(self._executor, self._make_pool)
        tasks = [t for t in preload_tasks(self._settings.preload_models) if t in self._pool.tasks]
        if tasks:
            # Not awaited: the bot starts polling while models load; jobs queue behind the load.
            loop.run_in_executor(self._executor, self._pool.preload, tasks)
        if self._settings.model_idle_unload_s:
            self._janitor = asyncio.create_task(self._unload_idle_models())

    def _make_pool(self) -> ModelPool:
        from models.pool import ModelPool

        return ModelPool(self._settings)

    async def _unload_idle_models(self) -> None:
        period = max(1.0, min(self._settings.model_idle_unload_s / 4, 30.0))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(period)
            await loop.run_in_executor(self._executor, self._pool.unload_idle)

    async def run(
        self, task: Task, requests: Sequence[Request], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Result]:
        if self._pool is None:
            raise RuntimeError("LocalBackend.run() before start()")
        loop = asyncio.get_running_loop()

        def relay(index: int, text: str) -> None:
            # Adapters report from the worker thread; the callback belongs to the event loop.
            with contextlib.suppress(RuntimeError):  # the loop closed during shutdown: nobody listens
                loop.call_soon_threadsafe(on_partial, index, text)

        return await loop.run_in_executor(
            self._executor, self._pool.run, task, list(requests), interrupt, relay if on_partial else None
        )

    async def close(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._pool.close)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def stats(self) -> dict[str, object]:
        return self._pool.stats() if self._pool is not None else {}
