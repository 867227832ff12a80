"""Per-job overhead of QUEUE_BACKEND=ray (a local Ray Serve deployment) against the local backend.

Sequential caption jobs with the tiny BLIP through the real GpuQueue and each backend, in alternating rounds
(both backends started and warm, the order turned every round); per round, the difference of the mean
latencies is what Ray costs per job (serialisation, routing, the replica's event loop), reported as the
median and spread over the rounds.
Run: .venv/bin/python bench/ray_overhead.py [--rounds 7] [--jobs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from _common import ROOT, machine, spread, summary, tiny_blip, turned  # sets HF_HUB_OFFLINE=1
from PIL import Image


async def interleaved(settings: dict, rounds: int, jobs: int) -> dict[str, list[list[float]]]:
    """Per backend, the latencies of `jobs` sequential caption jobs in each of `rounds` rounds. Both backends are
    started and warmed up first; the rounds then alternate between them, the order turned every round, so
    whatever else the machine does falls on both alike."""
    from bot.app import make_backend
    from bot.queue.gpu_queue import GpuQueue
    from bot.queue.jobs import Job
    from contract.requests import CaptionRequest

    image = Image.new("RGB", (64, 64), (200, 100, 50))
    running = {}
    for name, one in settings.items():
        backend = make_backend(one)
        await backend.start()
        queue = GpuQueue(backend, max_pending=100, max_per_user=100, job_timeout_s=600, concurrency=backend.concurrency)
        await queue.start()
        await queue.submit(Job(CaptionRequest(image), user_id=0, chat_id=0)).result()  # load + warm up
        running[name] = (backend, queue)
    times: dict[str, list[list[float]]] = {name: [] for name in settings}
    for number in range(rounds):
        for name in turned(list(settings), number):
            queue = running[name][1]
            round_times = []
            for i in range(jobs):
                started = time.perf_counter()
                await queue.submit(Job(CaptionRequest(image), user_id=i, chat_id=i)).result()
                round_times.append(time.perf_counter() - started)
            times[name].append(round_times)
    for backend, queue in running.values():
        await queue.close()
        await backend.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (at least 7 for a spread)")
    parser.add_argument("--jobs", type=int, default=10, help="sequential jobs per backend per round")
    args = parser.parse_args()
    print(machine("start"), flush=True)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["PYTHONPATH"] = str(ROOT)  # Ray's workers import the project
    from bot.settings import Settings

    blip = str(tiny_blip())
    local = Settings(telegram_bot_token="bench", caption_model=blip, device="cpu")
    ray = local.model_copy(update={"queue_backend": "ray"})
    times = asyncio.run(interleaved({"local": local, "ray": ray}, args.rounds, args.jobs))
    means = {name: [statistics.mean(r) for r in rounds] for name, rounds in times.items()}
    overhead = [(ray_ - local_) * 1000 for ray_, local_ in zip(means["ray"], means["local"], strict=True)]
    ratio = [ray_ / local_ for ray_, local_ in zip(means["ray"], means["local"], strict=True)]
    pooled = {name: [t for r in rounds for t in r] for name, rounds in times.items()}
    print(
        f"sequential caption jobs, tiny BLIP, CPU: {args.rounds} alternating rounds of {args.jobs} jobs per backend "
        "(both backends started and warm; the order turned every round)"
    )
    print(f"  local backend, all {len(pooled['local'])} jobs: {summary(pooled['local'])}")
    print(f"  ray backend, all {len(pooled['ray'])} jobs  : {summary(pooled['ray'])}")
    print(f"  Ray overhead per job, ms (ray mean - local mean, per round): {spread(overhead, '.1f')}")
    print(f"  ratio ray/local, per round: {spread(ratio)}")
    print(machine("end"))


if __name__ == "__main__":
    main()
