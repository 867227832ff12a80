"""Shared set-up for the benchmarks: tiny checkpoints and in-process queues (no Telegram involved)."""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tiny_blip() -> Path:
    """A tiny random-weight BLIP checkpoint in a temp folder (the same one the tests use)."""
    from tests.support.tiny_models import build_blip_caption

    return build_blip_caption(Path(tempfile.mkdtemp(prefix="bench-blip-")))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:.1f} ms, p99 {percentile(values, 99) * 1000:.1f} ms"
