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
    from bot.backends import Interrupt, OnPartial
    from bot.jobs import Request, Result
    from bot.settings import Settings

log = logging.getLogger(__name__)

# After a failed load, wait this long before trying again, so a broken model isn't reloaded per request.
RETRY_LOAD_AFTER_S = 60.0


def configured_sources(settings: Settings) -> dict[Task, str]:
    """The model setting behind each task."""
    return {
        Task.CAPTION: settings.caption_model,
        Task.ASK: settings.vlm_model,
        Task.BOX: settings.vlm_model,
    }


class ModelPool:
    """Owns one device's models. Thread-safe; the local backend calls it from its single worker thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sources = configured_sources(settings)
        self.device = Device.resolve(settings.device)
        self._adapters: dict[Task, Adapter] = {}
        self._failures: dict[Task, tuple[float, str, str | None]] = {}  # when, why, what users are told
        self._locks = {task: threading.Lock() for task in self._sources}
        # One instance per (adapter class, source): /ask and /box share one loaded VLM.
        self._instances: dict[tuple[type, str], Adapter] = {}
        self._instances_lock = threading.Lock()
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
                raise ModelUnavailable(f"{task} model unavailable: {failed[1]}", user_message=failed[2])
            source = self._sources[task]
            started = time.monotonic()
            try:
                adapter = self._instance(adapter_for(task, source), source)
            except Exception as exc:  # any load failure: log it clearly, keep the other tasks working
                reason = exc.args[0] if isinstance(exc, BotError) and exc.args else f"{type(exc).__name__}: {exc}"
                # A specific reason for users (e.g. "this model can't draw boxes") survives; others get the generic one.
                user_message = exc.user_message if isinstance(exc, ModelUnavailable) else None
                self._failures[task] = (time.monotonic(), reason, user_message)
                log.error("the %s model %r could not be loaded: %s", task, source, reason)
                raise ModelUnavailable(f"{task} model unavailable: {reason}", user_message=user_message) from None
            self._failures.pop(task, None)
            self._adapters[task] = adapter
            log.info("loaded %s model %r (%s) in %.1f s", task, source, type(adapter).__name__,
                     time.monotonic() - started)
            return adapter

    def _instance(self, adapter_cls: type[Adapter], source: str) -> Adapter:
        with self._instances_lock:
            adapter = self._instances.get((adapter_cls, source))
            if adapter is None:
                adapter = adapter_cls.load(source, self.device, self._settings)
                self._instances[(adapter_cls, source)] = adapter
            return adapter

    def run(
        self, task: Task, requests: Sequence[Request], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Result]:
        adapter = self.get(task)
        with torch.inference_mode():
            if on_partial is not None and getattr(adapter, "streams", False):
                return adapter.run(requests, interrupt, on_partial)
            return adapter.run(requests, interrupt)

    def close(self) -> None:
        self._adapters.clear()
        self._instances.clear()
        if self.device.torch_device.type == "cuda":
            torch.cuda.empty_cache()

    def stats(self) -> dict[str, object]:
        return {"device": str(self.device), "loaded": sorted(str(t) for t in self._adapters)}
