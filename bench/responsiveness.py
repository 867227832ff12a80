"""How fast /help is answered while the worker is busy with long jobs: this bot against a model run on the event loop.

The real Application runs in-process against the fake Bot API server; the worker is kept busy with
caption jobs while /help is sent every 50 ms. The baseline is the same bot with a backend that runs
the model on the event loop itself (what a naive bot does).
Run: .venv/bin/python bench/responsiveness.py [--helps 60]   (goal: p99 under 50 ms)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
from pathlib import Path

from _common import percentile, summary, tiny_blip
from PIL import Image


def photo() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((96, 96), 40).convert("RGB").save(out, "JPEG")
    return out.getvalue()


async def measure(blip: Path, inline: bool, helps: int) -> list[float]:
    from bot.app import build_application
    from bot.settings import Settings
    from tests.support.bot_process import TOKEN
    from tests.support.fake_telegram import FakeTelegram

    tg = FakeTelegram(TOKEN).start()
    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_base_url=tg.base_url,
        telegram_base_file_url=tg.base_file_url,
        data_dir=Path(tempfile.mkdtemp()),
        caption_model=str(blip),
        device="cpu",
        max_batch_size=1,
        queue_max_per_user=100,
        queue_max_pending=1000,
    )
    application = build_application(settings)
    backend = application.bot_data["services"].backend
    if inline:
        pool_run = None

        async def run_on_loop(task, requests, interrupt):  # the naive bot: the model blocks the loop
            return pool_run(task, list(requests), interrupt)

        backend.run = run_on_loop
    async with application:
        await application.post_init(application)
        if inline:
            pool_run = backend._pool.run
        await application.start()
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        worker = tg.user(1, "Busy")
        worker_chat = tg.private_chat(worker)
        data = photo()
        for _ in range(40):
            tg.send_message(worker_chat, worker, photo=data, caption="/caption")
        await asyncio.sleep(2.0)  # the queue is full and the model is loaded
        latencies = []
        asker = tg.user(2, "Asker")
        asker_chat = tg.private_chat(asker)
        for _ in range(helps):
            sent = time.time()
            request = tg.send_message(asker_chat, asker, text="/help")
            while True:
                answers = [
                    c
                    for c in tg.calls("sendMessage")
                    if c.params.get("chat_id") in (2, "2")
                    and (c.params.get("reply_parameters") or {}).get("message_id") == request["message_id"]
                ]
                if answers:
                    latencies.append(answers[0].time - sent)
                    break
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.05)
        await application.updater.stop()
        await application.stop()
        await application.post_shutdown(application)
    tg.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--helps", type=int, default=60)
    args = parser.parse_args()
    blip = tiny_blip()
    ours = asyncio.run(measure(blip, inline=False, helps=args.helps))
    naive = asyncio.run(measure(blip, inline=True, helps=args.helps))
    print(f"/help latency while the worker is busy ({args.helps} requests each)")
    print(f"  this bot (worker thread)  : {summary(ours)}")
    print(f"  model on the event loop   : {summary(naive)}")
    print(f"  p99 ratio ours/naive: {percentile(ours, 99) / percentile(naive, 99):.2f}  (goal: ours p99 < 50 ms)")


if __name__ == "__main__":
    main()
