"""Shared set-up for the benchmarks: tiny checkpoints, the machine's state, spreads of repeated rounds.

Imported by a bench script (the program run is a file of bench/), this module sets HF_HUB_OFFLINE=1 (and
TRANSFORMERS_OFFLINE=1) for the bench and its children: no bench ever reaches a model hub; every model is
built locally from a config, with random weights. (A test that imports a bench module keeps its own
environment.)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TypeVar

if sys.argv and sys.argv[0] and Path(sys.argv[0]).resolve().parent == Path(__file__).resolve().parent:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
sys.path.insert(0, str(ROOT))


def tiny_blip() -> Path:
    """A tiny random-weight BLIP checkpoint in a temp folder (the same one the tests use)."""
    from tests.support.tiny_models import build_blip_caption

    return build_blip_caption(Path(tempfile.mkdtemp(prefix="bench-blip-")))


def tiny_clip() -> Path:
    """A tiny random-weight CLIP checkpoint in a temp folder (the same one the tests use)."""
    from tests.support.tiny_models import build_clip

    return build_clip(Path(tempfile.mkdtemp(prefix="bench-clip-")))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:.1f} ms, p99 {percentile(values, 99) * 1000:.1f} ms"


def spread(values: list[float], fmt: str = ".2f") -> str:
    """'median (IQR q1–q3, min–max lo–hi, n rounds)' of repeated rounds' values."""
    if len(values) < 2:
        return f"{values[0]:{fmt}} (1 round)" if values else "no rounds"
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return (
        f"{statistics.median(values):{fmt}} (IQR {q1:{fmt}}–{q3:{fmt}}, "
        f"min–max {min(values):{fmt}}–{max(values):{fmt}}, {len(values)} rounds)"
    )


def turned(sides: list[T], round_: int) -> list[T]:
    """The sides compared in round `round_` of an alternating bench, in the order they run: reversed every other
    round, so a neighbour's load that comes and goes falls on each side alike."""
    return sides[::-1] if round_ % 2 else list(sides)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, with its family/model numbers and the vector units that
    matter to torch (a virtual machine often shows only a generic name such as 'AMD EPYC')."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    units = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    numbers = ", ".join(f"{k} {fields[k]}" for k in ("cpu family", "model") if k in fields)
    return f"{fields.get('model name', 'unknown CPU')} ({'; '.join(x for x in (numbers, ' '.join(units)) if x)})"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def machine(label: str = "") -> str:
    """One line to print next to every table: when, on which CPU, under what load.

    The load average counts runnable processes, this bench's own included: on a 2-core machine a value
    well above the bench's own thread count means other work shared the cores while it ran."""
    threads = ""
    if "torch" in sys.modules:
        threads = f", torch {sys.modules['torch'].__version__} with {sys.modules['torch'].get_num_threads()} threads"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    prefix = f"[{label}] " if label else ""
    return f"{prefix}{stamp}, {cpu_model()}, {os.cpu_count()} CPUs visible{threads}; {load_average()}"
