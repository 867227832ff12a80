"""The embedded backend: one worker thread owns the device and every loaded model."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from bot.backends import Interrupt, OnPartial
    from bot.jobs import Request, Result, Task
    from bot.settings import Settings
    from models.pool import ModelPool


class LocalBackend:
    """Runs every batch on one thread, so one device is never driven from two places at once.

    torch releases the GIL inside its kernels, so the event loop keeps answering while a model runs.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="device-worker")
        self._pool: ModelPool | None = None

    async def start(self) -> None:
        # torch is imported on the worker thread, so the bot answers while it loads.
        loop = asyncio.get_running_loop()
        self._pool = await loop.run_in_executor(self._executor, self._make_pool)

    def _make_pool(self) -> ModelPool:
        from models.pool import ModelPool

        return ModelPool(self._settings)

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
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._pool.close)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def stats(self) -> dict[str, object]:
        return self._pool.stats() if self._pool is not None else {}
