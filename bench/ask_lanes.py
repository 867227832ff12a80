"""/ask at serving time, side by side in one run: batched answers vs one at a time, and a /caption's latency while a
long /ask decodes, with and without the VLM's own lane.

The real GpuQueue and LocalBackend (worker threads, ModelPool) run in-process with tiny random-weight checkpoints
(Qwen2.5-VL and BLIP); no Telegram involved. The VLM writes exactly VLM_MAX_NEW_TOKENS tokens per answer (its
generation config sets min_new_tokens), so every answer costs the same either way.

* batching: four users' /ask questions submitted at once (--tokens each), answered in one batch
  (BATCH_SIZES ask=4) against one at a time (ask=1); the wall time until the last answer. Goal: batched <= 0.5x.
* lanes: a long /ask (--long-tokens) starts streaming, then one /caption is sent; its latency from submit to
  result, with lanes (the VLM on its own worker thread) and without (every model on one thread, as before).
  Goal: <= 2 s with lanes.

The two sides alternate for --rounds rounds (their order turned every round); medians and spreads are printed.
Tiny models make the model's own time small, so these figures show the serving design, not what a real model gets.
Run from the repository root:  python bench/ask_lanes.py [--rounds 7] [--tokens 128] [--long-tokens 2000] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # date, CPU model and load average next to every table; sets HF_HUB_OFFLINE=1
    machine,
    spread,
    turned,
)

QUESTIONS = ["Why?", "What colour is the square?", "How many are there?", "Anything else in this picture?"]


def photo(seed: int):
    from PIL import Image

    return Image.effect_noise((160, 120), 40 + seed).convert("RGB")


def fixed_length_vlm(workdir: Path) -> Path:
    """A tiny Qwen2.5-VL whose every answer is visible text and runs to VLM_MAX_NEW_TOKENS."""
    from transformers import GenerationConfig

    from tests.support import tiny_models

    checkpoint = tiny_models.force_answers(tiny_models.build_qwen2_5_vl(workdir / "qwen"), workdir / "vlm", {})
    generation = GenerationConfig.from_pretrained(checkpoint)
    generation.min_new_tokens = 1_000_000  # never stop early: exactly max_new_tokens
    generation.save_pretrained(checkpoint)
    return checkpoint


async def with_queue(settings, lanes: bool, batch_sizes: dict[str, int], scenario):
    from bot.queue.gpu_queue import GpuQueue
    from bot.queue.local import LocalBackend
    from contract.requests import AskRequest, CaptionRequest, Task
    from contract.worker import Interrupt

    backend = LocalBackend(settings, lanes=lanes)
    await backend.start()
    # Load and warm both models outside the timing.
    await backend.run(Task.ASK, [AskRequest(photo(9), "Warm up.")], Interrupt())
    await backend.run(Task.CAPTION, [CaptionRequest(photo(8))], Interrupt())
    queue = GpuQueue(
        backend,
        max_pending=100,
        max_per_user=10,
        job_timeout_s=600,
        max_batch_size=8,
        batch_sizes=batch_sizes,
        batch_window_s=0.005,
        concurrency=backend.concurrency,
        worker_for=backend.worker_for,
    )
    await queue.start()
    try:
        return await scenario(queue)
    finally:
        await queue.close()
        await backend.close()


async def four_asks(queue) -> float:
    from bot.queue.jobs import Job
    from contract.requests import AskRequest

    started = time.perf_counter()
    tickets = [
        queue.submit(Job(AskRequest(photo(i), q), user_id=100 + i, chat_id=100 + i)) for i, q in enumerate(QUESTIONS)
    ]
    await asyncio.gather(*(t.result() for t in tickets))
    return time.perf_counter() - started


async def caption_during_long_ask(queue) -> tuple[float, float]:
    """(the caption's latency, the long answer's time)"""
    from bot.queue.jobs import Job
    from contract.requests import AskRequest, CaptionRequest

    started = time.perf_counter()
    long_ask = queue.submit(Job(AskRequest(photo(0), "Tell me a long story."), user_id=1, chat_id=1))
    while not long_ask.partial:  # decoding has begun
        await long_ask.wait_changed(0.05)
    await asyncio.sleep(0.3)
    sent = time.perf_counter()
    await queue.submit(Job(CaptionRequest(photo(1)), user_id=2, chat_id=2)).result()
    latency = time.perf_counter() - sent
    await long_ask.result()
    return latency, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (at least 7 for a spread)")
    parser.add_argument("--tokens", type=int, default=128, help="tokens of each of the four answers")
    parser.add_argument(
        "--long-tokens",
        type=int,
        default=2000,
        help="tokens of the long answer (the tiny VLM allows 2048: half its context)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per lane (on a busy 2-core machine, OpenMP teams made tiny-model timings erratic)",
    )
    args = parser.parse_args()
    print(machine("start"), flush=True)
    import logging
    import warnings

    import torch

    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", message="Unfeasible length constraints")  # min_new_tokens, on purpose
    from bot.settings import Settings
    from models.base import Device
    from tests.support import tiny_models

    workdir = Path(tempfile.mkdtemp(prefix="bench-ask-lanes-"))
    common = {
        "telegram_bot_token": "t",
        "vlm_model": str(fixed_length_vlm(workdir)),
        "device": "cpu",
        "caption_model": str(tiny_models.build_blip_caption(workdir / "blip")),
        "data_dir": workdir / "data",
    }
    short = Settings(vlm_max_new_tokens=args.tokens, **common)
    long = Settings(vlm_max_new_tokens=args.long_tokens, **common)
    device = Device.resolve(short.device, short.dtype)

    batched, alone, with_lanes, without_lanes, long_with, long_without = [], [], [], [], [], []
    for number in range(args.rounds):
        for batch, walls in turned([({"ask": 4}, batched), ({"ask": 1}, alone)], number):
            walls.append(asyncio.run(with_queue(short, True, batch, four_asks)))
        for lanes, latencies, tooks in turned(
            [(True, with_lanes, long_with), (False, without_lanes, long_without)], number
        ):
            latency, took = asyncio.run(with_queue(long, lanes, {}, caption_during_long_ask))
            latencies.append(latency)
            tooks.append(took)

    median = statistics.median
    print(
        f"tiny Qwen2.5-VL + BLIP on {device}, {args.threads} torch thread(s), {args.rounds} rounds "
        "(medians and per-round values; the sides alternate, their order turned every round)"
    )
    print(f"four concurrent /ask answers of {args.tokens} tokens, wall time until the last one:")
    print(f"  batched (one generate for 4) : {median(batched):6.2f} s   {fmt(batched)}")
    print(f"  one at a time                : {median(alone):6.2f} s   {fmt(alone)}")
    ratios = [b / a for b, a in zip(batched, alone, strict=True)]
    print(f"  ratio batched/one-at-a-time, per round: {spread(ratios)}   (goal <= 0.5)")
    print(
        f"/caption latency while a {args.long_tokens}-token /ask decodes "
        f"(the /ask took {median(long_with):.1f} s with lanes, {median(long_without):.1f} s without):"
    )
    print(f"  with lanes    : {median(with_lanes):6.2f} s   {fmt(with_lanes)}   (goal <= 2 s)")
    print(f"  without lanes : {median(without_lanes):6.2f} s   {fmt(without_lanes)}")
    print(machine("end"))


def fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


if __name__ == "__main__":
    main()
