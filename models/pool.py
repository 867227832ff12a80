"""ModelPool: one device's models, loaded lazily under a lock, kept within a memory budget, run under inference mode."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
import transformers
from cachetools import TTLCache

from contract.errors import ErrorKind, ModelUnavailable, WorkerError
from contract.requests import Task
from models.base import Adapter, Device
from models.registry import adapter_for
from models.sources import configured_sources

if TYPE_CHECKING:
    from bot.settings import Settings
    from contract.requests import Request, Result
    from contract.worker import Interrupt, OnPartial

log = logging.getLogger(__name__)

# After a failed load, wait this long before trying again, so a broken model isn't reloaded per request.
RETRY_LOAD_AFTER_S = 60.0
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def module_bytes(obj: Any) -> int:
    """Bytes of parameters and buffers held by a torch module, a diffusers pipeline, or an adapter's attributes."""
    if isinstance(obj, torch.nn.Module):
        tensors = list(obj.parameters()) + list(obj.buffers())
        return sum(t.numel() * t.element_size() for t in tensors)
    components = getattr(obj, "components", None)
    if isinstance(components, dict):
        return sum(module_bytes(c) for c in components.values())
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return sum(module_bytes(v) for v in vars(obj).values() if isinstance(v, torch.nn.Module) or hasattr(v, "components"))
    return 0


def estimate_bytes(source: str, dtype: torch.dtype) -> int:
    """A load's size before loading: the weight files of a local checkpoint, scaled to the run dtype.

    Hub ids that aren't downloaded yet are unknown (0): the budget is then checked after loading.
    """
    root = Path(source)
    if not root.is_dir():
        return 0
    files = [p for p in root.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file()]
    on_disk = sum(p.stat().st_size for p in files)
    # Checkpoints are mostly stored in fp32; fp16 on the GPU halves them.
    return on_disk // 2 if dtype in (torch.float16, torch.bfloat16) else on_disk


@dataclass
class Loaded:
    adapter: Adapter
    source: str
    bytes: int
    last_used: float
    tasks: set[Task]  # /ask and /box share one loaded VLM


class ModelPool:
    """Owns one device's models; the local backend calls it from its single worker thread.

    Residency: models load on first use (or at start, for PRELOAD_MODELS); when loading one would
    exceed MODEL_MEMORY_BUDGET_GB, the least recently used models are unloaded first; models idle for
    MODEL_IDLE_UNLOAD_S are unloaded by `unload_idle()`.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sources = configured_sources(settings)
        self.device = Device.resolve(settings.device)
        self._budget = int(settings.model_memory_budget_gb * 1024**3)
        self._idle_after = settings.model_idle_unload_s
        # One instance per (adapter class, source), least recently used first.
        self._loaded: OrderedDict[tuple[type, str], Loaded] = OrderedDict()
        # Why a task's model failed to load (log reason, kind): remembered a while, so each request doesn't retry.
        self._failures: TTLCache[Task, tuple[str, tuple[ErrorKind, tuple[str, ...]]]] = TTLCache(
            maxsize=len(Task), ttl=RETRY_LOAD_AFTER_S, timer=time.monotonic)
        self._lock = threading.RLock()
        self.loads = 0
        self.unloads = 0
        transformers.utils.logging.disable_progress_bar()  # per-load bars are noise in a service's log
        log.info("models will run on %s", self.device)

    @property
    def tasks(self) -> frozenset[Task]:
        """The tasks this pool has a model setting for."""
        return frozenset(self._sources)

    def preload(self, tasks: Sequence[Task]) -> None:
        """Load these models now instead of on first use; a failure is logged, not raised."""
        for task in tasks:
            try:
                self.get(task)
            except ModelUnavailable:
                pass

    def get(self, task: Task) -> Adapter:
        """The adapter for `task`, loading it on first use; raises ModelUnavailable with the reason logged."""
        with self._lock:
            for key, loaded in self._loaded.items():
                if task in loaded.tasks:
                    loaded.last_used = time.monotonic()
                    self._loaded.move_to_end(key)
                    return loaded.adapter
            return self._load(task)

    def _load(self, task: Task) -> Adapter:
        failed = self._failures.get(task)
        if failed is not None:
            raise ModelUnavailable(f"{task} model unavailable: {failed[0]}", *failed[1])
        source = self._sources[task]
        started = time.monotonic()
        try:
            adapter_cls = adapter_for(task, source)
            key = (adapter_cls, source)
            shared = self._loaded.get(key)
            if shared is not None:  # the same model already serves another task
                shared.tasks.add(task)
                shared.last_used = time.monotonic()
                self._loaded.move_to_end(key)
                return shared.adapter
            self._make_room(estimate_bytes(source, self.device.dtype))
            adapter = adapter_cls.load(source, self.device, self._settings)
        except Exception as exc:  # any load failure: log it clearly, keep the other tasks working
            reason = str(exc) if isinstance(exc, WorkerError) else f"{type(exc).__name__}: {exc}"
            # A specific reason for users (e.g. "this model can't draw boxes") survives; others get the generic one.
            why = (exc.kind, exc.details) if isinstance(exc, ModelUnavailable) else (ErrorKind.MODEL_UNAVAILABLE, ())
            self._failures[task] = (reason, why)
            log.error("the %s model %r could not be loaded: %s", task, source, reason)
            raise ModelUnavailable(f"{task} model unavailable: {reason}", *why) from None
        self._failures.pop(task, None)
        size = module_bytes(adapter)
        self._loaded[key] = Loaded(adapter, source, size, time.monotonic(), {task})
        self.loads += 1
        log.info("loaded %s model %r (%s, %.0f MB) in %.1f s", task, source, type(adapter).__name__,
                 size / 2**20, time.monotonic() - started)
        if self._budget and self.resident_bytes() > self._budget:
            self._make_room(0, keep=key)
        return adapter

    def _make_room(self, needed: int, keep: tuple[type, str] | None = None) -> None:
        """Unload least recently used models until `needed` more bytes fit the budget."""
        if not self._budget:
            return
        for key in list(self._loaded):
            if self.resident_bytes() + needed <= self._budget:
                return
            if key != keep:
                self._unload(key, "to stay within the memory budget")
        if self.resident_bytes() + needed > self._budget:
            log.warning("the models in use need more than MODEL_MEMORY_BUDGET_GB=%s", self._settings.model_memory_budget_gb)

    def _unload(self, key: tuple[type, str], why: str) -> None:
        loaded = self._loaded.pop(key)
        tasks = "+".join(sorted(str(t) for t in loaded.tasks))
        log.info("unloaded %s model %r (%.0f MB) %s", tasks, loaded.source, loaded.bytes / 2**20, why)
        del loaded
        gc.collect()
        if self.device.torch_device.type == "cuda":
            torch.cuda.empty_cache()
        self.unloads += 1

    def unload_idle(self) -> None:
        """Unload models unused for MODEL_IDLE_UNLOAD_S (0 = keep them)."""
        if not self._idle_after:
            return
        with self._lock:
            now = time.monotonic()
            for key, loaded in list(self._loaded.items()):
                if now - loaded.last_used >= self._idle_after:
                    self._unload(key, f"after {self._idle_after:.0f} s idle")

    def resident_bytes(self) -> int:
        return sum(loaded.bytes for loaded in self._loaded.values())

    def run(
        self, task: Task, requests: Sequence[Request], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Result]:
        with self._lock:
            adapter = self.get(task)
            with torch.inference_mode():
                if on_partial is not None and getattr(adapter, "streams", False):
                    results = adapter.run(requests, interrupt, on_partial)
                else:
                    results = adapter.run(requests, interrupt)
            for loaded in self._loaded.values():
                if loaded.adapter is adapter:
                    loaded.last_used = time.monotonic()
            return results

    def close(self) -> None:
        with self._lock:
            for key in list(self._loaded):
                self._unload(key, "at shutdown")

    def stats(self) -> dict[str, object]:
        """Loaded models, device memory and load counts (a snapshot; safe to call from any thread)."""
        now = time.monotonic()
        loaded = {
            "+".join(sorted(str(t) for t in m.tasks)): {
                "source": m.source, "mb": round(m.bytes / 2**20, 1), "idle_s": round(now - m.last_used)
            }
            for m in list(self._loaded.values())
        }
        memory: dict[str, object] = {"models_mb": round(self.resident_bytes() / 2**20, 1)}
        if self._budget:
            memory["budget_mb"] = round(self._budget / 2**20, 1)
        if self.device.torch_device.type == "cuda":
            memory["cuda_allocated_mb"] = round(torch.cuda.memory_allocated(self.device.torch_device) / 2**20)
            memory["cuda_reserved_mb"] = round(torch.cuda.memory_reserved(self.device.torch_device) / 2**20)
        return {"device": str(self.device), "loaded": loaded, "memory": memory, "loads": self.loads,
                "unloads": self.unloads}
