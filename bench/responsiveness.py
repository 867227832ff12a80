"""How fast /help is answered while the worker runs captions: this bot against a model run on the event loop.

The real Application runs in-process against the fake Bot API server, with a tiny random-weight BLIP
and CLIP built locally (HF_HUB_OFFLINE=1: no hub is ever asked). Quotas are off inside the bench (quota
0 = none; the default quota would refuse most of the captions), and a feeder keeps --backlog captions
waiting at every moment, from before the first /help sample until after the last, so the worker always
has a caption to run. A /help is sent every 50 ms (the feeder and the sender run on threads of their own,
so a blocked event loop can't delay the sending); each batch the worker runs is timed (pool.run on the
worker thread), and the report says how many /help samples were sent while a caption was running, how
many were answered before that caption ended, and the share of the measuring window the worker was busy.
The baseline is the same bot with a backend that runs the model on the event loop itself (what a naive
bot does). Each table comes with the load average and CPU model (bench/_common.py).

This bot runs --rounds times (a fresh bot each round) and the report gives each round's p50/p95/p99, their
median and spread across rounds, and the pooled samples' percentiles: the p99 of one round of 60 samples is its
slowest sample or near it, so one round's p99 alone is noise.

Run: python bench/responsiveness.py [--helps 60] [--rounds 5] [--quick]   (goal: p99 under 50 ms)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
import threading
import time
from pathlib import Path

from _common import machine, percentile, spread, summary, tiny_blip, tiny_clip  # sets HF_HUB_OFFLINE=1
from PIL import Image

CAPTION_TOKENS = 56  # the tiny BLIP has 64 positions


def long_captions(blip: Path) -> Path:
    """The tiny BLIP made to write CAPTION_TOKENS tokens every time (min_new_tokens in its generation config):
    each caption keeps the worker busy for a while, so the gaps between jobs are a small share of the time."""
    path = blip / "generation_config.json"
    config = json.loads(path.read_text())
    config["min_new_tokens"] = CAPTION_TOKENS
    path.write_text(json.dumps(config))
    return blip


def photo() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((96, 96), 40).convert("RGB").save(out, "JPEG")
    return out.getvalue()


class Measured:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.sent: list[float] = []
        self.runs: list[tuple[str, int, float, float]] = []  # task, batch size, start, end (time.time())
        self.window = (0.0, 0.0)
        self.captions_sent = 0
        self.backlog_at_end = 0
        self.failed = 0  # model runs that raised: a bench whose jobs fail measures nothing

    def running_at(self, instant: float) -> tuple[str, int, float, float] | None:
        return next((r for r in self.runs if r[2] <= instant <= r[3]), None)

    def report(self, label: str) -> list[str]:
        during = [self.running_at(s) for s in self.sent]
        in_caption = [r for r in during if r is not None and r[0] == "caption"]
        in_any = [r for r in during if r is not None]
        whole = sum(
            1
            for s, lat, r in zip(self.sent, self.latencies, during, strict=True)
            if r is not None and r[0] == "caption" and s + lat <= r[3]
        )
        start, end = self.window
        busy = sum(max(0.0, min(e, end) - max(s, start)) for _, _, s, e in self.runs)
        tasks = sorted({r[0] for r in self.runs})
        n = len(self.latencies)
        return [
            f"  {label}: {summary(self.latencies)}",
            f"    {len(in_caption)}/{n} /help sent while a caption was running on the worker ({len(in_any)}/{n} while "
            f"a caption or an indexing batch was), {whole}/{n} answered before that caption ended; "
            f"worker busy {busy / (end - start):.0%} of the {end - start:.1f} s window "
            f"({len(self.runs)} model runs: {', '.join(tasks)}); {self.captions_sent} captions sent, "
            f"{self.backlog_at_end} still waiting after the last sample; {self.failed} model runs failed",
        ]


async def measure(blip: Path, clip: Path, inline: bool, helps: int, backlog: int) -> Measured:
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
        caption_max_new_tokens=CAPTION_TOKENS,
        clip_model=str(clip),  # the photos are indexed too: a local tiny CLIP, never the hub's id
        device="cpu",
        max_batch_size=1,
        batch_window_ms=0,  # no idle wait for batch mates between jobs: the next caption starts at once
        queue_max_per_user=10_000,
        queue_max_pending=10_000,
        quota_per_minute={"*": 0},  # 0 = no quota: the default (10 a minute) refuses most captions
        quota_per_day={"*": 0},
    )
    application = build_application(settings)
    backend = application.bot_data["services"].backend
    result = Measured()
    async with application:
        await application.post_init(application)
        pool = backend._pool
        original = pool.run

        def timed_run(task, requests, interrupt, on_partial=None):
            started = time.time()
            try:
                return original(task, requests, interrupt, on_partial)
            except Exception:
                result.failed += 1
                raise
            finally:
                result.runs.append((str(task), len(requests), started, time.time()))

        pool.run = timed_run
        if inline:

            async def run_on_loop(task, requests, interrupt, on_partial=None):  # the naive bot: the loop blocks
                return pool.run(task, list(requests), interrupt)

            backend.run = run_on_loop
        await application.start()
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        worker = tg.user(1, "Busy")
        worker_chat = tg.private_chat(worker)
        data = photo()

        def captions_done() -> int:
            return sum(1 for r in result.runs if r[0] == "caption")

        def send_caption() -> None:
            tg.send_message(worker_chat, worker, photo=data, caption="/caption")
            result.captions_sent += 1

        # The feeder and the /help sampler run on threads of their own: in the naive bot the event loop is
        # blocked while a model runs, and a sampler on that loop could only send in the gaps between runs.
        stop = threading.Event()

        def feeder() -> None:  # keeps `backlog` captions waiting until the last sample is answered
            while not stop.is_set():
                while result.captions_sent - captions_done() < backlog:
                    send_caption()
                time.sleep(0.01)

        feeding = threading.Thread(target=feeder, daemon=True)
        feeding.start()
        while captions_done() < 2:  # the model is loaded and captions run back to back
            await asyncio.sleep(0.05)
        asker = tg.user(2, "Asker")
        asker_chat = tg.private_chat(asker)

        def sampler() -> None:
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
                        result.sent.append(sent)
                        result.latencies.append(answers[0].time - sent)
                        break
                    time.sleep(0.002)
                time.sleep(0.05)

        result.window = (time.time(), 0.0)
        await asyncio.to_thread(sampler)
        result.window = (result.window[0], time.time())
        result.backlog_at_end = result.captions_sent - captions_done()
        stop.set()
        feeding.join()
        await application.updater.stop()
        await application.stop()
        await application.post_shutdown(application)
    tg.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--helps", type=int, default=60, help="/help samples per round (default 60; 20 with --quick)")
    parser.add_argument("--rounds", type=int, default=0, help="rounds of this bot (default 5; 3 with --quick)")
    parser.add_argument("--backlog", type=int, default=8, help="captions kept waiting at every moment")
    parser.add_argument("--quick", action="store_true", help="20 samples a round: about a minute")
    args = parser.parse_args()
    helps = 20 if args.quick and args.helps == 60 else args.helps
    rounds = args.rounds or (3 if args.quick else 5)
    print(machine("start"), flush=True)
    blip, clip = long_captions(tiny_blip()), tiny_clip()
    # This bot in several rounds (a fresh bot each), for a spread; the baseline once (a round of it takes a minute).
    ours = [asyncio.run(measure(blip, clip, inline=False, helps=helps, backlog=args.backlog)) for _ in range(rounds)]
    naive = asyncio.run(measure(blip, clip, inline=True, helps=helps, backlog=args.backlog))
    print()
    print(
        f"/help latency while the worker runs tiny-BLIP captions of {CAPTION_TOKENS} tokens back to back "
        f"({helps} samples a round, {rounds} rounds of this bot and 1 of the baseline, "
        f"{args.backlog} captions always waiting, quotas off, batch size 1, no batch window)"
    )
    print(machine("end"))
    for number, round_ in enumerate(ours, 1):
        print("\n".join(round_.report(f"this bot (worker thread), round {number}")))
    print("\n".join(naive.report("model on the event loop")))
    pooled = [latency for round_ in ours for latency in round_.latencies]
    for q in (50, 95, 99):
        per_round = [percentile(round_.latencies, q) * 1000 for round_ in ours]
        print(f"  this bot, p{q} of each round (ms): {spread(per_round, '.1f')}")
    print(f"  this bot, all {len(pooled)} samples pooled: {summary(pooled)}")
    print(
        f"  p99 ratio ours (pooled) / naive: {percentile(pooled, 99) / percentile(naive.latencies, 99):.2f}  "
        "(goal: ours p99 < 50 ms)"
    )


if __name__ == "__main__":
    main()
