"""ModelPool: one device's models, loaded lazily under a lock, kept within a memory budget, run under inference mode."""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
import transformers
from cachetools import TTLCache

from contract.errors import ErrorKind, Interrupted, ModelUnavailable, WorkerError
from contract.requests import Task
from models.base import Adapter, Device, StreamingAdapter
from models.memory import checkpoint_bytes, empty_cache, is_out_of_memory, resolve_budget
from models.registry import adapter_for
from models.sources import configured_sources

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.requests import Request, Result
    from contract.worker import Interrupt, OnPartial

log = logging.getLogger(__name__)

# After a failed load, wait this long before trying again, so a broken model isn't reloaded per request.
RETRY_LOAD_AFTER_S = 60.0
# bitsandbytes 4-bit keeps about this share of an fp16 checkpoint (NF4 weights, fp16 norms and embeddings).
BNB_4BIT_SHARE = 0.3


def module_bytes(obj: Any) -> int:
    """Bytes of parameters and buffers held by a torch module, a diffusers pipeline, or an adapter's attributes."""
    if isinstance(obj, torch.nn.Module):
        tensors = list(obj.parameters()) + list(obj.buffers())
        return sum(t.numel() * t.element_size() for t in tensors)
    components = getattr(obj, "components", None)
    if isinstance(components, dict):
        return sum(module_bytes(c) for c in components.values())
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return sum(
            module_bytes(v) for v in vars(obj).values() if isinstance(v, torch.nn.Module) or hasattr(v, "components")
        )
    return 0


def estimate_bytes(source: str, dtype: torch.dtype) -> int:
    """A load's size before loading (models.memory.checkpoint_bytes); 0 = unknown, checked after loading."""
    return checkpoint_bytes(source, dtype)


def _size(count: int) -> str:
    return f"{count / 2**30:.1f} GB" if count >= 2**30 else f"{count / 2**20:.1f} MB"


@dataclass
class Loaded:
    adapter: Adapter
    source: str
    bytes: int
    last_used: float
    tasks: set[Task]  # /ask and /box share one loaded VLM
    users: int = 0  # runs using it now: never unloaded while any is


class ModelPool:
    """Owns one device's models; the local backend calls it from its worker threads (one per lane).

    Residency: models load on first use (or at start, for PRELOAD_MODELS); when loading one would
    exceed MODEL_MEMORY_BUDGET_GB, the least recently used models are unloaded first; models idle for
    MODEL_IDLE_UNLOAD_S are unloaded by `unload_idle()`. A model that is running on one lane is never
    unloaded for another: that lane waits until it is done (so a budget that fits one model at a time
    runs one lane at a time). A model whose checkpoint alone is larger than the budget is refused
    before loading. An out-of-memory error while loading or running unloads the other models, empties
    the device's cache and tries once more; a second one fails that job alone.

    The lock guards the bookkeeping only: a model loads and runs outside it, so one lane's long
    load or answer doesn't stop another lane from reaching its model (loads take turns).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sources = configured_sources(settings)
        self.device = Device.resolve(settings.device, settings.dtype)
        self._budget = resolve_budget(settings.model_memory_budget_gb, self.device.torch_device)
        self._idle_after = settings.model_idle_unload_s
        # One instance per (adapter class, source), least recently used first.
        self._loaded: OrderedDict[tuple[type, str], Loaded] = OrderedDict()
        self._loading: dict[tuple[type, str], int] = {}  # loads under way outside the lock: their estimated bytes
        # Why a task's model failed to load (log reason, kind): remembered a while, so each request doesn't retry.
        self._failures: TTLCache[Task, tuple[str, tuple[ErrorKind, tuple[str, ...]]]] = TTLCache(
            maxsize=len(Task), ttl=RETRY_LOAD_AFTER_S, timer=time.monotonic
        )
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # a model was released, loaded or unloaded
        # One load at a time: from_pretrained() switches process-wide state (weight init, meta-device
        # placement), and two lanes loading at once left one model's weights on the meta device.
        self._load_lock = threading.Lock()
        self.loads = 0
        self.unloads = 0
        self.recoveries = 0  # out-of-memory errors recovered from by unloading other models
        transformers.utils.logging.disable_progress_bar()  # per-load bars are noise in a service's log
        log.info("models will run on %s", self.device)

    @property
    def tasks(self) -> frozenset[Task]:
        """The tasks this pool has a model setting for."""
        return frozenset(self._sources)

    def preload(self, tasks: Sequence[Task]) -> None:
        """Load these models now instead of on first use; a failure is logged, not raised."""
        for task in tasks:
            with contextlib.suppress(ModelUnavailable):
                self.get(task)

    def get(self, task: Task) -> Adapter:
        """The adapter for `task`, loading it on first use; raises ModelUnavailable with the reason logged."""
        loaded = self._checkout(task)
        self._checkin(loaded)
        return loaded.adapter

    def _find(self, task: Task) -> Loaded | None:
        for key, loaded in self._loaded.items():
            if task in loaded.tasks:
                self._loaded.move_to_end(key)
                return loaded
        return None

    def _checkout(self, task: Task, interrupt: Interrupt | None = None) -> Loaded:
        """The loaded model for `task`, loading it first if needed, marked as in use until `_checkin`."""
        with self._lock:
            while True:
                loaded = self._find(task)
                if loaded is not None:
                    loaded.users += 1
                    loaded.last_used = time.monotonic()
                    return loaded
                key, adapter_cls, need = self._plan_load(task)
                if key not in self._loading:
                    break
                self._changed.wait(0.5)  # the other lane is loading this very model: use it when it's there
            shared = self._loaded.get(key)
            if shared is not None:  # the same model already serves another task
                shared.tasks.add(task)
                shared.users += 1
                shared.last_used = time.monotonic()
                self._loaded.move_to_end(key)
                return shared
            self._wait_for_room(need, interrupt)
            self._loading[key] = need
        source = key[1]
        started = time.monotonic()
        try:
            adapter = self._load_recovering(task, adapter_cls, source)
        except Exception as exc:
            with self._lock:
                del self._loading[key]
                self._changed.notify_all()
            raise self._load_failed(task, source, exc, remember=not is_out_of_memory(exc)) from None
        size = module_bytes(adapter)
        with self._lock:
            del self._loading[key]
            self._failures.pop(task, None)
            loaded = self._loaded[key] = Loaded(adapter, source, size, time.monotonic(), {task}, users=1)
            self.loads += 1
            log.info(
                "loaded %s model %r (%s, %.0f MB) in %.1f s",
                task,
                source,
                type(adapter).__name__,
                size / 2**20,
                time.monotonic() - started,
            )
            if self._budget and self.resident_bytes() > self._budget:
                self._make_room(0)
            self._changed.notify_all()
            return loaded

    def _plan_load(self, task: Task) -> tuple[tuple[type, str], type[Adapter], int]:
        """What loading `task`'s model means: its key, adapter class and estimated size; raises
        ModelUnavailable (logged) when it can't be loaded, or can never fit the budget."""
        failed = self._failures.get(task)
        if failed is not None:
            raise ModelUnavailable(f"{task} model unavailable: {failed[0]}", *failed[1])
        source = self._sources[task]
        try:
            adapter_cls = adapter_for(task, source)
            need = self._estimate(task, source)
            if self._budget and need > self._budget:
                raise ModelUnavailable(
                    f"it needs about {_size(need)} in {str(self.device.dtype).removeprefix('torch.')} but "
                    f"MODEL_MEMORY_BUDGET_GB={self._settings.model_memory_budget_gb} allows "
                    f"{_size(self._budget)} for all models: choose a smaller model, a smaller DTYPE, "
                    "or raise MODEL_MEMORY_BUDGET_GB (0 = no limit) if the device really has the memory",
                    ErrorKind.MODEL_TOO_BIG,
                )
        except Exception as exc:  # any failure: log it clearly, keep the other tasks working
            raise self._load_failed(task, source, exc) from None
        return (adapter_cls, source), adapter_cls, need

    def _estimate(self, task: Task, source: str) -> int:
        need = estimate_bytes(source, self.device.dtype)
        if task in (Task.ASK, Task.BOX) and self._settings.vlm_quantization == "bnb-4bit":
            need = int(need * BNB_4BIT_SHARE)
        return need

    def _load_recovering(self, task: Task, adapter_cls: type[Adapter], source: str) -> Adapter:
        with self._load_lock:
            return self._load_retrying(task, adapter_cls, source)

    def _load_retrying(self, task: Task, adapter_cls: type[Adapter], source: str) -> Adapter:
        try:
            return adapter_cls.load(source, self.device, self._settings)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            log.warning(
                "out of memory loading the %s model %r: unloading the other models and trying again", task, source
            )
        self._free_memory()
        adapter = adapter_cls.load(source, self.device, self._settings)
        self.recoveries += 1
        return adapter

    def _load_failed(self, task: Task, source: str, exc: Exception, remember: bool = True) -> ModelUnavailable:
        """Log why `task`'s model can't be loaded and make the error its users get.

        Remembered failures are answered without retrying for RETRY_LOAD_AFTER_S; an out-of-memory
        one isn't remembered, since the memory may be free by the next request."""
        reason = str(exc) if isinstance(exc, WorkerError) else f"{type(exc).__name__}: {exc}"
        # A specific reason for users (e.g. "this model can't draw boxes") survives; others get the generic one.
        why: tuple[ErrorKind, tuple[str, ...]] = (
            (exc.kind, exc.details) if isinstance(exc, ModelUnavailable) else (ErrorKind.MODEL_UNAVAILABLE, ())
        )
        if is_out_of_memory(exc):
            why = (ErrorKind.OUT_OF_MEMORY, ())
        if remember:
            self._failures[task] = (reason, why)
        log.error("the %s model %r could not be loaded: %s", task, source, reason)
        return ModelUnavailable(f"{task} model unavailable: {reason}", *why)

    def _checkin(self, loaded: Loaded) -> None:
        with self._lock:
            loaded.users -= 1
            loaded.last_used = time.monotonic()
            self._changed.notify_all()

    def _wait_for_room(self, needed: int, interrupt: Interrupt | None) -> None:
        """Make room for `needed` more bytes; while the models in the way are running (or loading) on
        another lane, wait for them. Called with the lock held; the wait releases it."""
        while True:
            self._make_room(needed)
            if not self._budget or self.resident_bytes() + needed <= self._budget:
                return
            busy = self._loading or any(loaded.users for loaded in self._loaded.values())
            if not busy:
                log.warning(
                    "the models in use need more than MODEL_MEMORY_BUDGET_GB=%s", self._settings.model_memory_budget_gb
                )
                return
            if interrupt is not None and interrupt.is_set():
                raise Interrupted("stopped while waiting for another lane's model to make room")
            self._changed.wait(0.5)

    def _make_room(self, needed: int) -> None:
        """Unload least recently used idle models until `needed` more bytes fit the budget."""
        if not self._budget:
            return
        for key, loaded in list(self._loaded.items()):
            if self.resident_bytes() + needed <= self._budget:
                return
            if not loaded.users:
                self._unload(key, "to stay within the memory budget")

    def _free_memory(self) -> None:
        """After an out-of-memory error: unload every model not running now and empty the device's cache."""
        with self._lock:
            for key, loaded in list(self._loaded.items()):
                if not loaded.users:
                    self._unload(key, "after an out-of-memory error")
            gc.collect()
            empty_cache(self.device.torch_device)

    def _unload(self, key: tuple[type, str], why: str) -> None:
        loaded = self._loaded.pop(key)
        tasks = "+".join(sorted(str(t) for t in loaded.tasks))
        log.info("unloaded %s model %r (%.0f MB) %s", tasks, loaded.source, loaded.bytes / 2**20, why)
        del loaded
        gc.collect()
        empty_cache(self.device.torch_device)
        self.unloads += 1
        self._changed.notify_all()

    def unload_idle(self) -> None:
        """Unload models unused for MODEL_IDLE_UNLOAD_S (0 = keep them)."""
        if not self._idle_after:
            return
        with self._lock:
            now = time.monotonic()
            for key, loaded in list(self._loaded.items()):
                if not loaded.users and now - loaded.last_used >= self._idle_after:
                    self._unload(key, f"after {self._idle_after:.0f} s idle")

    def resident_bytes(self) -> int:
        """Bytes of the loaded models, plus the estimates of those loading now."""
        return sum(loaded.bytes for loaded in list(self._loaded.values())) + sum(self._loading.values())

    def run(
        self, task: Task, requests: Sequence[Request], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Result]:
        """Run one batch on `task`'s model. Out of memory: free what other models hold, try once more,
        then fail: one request with an OUT_OF_MEMORY WorkerError, a batch with the error (the queue then runs its
        jobs alone)."""
        loaded = self._checkout(task, interrupt)
        try:
            try:
                return self._call(loaded.adapter, requests, interrupt, on_partial)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                log.warning(
                    "out of memory running %d %s request(s): unloading the other models and retrying",
                    len(requests),
                    task,
                )
            self._free_memory()
            try:
                results = self._call(loaded.adapter, requests, interrupt, on_partial)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                gc.collect()
                empty_cache(self.device.torch_device)
                if len(requests) > 1:
                    raise
                log.error("out of memory again running a %s request, even with the other models unloaded", task)
                raise WorkerError(f"{task} ran out of memory", ErrorKind.OUT_OF_MEMORY) from None
            self.recoveries += 1
            return results
        finally:
            self._checkin(loaded)

    def _call(
        self, adapter: Adapter, requests: Sequence[Request], interrupt: Interrupt, on_partial: OnPartial | None
    ) -> list[Result]:
        with torch.inference_mode():
            if on_partial is not None and getattr(adapter, "streams", False):
                return cast(StreamingAdapter, adapter).run(requests, interrupt, on_partial)
            return adapter.run(requests, interrupt)

    def close(self) -> None:
        with self._lock:
            for key in list(self._loaded):
                self._unload(key, "at shutdown")

    def stats(self) -> dict[str, object]:
        """Loaded models, device memory and load counts (a snapshot; safe to call from any thread)."""
        now = time.monotonic()
        loaded = {
            "+".join(sorted(str(t) for t in m.tasks)): {
                "source": m.source,
                "mb": round(m.bytes / 2**20, 1),
                "idle_s": round(now - m.last_used),
            }
            for m in list(self._loaded.values())
        }
        memory: dict[str, object] = {"models_mb": round(self.resident_bytes() / 2**20, 1)}
        if self._budget:
            memory["budget_mb"] = round(self._budget / 2**20, 1)
        if self.device.torch_device.type == "cuda":
            memory["cuda_allocated_mb"] = round(torch.cuda.memory_allocated(self.device.torch_device) / 2**20)
            memory["cuda_reserved_mb"] = round(torch.cuda.memory_reserved(self.device.torch_device) / 2**20)
        return {
            "device": str(self.device),
            "loaded": loaded,
            "memory": memory,
            "loads": self.loads,
            "unloads": self.unloads,
        }
