"""Per-job overhead of QUEUE_BACKEND=ray (a local Ray Serve deployment) against the local backend.

Sequential caption jobs with the tiny BLIP through the real GpuQueue and each backend; the difference
of the mean latencies is what Ray costs per job (serialisation, routing, the replica's event loop).
Run: .venv/bin/python bench/ray_overhead.py [--jobs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from _common import ROOT, machine, summary, tiny_blip  # sets HF_HUB_OFFLINE=1
from PIL import Image


async def latencies(settings, jobs: int) -> list[float]:
    from bot.app import make_backend
    from bot.queue.gpu_queue import GpuQueue
    from bot.queue.jobs import Job
    from contract.requests import CaptionRequest

    backend = make_backend(settings)
    await backend.start()
    queue = GpuQueue(backend, max_pending=100, max_per_user=100, job_timeout_s=600, concurrency=backend.concurrency)
    await queue.start()
    image = Image.new("RGB", (64, 64), (200, 100, 50))
    await queue.submit(Job(CaptionRequest(image), user_id=0, chat_id=0)).result()  # load + warm up
    times = []
    for i in range(jobs):
        started = time.perf_counter()
        await queue.submit(Job(CaptionRequest(image), user_id=i, chat_id=i)).result()
        times.append(time.perf_counter() - started)
    await queue.close()
    await backend.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30)
    args = parser.parse_args()
    print(machine("start"), flush=True)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["PYTHONPATH"] = str(ROOT)  # Ray's workers import the project
    from bot.settings import Settings

    blip = str(tiny_blip())
    local = Settings(telegram_bot_token="bench", caption_model=blip, device="cpu")
    ray = local.model_copy(update={"queue_backend": "ray"})
    local_times = asyncio.run(latencies(local, args.jobs))
    ray_times = asyncio.run(latencies(ray, args.jobs))
    overhead = statistics.mean(ray_times) - statistics.mean(local_times)
    print(f"{args.jobs} sequential caption jobs, tiny BLIP, CPU")
    print(f"  local backend: {summary(local_times)}")
    print(f"  ray backend  : {summary(ray_times)}")
    print(
        f"  Ray overhead per job: {overhead * 1000:.1f} ms (mean), "
        f"ratio {statistics.mean(ray_times) / statistics.mean(local_times):.2f}x"
    )
    print(machine("end"))


if __name__ == "__main__":
    main()
