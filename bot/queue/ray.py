"""QUEUE_BACKEND=ray: each task's model is a Ray Serve deployment; the bot awaits deployment handles.

The fair per-user queue and the job journal stay in the bot process, in front; batching happens in
the replicas (@serve.batch), so the queue hands over one request per call, several calls at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.errors import BotError, JobTimedOut, ModelFailed
from bot.queue.backend import preload_tasks
from contract.errors import WorkerError
from contract.requests import Task

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.requests import Request, Result
    from contract.worker import Interrupt, OnPartial

log = logging.getLogger(__name__)

APP_PREFIX = "clipbot-"


class RayBackend:
    """Deploys one ModelServer per task at start and routes each request to its task's handle."""

    def __init__(self, settings: Settings, tasks: Sequence[Task]) -> None:
        self._settings = settings
        self._tasks = list(tasks)
        self._handles: dict[Task, Any] = {}
        self._deploying = asyncio.Lock()
        self._started_ray = False

    def deployment_options(self, task: Task) -> dict[str, Any]:
        """Replicas, GPU and CPU share of one task's deployment (RAY_* settings, per-task overrides)."""
        options: dict[str, Any] = {
            "num_replicas": self._settings.ray_replicas,
            "num_gpus": self._settings.ray_num_gpus,
            "num_cpus": self._settings.ray_num_cpus,
        }
        options.update(self._settings.ray_deployments.get(str(task), {}))
        return options

    batches_in_queue = False  # @serve.batch gathers them in the replicas

    @property
    def concurrency(self) -> int:
        """How many requests the queue may have in flight: every replica's batch, full."""
        total = 0
        for task in self._tasks:
            batch = self._settings.batch_sizes.get(str(task), self._settings.max_batch_size)
            total += self.deployment_options(task)["num_replicas"] * batch
        return max(1, total)

    def worker_for(self, task: Task) -> str:
        """One shared pool of in-flight requests: each deployment batches and scales on its own."""
        return "ray"

    async def start(self) -> None:
        """Connect to (or start) Ray; deploy PRELOAD_MODELS now, every other task on its first request."""
        await asyncio.to_thread(self._connect)
        for task in preload_tasks(self._settings.preload_models):
            if task in self._tasks:
                await self._handle(task)

    def _connect(self) -> None:
        import ray

        address = self._settings.ray_address or None
        self._started_ray = address is None and not ray.is_initialized()
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
        log.info("Ray %s: %s", "started locally" if self._started_ray else "joined", address or "local instance")

    async def _handle(self, task: Task) -> Any:
        """The task's deployment handle, deploying it first if this is its first request."""
        async with self._deploying:
            if task not in self._handles:
                self._handles[task] = await asyncio.to_thread(self._deploy, task)
        return self._handles[task]

    def _deploy(self, task: Task) -> Any:
        from ray import serve

        from models.serve import ModelServer

        # Replicas rebuild the settings from this; the token stays in the bot process.
        settings = self._settings.model_dump(exclude={"telegram_bot_token"})
        options = self.deployment_options(task)
        batch = self._settings.batch_sizes.get(str(task), self._settings.max_batch_size)
        # @serve.deployment made the class a Deployment; mypy keeps a decorated class's own type.
        deployment: Any = ModelServer
        app = deployment.options(
            name=f"{task}",
            num_replicas=options["num_replicas"],
            ray_actor_options={"num_gpus": options["num_gpus"], "num_cpus": options["num_cpus"]},
            max_ongoing_requests=max(2 * batch, 8),
        ).bind(str(task), settings, batch, self._settings.batch_window_ms / 1000)
        handle = serve.run(app, name=APP_PREFIX + str(task), route_prefix=None)
        log.info("deployed %s: %s", task, options)
        return handle

    async def run(
        self, task: Task, requests: Sequence[Request], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Result]:
        """Answers arrive whole: streaming through Ray (generator deployments) is future work."""
        from ray.exceptions import RayTaskError

        handle = await self._handle(task)
        responses = [handle.remote(request) for request in requests]
        try:
            return list(await asyncio.gather(*responses))
        except asyncio.CancelledError:
            for response in responses:
                response.cancel()
            raise
        except RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, (BotError, WorkerError)):
                raise cause from None
            log.error("the %s deployment failed: %s", task, cause)
            raise ModelFailed(f"{task} replica raised {type(cause).__name__}: {cause}") from None
        except TimeoutError:
            raise JobTimedOut(f"{task} deployment timed out") from None

    async def close(self) -> None:
        await asyncio.to_thread(self._undeploy)

    def _undeploy(self) -> None:
        import ray
        from ray import serve

        if not ray.is_initialized():
            return
        for task in self._handles:
            try:
                serve.delete(APP_PREFIX + str(task))
            except Exception as exc:  # shutting down: log and carry on
                log.warning("could not delete the %s deployment: %s", task, exc)
        if self._started_ray:
            serve.shutdown()
            ray.shutdown()

    def stats(self) -> dict[str, object]:
        return {
            "device": f"Ray ({self._settings.ray_address or 'local'})",
            "deployments": {str(t): self.deployment_options(t) for t in self._handles},
        }
