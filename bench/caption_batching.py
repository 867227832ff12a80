"""32 concurrent /caption jobs through the real GpuQueue + LocalBackend: batched against one at a time.

Run: .venv/bin/python bench/caption_batching.py [--jobs 32] [--batch 32] [--repeats 3]
Prints both wall times and their ratio (goal: batched ≤ 0.5× unbatched).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import machine, tiny_blip  # sets HF_HUB_OFFLINE=1
from PIL import Image


async def wall_time(settings, jobs: int, batch: int) -> tuple[float, list[str]]:
    from bot.queue.gpu_queue import GpuQueue
    from bot.queue.jobs import Job
    from bot.queue.local import LocalBackend
    from contract.requests import CaptionRequest

    backend = LocalBackend(settings)
    await backend.start()
    queue = GpuQueue(backend, max_pending=1000, max_per_user=1000, job_timeout_s=600, max_batch_size=batch)
    await queue.start()
    images = [Image.new("RGB", (64, 64), (i * 7 % 256, 80, 160)) for i in range(jobs)]
    await queue.submit(Job(CaptionRequest(images[0]), user_id=0, chat_id=0)).result()  # load + warm up
    started = time.perf_counter()
    tickets = [queue.submit(Job(CaptionRequest(img), user_id=i % 8, chat_id=i % 8)) for i, img in enumerate(images)]
    results = await asyncio.gather(*(t.result() for t in tickets))
    elapsed = time.perf_counter() - started
    await queue.close()
    await backend.close()
    return elapsed, [r.text for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine("start"), flush=True)
    from bot.settings import Settings

    settings = Settings(telegram_bot_token="bench", caption_model=str(tiny_blip()), device="cpu")
    unbatched, batched = [], []
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        one_by_one, alone = asyncio.run(wall_time(settings, args.jobs, 1))
        together, in_batch = asyncio.run(wall_time(settings, args.jobs, args.batch))
        same = sum(a == b for a, b in zip(alone, in_batch, strict=False))
        unbatched.append(one_by_one)
        batched.append(together)
    u, b = min(unbatched), min(batched)
    print(f"  captions identical batched and alone: {same} of {args.jobs}")
    print(f"{args.jobs} concurrent captions, tiny BLIP, CPU (best of {args.repeats})")
    print(f"  one at a time : {u:.3f} s")
    print(f"  batched (≤{args.batch}): {b:.3f} s")
    print(f"  ratio batched/unbatched: {b / u:.2f}  (goal ≤ 0.50)")
    print(machine("end"))


if __name__ == "__main__":
    main()
