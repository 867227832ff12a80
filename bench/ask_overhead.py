"""Benchmark: the per-request overhead of /ask outside the model, with 1,000 stored turns in the chat.

Everything runs side by side in one process, on the same photo and conversation:

* history load: the chat's current conversation (its photo and every stored turn) from SQLite;
* photo decode: the stored photo back into an image;
* prompt building: the chat template with the history trimmed to the model's context (the adapter's fit());
* model: the processor and generate() of a tiny Qwen2.5-VL (scripted to write the same answer every time);
* streamer: the time generate() spends in the streamer that reports partial answers (measured inside it);
* answer send: the answer sent through python-telegram-bot to a local fake Bot API server;
* history save: the new turn stored, the turns that no longer fit trimmed away;
* streamed edit: one editMessageText round trip (a streamed answer makes at most one per second).

The store is reset to the same 1,000 turns before every request. Medians over --requests requests;
the ratio is the overhead over the model's own time. Run from the repository root:

    python bench/ask_overhead.py [--requests 10] [--turns 1000] [--context 4096]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # date, CPU model and load average next to every table; sets HF_HUB_OFFLINE=1

QUESTION = "What is the dog in the corner of this photo doing right now?"
ANSWER = "The dog is lying on a red blanket next to the sofa, looking at the camera."


def photo_jpeg(size=(1280, 960)) -> bytes:
    from PIL import Image

    rng = random.Random(0)
    image = Image.new("RGB", size)
    for x in range(0, size[0], 32):
        for y in range(0, size[1], 32):
            image.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), (x, y, x + 32, y + 32))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def turns(count: int):
    from contract.requests import Turn

    rng = random.Random(1)
    words = [
        "dog",
        "cat",
        "red",
        "blanket",
        "sofa",
        "camera",
        "window",
        "light",
        "tree",
        "car",
        "street",
        "person",
        "table",
        "cup",
        "plate",
    ]
    return [
        Turn(
            f"Question {i}: " + " ".join(rng.choices(words, k=10)) + "?",
            f"Answer {i}: " + " ".join(rng.choices(words, k=40)) + ".",
        )
        for i in range(count)
    ]


async def run(requests: int, stored: int, context: int, workdir: Path) -> None:
    import torch
    from telegram import Message
    from telegram.ext import ExtBot

    from bot.imaging.decoding import ImageDecoder
    from bot.messaging.status import StatusMessage
    from bot.settings import Settings
    from bot.stores.history import ChatHistory, Scope
    from contract.requests import Task, Turn
    from contract.worker import Interrupt
    from models.base import PartialText
    from models.pool import ModelPool
    from tests.support import tiny_models
    from tests.support.bot_process import TOKEN
    from tests.support.fake_telegram import FakeTelegram

    checkpoint = tiny_models.force_answers(
        tiny_models.build_qwen2_5_vl(workdir / "qwen"), workdir / "scripted", {QUESTION: ANSWER}
    )
    settings = Settings(
        telegram_bot_token="t",
        vlm_model=str(checkpoint),
        device="cpu",
        vlm_max_new_tokens=128,
        vlm_context_tokens=context,
        data_dir=workdir / "data",
    )
    decoder = ImageDecoder(settings.max_image_pixels)
    streamer_seconds = [0.0]
    put = PartialText.put

    def timed_put(self, value):  # the streamer's own cost, measured where generate() pays it
        started = time.perf_counter()
        put(self, value)
        streamer_seconds[0] += time.perf_counter() - started

    PartialText.put = timed_put
    adapter = ModelPool(settings).get(Task.ASK)

    scope = Scope(42)
    template = workdir / "template.sqlite3"
    seed = ChatHistory(template)
    seed.open()
    conversation = await seed.start(scope, photo_jpeg(), "file-id", "unique-id")
    for index, turn in enumerate(turns(stored)):
        await seed.add_turn(scope, conversation.id, turn, [10_000 + index])
    seed.close()

    telegram = FakeTelegram(TOKEN).start()
    bot = ExtBot(TOKEN, base_url=telegram.base_url, base_file_url=telegram.base_file_url)
    await bot.initialize()
    user = telegram.user(42, "Bench")
    chat = telegram.private_chat(user)

    timings: dict[str, list[float]] = {
        k: []
        for k in (
            "history load",
            "photo decode",
            "prompt building",
            "model",
            "answer send",
            "history save",
            "streamed edit",
            "streamer",
        )
    }
    kept_turns = []
    try:
        for _ in range(requests + 1):  # the first round warms up caches and lazy imports; it is not counted
            path = workdir / "data" / "bot.sqlite3"
            path.parent.mkdir(exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            shutil.copy(template, path)
            history = ChatHistory(path)
            history.open()
            message = Message.de_json(telegram.message(chat, user, text=f"/ask {QUESTION}"), bot)
            partials: list[str] = []

            streamer_seconds[0] = 0.0
            t0 = time.perf_counter()
            current = await history.current(scope)
            t1 = time.perf_counter()
            image = await decoder.for_command(None, current.image)
            t2 = time.perf_counter()
            prompt, kept = adapter.fit(image, current.turns, QUESTION)
            t3 = time.perf_counter()
            with torch.inference_mode():  # as ModelPool.run does
                (raw,), _ = adapter._generate([prompt], [image], Interrupt(), [partials.append])
            t4 = time.perf_counter()
            status = StatusMessage(message)
            sent = await status.answer(raw)
            t5 = time.perf_counter()
            await history.add_turn(scope, current.id, Turn(QUESTION, raw), [sent.message_id], keep_earlier=kept)
            t6 = time.perf_counter()
            await sent.edit_text(raw + " ▌")
            t7 = time.perf_counter()
            history.close()

            assert raw == ANSWER and partials, raw
            streamer = streamer_seconds[0]
            for name, seconds in zip(
                timings,
                (t1 - t0, t2 - t1, t3 - t2, t4 - t3 - streamer, t5 - t4, t6 - t5, t7 - t6, streamer),
                strict=False,
            ):
                timings[name].append(seconds)
            kept_turns.append(kept)
    finally:
        await bot.shutdown()
        telegram.stop()

    median = {name: statistics.median(values[1:]) for name, values in timings.items()}
    model = median["model"]
    overhead = {
        name: median[name]
        for name in ("history load", "photo decode", "prompt building", "answer send", "history save")
    }
    overhead["streamer in the worker"] = median["streamer"]
    total = sum(overhead.values())

    print(
        f"/ask overhead outside the model: {stored} stored turns, {kept_turns[-1]} fit the tiny model's "
        f"{adapter.context_tokens}-token context, medians of {requests} requests"
    )
    print(f"{'step':<28}{'ms':>9}{'× model':>10}")
    for name, seconds in overhead.items():
        print(f"{name:<28}{seconds * 1000:>9.2f}{seconds / model:>10.3f}")
    print(f"{'total overhead':<28}{total * 1000:>9.2f}{total / model:>10.3f}")
    print(f"{'model (processor+generate)':<28}{model * 1000:>9.2f}{1:>10.3f}")
    edit = median["streamed edit"]
    print(
        f"streamed edits: {edit * 1000:.2f} ms each, at most one per second of generation "
        f"(≤ {edit * 100:.2f}% of the streaming time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--context", type=int, default=4096, help="VLM_CONTEXT_TOKENS (the tiny model allows 4096)")
    args = parser.parse_args()
    print(machine("start"), flush=True)
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.requests, args.turns, args.context, Path(tmp)))
    print(machine("end"))


if __name__ == "__main__":
    main()
