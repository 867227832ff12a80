"""What the queue needs from a backend (a place that runs models: `local` or `ray`), and PRELOAD_MODELS."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from contract.requests import Task

if TYPE_CHECKING:
    from contract.requests import Request, Result
    from contract.worker import Interrupt, OnPartial


def preload_tasks(setting: str) -> list[Task]:
    """PRELOAD_MODELS ('caption,clip' or 'all') as tasks; unknown names are logged and skipped."""
    names = [n.strip().lower() for n in setting.split(",") if n.strip()]
    if names == ["all"]:
        return list(Task)
    tasks = []
    for name in names:
        try:
            tasks.append(Task(name))
        except ValueError:
            logging.getLogger(__name__).warning("PRELOAD_MODELS: %r is not a task (%s)", name, ", ".join(Task))
    return tasks


class Backend(Protocol):
    """What the queue needs from a place that runs models."""

    async def start(self) -> None:
        """Get ready (spawn the worker, connect to the cluster); models still load lazily."""

    async def run(
        self, task: Task, requests: Sequence[Request], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Result]:
        """Run one batch of same-task requests; one result per request, in order.

        `on_partial` (given only for streamed requests) is called on the event loop with each
        request's partial answer while the model generates; adapters that don't stream never call it.
        Raises contract.errors.ModelUnavailable when the task's model can't be loaded, anything else when it fails.
        """

    async def close(self) -> None:
        """Release the device."""

    def stats(self) -> dict[str, object]:
        """Loaded models and device facts, for logs and /stats."""

    @property
    def concurrency(self) -> int:
        """How many batches the queue may have in flight at once on each worker."""

    def worker_for(self, task: Task) -> str:
        """Which of the backend's workers (lanes) runs `task`; each takes `concurrency` batches at a time."""

    @property
    def batches_in_queue(self) -> bool:
        """True when the queue should form batches; False when the backend batches itself (Ray Serve)."""
