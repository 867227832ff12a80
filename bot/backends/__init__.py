"""Backends run batches of requests on a device: `local` (one worker thread that owns it) or `ray`."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from bot.jobs import Task

if TYPE_CHECKING:
    from bot.jobs import Request, Result
    from bot.settings import Settings


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


class Interrupt:
    """Tells a running batch to stop early: set by the queue on cancel, or once its deadline passes.

    Adapters poll it between steps (a generation step, a diffusion step); it is thread-safe.
    One request of a batch can be dropped alone (its user cancelled it while its batch mates still
    wait): adapters that generate a batch row by row stop that row (`is_set(index)`), others go on.
    """

    def __init__(self, deadline: float | None = None) -> None:
        self._event = threading.Event()
        self.deadline = deadline
        self._dropped: frozenset[int] = frozenset()

    def set(self) -> None:
        self._event.set()

    def drop(self, index: int) -> None:
        """Nobody waits for request `index` of the batch any more."""
        self._dropped |= {index}

    def is_set(self, index: int | None = None) -> bool:
        """Whether the whole batch should stop, or (given `index`) whether that request should."""
        if self._event.is_set():
            return True
        if index is not None and index in self._dropped:
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline


# on_partial(index, text): the answer so far of requests[index], while it is being generated.
OnPartial = Callable[[int, str], None]


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
        Raises ModelUnavailable when the task's model can't be loaded, anything else when it fails.
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


def make_backend(settings: Settings) -> Backend:
    """The backend QUEUE_BACKEND names."""
    if settings.queue_backend == "ray":
        if importlib.util.find_spec("ray") is None:
            raise SystemExit("QUEUE_BACKEND=ray needs Ray Serve: pip install -e '.[ray]'")
        from bot.backends.ray import RayBackend
        from models.sources import configured_sources

        return RayBackend(settings, list(configured_sources(settings)))
    from bot.backends.local import LocalBackend

    return LocalBackend(settings)
