"""How much memory models may use (MODEL_MEMORY_BUDGET_GB), how much a checkpoint needs, and out-of-memory errors."""

from __future__ import annotations

import json
import logging
import re
import struct
from pathlib import Path

import torch

log = logging.getLogger(__name__)

GIB = 1024**3
# What MODEL_MEMORY_BUDGET_GB=auto leaves free of the device's memory: activations, the KV cache of long
# answers and batches, the CUDA context, allocator slack; on the CPU also the bot itself and chromadb.
HEADROOM_SHARE = 0.2
HEADROOM_MIN = 1 * GIB

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_FLOAT_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}  # stored as these, loaded in the run dtype
_INT_BYTES = {
    "I64": 8,
    "I32": 4,
    "U32": 4,
    "I16": 2,
    "U16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}  # kept as they are (quantized weights, fp8 checkpoints)
# A diffusers variant file ("model.fp16.safetensors") holds the same tensors as the plain one.
_VARIANT = re.compile(r"\.(fp16|fp32|bf16|non_ema|ema)(?=\.)")


def available_bytes(device: torch.device) -> tuple[int, str]:
    """The memory models could use on `device` now, and where that figure comes from (for the log)."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return free, f"{free / GIB:.1f} GB free of {total / GIB:.1f} GB on {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        limit = torch.mps.recommended_max_memory()
        return limit, f"{limit / GIB:.1f} GB recommended for MPS"
    free = _host_available()
    room = _cgroup_room()
    if room is not None and room < free:
        return room, f"{room / GIB:.1f} GB left under this container's memory limit"
    return free, f"{free / GIB:.1f} GB of RAM available"


def _host_available() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise OSError("neither psutil nor /proc/meminfo can tell the available memory")


def _cgroup_room() -> int | None:
    """Bytes left under a cgroup v2 memory limit (a container's), or None when there is no limit."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text()))
    except (OSError, ValueError):
        return None


def resolve_budget(setting: float | str, device: torch.device) -> int:
    """MODEL_MEMORY_BUDGET_GB in bytes: a number as it is (0 = no limit); auto = what the device has free now
    (free VRAM, available RAM) less a headroom of 20% (at least 1 GB). Logged, since every load depends on it."""
    if setting != "auto":
        return int(float(setting) * GIB)
    try:
        free, where = available_bytes(device)
    except (OSError, RuntimeError) as exc:
        log.warning("MODEL_MEMORY_BUDGET_GB=auto: can't tell the memory of %s (%s); no limit", device, exc)
        return 0
    headroom = max(HEADROOM_MIN, int(free * HEADROOM_SHARE))
    budget = max(0, free - headroom)
    log.info(
        "MODEL_MEMORY_BUDGET_GB=auto: %.1f GB for models (%s, less %.1f GB headroom)",
        budget / GIB,
        where,
        headroom / GIB,
    )
    if budget == 0:  # 0 would mean "no limit": keep a limit that refuses every model instead
        return 1
    return budget


def checkpoint_bytes(source: str, dtype: torch.dtype) -> int:
    """What a checkpoint's weights take once loaded in `dtype`, read before loading; 0 when unknown.

    safetensors files are measured from their headers (tensor shapes and stored types: floating weights
    take `dtype`'s size, quantized integer ones keep theirs); .bin/.pt files by their size on disk,
    scaled from fp32. A local directory or a hub model already in the cache; a hub id that isn't is unknown
    (the budget is then checked after loading).
    """
    root = _local_copy(source)
    if root is None:
        return 0
    itemsize = torch.empty((), dtype=dtype).element_size()
    total = 0
    for files in _weight_files(root).values():
        for path in files:
            if path.suffix == ".safetensors":
                total += _safetensors_bytes(path, itemsize)
            else:
                total += path.stat().st_size * itemsize // 4
    return total


def _local_copy(source: str) -> Path | None:
    root = Path(source)
    if root.is_dir():
        return root
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(source, local_files_only=True))
    except (OSError, ValueError):  # not a hub id (ValueError), or not downloaded yet (FileNotFoundError, offline)
        return None


def _weight_files(root: Path) -> dict[Path, list[Path]]:
    """Each folder's weight files, counting each set of tensors once: safetensors over .bin, one variant."""
    folders: dict[Path, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix in WEIGHT_SUFFIXES and path.is_file():
            folders.setdefault(path.parent, []).append(path)
    chosen: dict[Path, list[Path]] = {}
    for folder, files in folders.items():
        safetensors = [p for p in files if p.suffix == ".safetensors"]
        files = safetensors or files
        by_name: dict[str, Path] = {}
        for path in files:
            by_name.setdefault(_VARIANT.sub("", path.name), path)
        chosen[folder] = list(by_name.values())
    return chosen


def _safetensors_bytes(path: Path, itemsize: int) -> int:
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
    total = 0
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for dim in tensor["shape"]:
            count *= dim
        stored = tensor["dtype"]
        total += count * (itemsize if stored in _FLOAT_BYTES else _INT_BYTES.get(stored, 4))
    return total


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` says the device or the host ran out of memory (CUDA OOM, MemoryError, torch's CPU allocator)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


def empty_cache(device: torch.device) -> None:
    """Hand cached blocks back to the device, so the next allocation sees every freed byte."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
