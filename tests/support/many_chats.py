"""Fills a PhotoIndex with one photo in each of many chats, searches every chat, and reports open files and memory.

Run as a subprocess (`python -m tests.support.many_chats SPEC.json`) so that a test can give it a low file limit.
The spec: data_dir, chats (a list of chat ids), model, dim, and photos ({chat id: [file_id, file_unique_id,
message_id]} for chats whose photo must be real to the fake Telegram; the others get made-up ids). Prints one
JSON line: open files (most, at start), memory (RSS after every 1000 chats), wrong answers and errors.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time
from pathlib import Path

from bot.stores.photo_index import ModelSpec, PhotoIndex, PhotoRecord


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def unit(seed: int, dim: int) -> list[float]:
    rng = random.Random(seed)
    vector = [rng.gauss(0, 1) for _ in range(dim)]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    chats: list[int] = spec["chats"]
    photos: dict[str, list[str]] = spec.get("photos", {})
    model = ModelSpec(spec["model"], spec["dim"])
    index = PhotoIndex(Path(spec["data_dir"]))
    index.open()
    report: dict = {
        "file_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "max_open": index.max_open,
        "files_at_start": open_files(),
        "rss_mb_at_start": rss_mb(),
        "rss_mb": {},
        "wrong": [],
        "errors": [],
    }
    most = open_files()
    keys = {}
    started = time.monotonic()
    for number, chat in enumerate(chats, start=1):
        file_id, key, message_id = photos.get(str(chat), (f"made-up-file-{chat}", f"made-up-{chat}", number))
        keys[chat] = key
        record = PhotoRecord(
            key=key, chat_id=chat, file_id=file_id, message_id=message_id, sender="Ann", date=1_700_000_000 + number
        )
        index.add(chat, model, [record], [unit(chat, model.dim)])
        most = max(most, open_files())
        if number % 1000 == 0:
            report["rss_mb"][number] = rss_mb()
    report["add_s"] = time.monotonic() - started
    started = time.monotonic()
    for order in (chats, chats[::-1])[: spec.get("passes", 2)]:  # each pass loads every collection again
        for chat in order:
            try:
                found = [m.record.key for m in index.query(chat, model, unit(chat, model.dim), k=5)]
            except Exception as exc:  # counted, not raised: the test shows how many chats failed
                report["errors"].append(f"{chat}: {type(exc).__name__}: {exc}"[:200])
                continue
            if found != [keys[chat]]:
                report["wrong"].append([chat, found])
            most = max(most, open_files())
    report["query_s"] = time.monotonic() - started
    report["queries"] = spec.get("passes", 2) * len(chats)
    report["rss_mb_after_queries"] = rss_mb()
    report["most_files"] = most
    index.close()
    report["files_after_close"] = open_files()
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
