"""Ray Serve deployments: one per task's model, each replica a ModelPool for that task, batching with @serve.batch."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ray import serve

log = logging.getLogger(__name__)


@serve.deployment
class ModelServer:
    """Serves one task. Concurrent calls are gathered into batches; a request that raises fails alone."""

    def __init__(self, task: str, settings: dict[str, Any], max_batch_size: int, batch_wait_s: float) -> None:
        # Imported here, in the replica's process: the bot process that defines the app never imports torch.
        from bot.settings import Settings
        from contract.requests import Task
        from models.pool import ModelPool

        self.task = Task(task)
        self.settings = Settings.model_construct(**settings)  # already validated by the bot; no token here
        self.pool = ModelPool(self.settings)
        self.run_batch.set_max_batch_size(max_batch_size)
        self.run_batch.set_batch_wait_timeout_s(batch_wait_s)

    async def __call__(self, request: Any) -> Any:
        result = await self.run_batch(request)
        if isinstance(result, BaseException):
            raise result
        return result

    @serve.batch
    async def run_batch(self, requests: list[Any]) -> list[Any]:
        return await asyncio.to_thread(self._run, requests)

    def _run(self, requests: list[Any]) -> list[Any]:
        from contract.worker import Interrupt

        deadline = time.monotonic() + self.settings.job_timeout_s
        try:
            return self.pool.run(self.task, requests, Interrupt(deadline))
        except Exception as exc:
            if len(requests) == 1:
                return [exc]
        # One bad request must not sink its batch mates: run them one by one.
        results: list[Any] = []
        for request in requests:
            try:
                results += self.pool.run(self.task, [request], Interrupt(deadline))
            except Exception as exc:  # handed back to that request's caller only
                results.append(exc)
        return results
