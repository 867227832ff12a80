"""ModelPool: the loaded models of one device, loaded lazily under a lock and run under inference mode."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Sequence

import torch

from bot.errors import BotError, ModelUnavailable
from bot.jobs import Task
from models.base import Adapter, Device
from models.registry import adapter_for

if TYPE_CHECKING:
    from bot.backends import Interrupt
    from bot.jobs import Request, Result
    from bot.settings import Settings

log = logging.getLogger(__name__)

# After a failed load, wait this long before trying again, so a broken model isn't reloaded per request.
RETRY_LOAD_AFTER_S = 60.0


def configured_sources(settings: Settings) -> dict[Task, str]:
    """The model setting behind each task."""
    return {Task.CAPTION: settings.caption_model, Task.EMBED: settings.clip_model}


class ModelPool:
    """Owns one device's models. Thread-safe; the local backend calls it from its single worker thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sources = configured_sources(settings)
        self.device = Device.resolve(settings.device)
        self._adapters: dict[Task, Adapter] = {}
        self._failures: dict[Task, tuple[float, str]] = {}
        self._locks = {task: threading.Lock() for task in self._sources}
        log.info("models will run on %s", self.device)

    def get(self, task: Task) -> Adapter:
        """The adapter for `task`, loading it on first use; raises ModelUnavailable with the reason logged."""
        adapter = self._adapters.get(task)
        if adapter is not None:
            return adapter
        with self._locks[task]:
            adapter = self._adapters.get(task)
            if adapter is not None:
                return adapter
            failed = self._failures.get(task)
            if failed is not None and time.monotonic() - failed[0] < RETRY_LOAD_AFTER_S:
                raise ModelUnavailable(f"{task} model unavailable: {failed[1]}")
            source = self._sources[task]
            started = time.monotonic()
            try:
                adapter = adapter_for(task, source).load(source, self.device, self._settings)
            except Exception as exc:  # any load failure: log it clearly, keep the other tasks working
                reason = exc.args[0] if isinstance(exc, BotError) and exc.args else f"{type(exc).__name__}: {exc}"
                self._failures[task] = (time.monotonic(), reason)
                log.error("the %s model %r could not be loaded: %s", task, source, reason)
                raise ModelUnavailable(f"{task} model unavailable: {reason}") from None
            self._failures.pop(task, None)
            self._adapters[task] = adapter
            log.info("loaded %s model %r (%s) in %.1f s", task, source, type(adapter).__name__,
                     time.monotonic() - started)
            return adapter

    def run(self, task: Task, requests: Sequence[Request], interrupt: Interrupt) -> list[Result]:
        adapter = self.get(task)
        with torch.inference_mode():
            return adapter.run(requests, interrupt)

    def close(self) -> None:
        self._adapters.clear()
        if self.device.torch_device.type == "cuda":
            torch.cuda.empty_cache()

    def stats(self) -> dict[str, object]:
        return {"device": str(self.device), "loaded": sorted(str(t) for t in self._adapters)}
