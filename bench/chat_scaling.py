"""Open files and memory against the number of chats: PhotoIndex (embedded chromadb), one photo per chat.

Each chat is a chromadb collection. chromadb 1.5.9 keeps every collection it has loaded open (~4 files,
~2.6 MB each); PhotoIndex now keeps at most `max_open` loaded (64 by default) and reopens the store past
that (see bot/stores/photo_index.py). Rows, each mode in a fresh subprocess:

* bounded (this bot): chats added up to each of --chats (1k, 5k, 10k by default), then --searches random
  chats searched (almost always a chat that is not loaded: the first search after an unload), and the
  same chat again (loaded);
* unbounded (`max_open` past the number of chats: how the bot behaved before), up to --baseline chats only:
  beyond that it needs more files than the limit here allows (~4 a chat) and several GB.

Then, the first search of a bigger chat after the store was reopened: a collection saves its vector index
every SYNC_THRESHOLD photos and replays the photos since from chromadb's log when it is loaded again, so the
rows compare this bot's 100 with chromadb's default of 1000 (collections made before this change).

Vectors are random 768-d unit vectors (CLIP ViT-L/14's size); the store lives on a tmpfs (/dev/shm) unless
--disk, so times leave out SQLite's disk syncs (files and memory are the same either way).

    python bench/chat_scaling.py                       # ~5 minutes on 2 cores
    python bench/chat_scaling.py --chats 1000,2000 --baseline 1000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, percentile  # also puts the project on sys.path; sets HF_HUB_OFFLINE=1

from bot.stores import photo_index
from bot.stores.photo_index import ModelSpec, PhotoIndex, PhotoRecord

SPEC = ModelSpec("openai/clip-vit-large-patch14", 768)
FIRST_CHAT = 1_000_001
UNBOUNDED = 10**9


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def unit_vectors(rng: np.random.Generator, count: int, dim: int = SPEC.dim) -> np.ndarray:
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def record(chat_id: int, number: int) -> PhotoRecord:
    return PhotoRecord(
        key=f"AQAD{chat_id}x{number:06d}",
        chat_id=chat_id,
        file_id=f"AgACAgIAAxkBAAI{number:060d}",
        message_id=number + 1,
        sender_id=chat_id,
        sender="Ann",
        date=1_700_000_000 + number,
    )


# -- the child: one mode, one store --------------------------------------------------------------------


def scale(data_dir: Path, checkpoints: list[int], bounded: bool, searches: int) -> None:
    """Add one photo per chat up to each checkpoint; after each, search random chats. One JSON line each."""
    rng = np.random.default_rng(0)
    index = PhotoIndex(data_dir, max_open=None if bounded else UNBOUNDED)
    index.open()
    start_files, start_rss = open_files(), rss_mb()
    vectors: dict[int, np.ndarray] = {}
    most, made, before = open_files(), 0, 0
    for checkpoint in checkpoints:
        began = time.perf_counter()
        while made < checkpoint:
            chat = FIRST_CHAT + made
            vectors[chat] = unit_vectors(rng, 1)[0]
            index.add(chat, SPEC, [record(chat, made)], [vectors[chat]])
            made += 1
            if bounded or made % 25 == 0:  # listing 40,000 descriptors each time would slow the baseline
                most = max(most, open_files())
        add_ms = (time.perf_counter() - began) * 1000 / max(1, checkpoint - before)
        before = checkpoint
        files_now, rss_now = open_files(), rss_mb()
        first, again, wrong = [], [], 0
        for chat in random.Random(checkpoint).sample(sorted(vectors), min(searches, len(vectors))):
            for times in (first, again):
                began = time.perf_counter()
                found = index.query(chat, SPEC, vectors[chat], k=5)
                times.append(time.perf_counter() - began)
                wrong += [m.record.chat_id for m in found] != [chat]
            most = max(most, open_files())
        print(
            json.dumps(
                {
                    "chats": checkpoint,
                    "bounded": bounded,
                    "max_open": index.max_open,
                    "start_files": start_files,
                    "files": files_now,
                    "most_files": max(most, files_now),
                    "start_rss_mb": start_rss,
                    "rss_mb": rss_now,
                    "add_ms": add_ms,
                    "first_ms": [statistics.median(first) * 1000, percentile(first, 95) * 1000],
                    "again_ms": [statistics.median(again) * 1000, percentile(again, 95) * 1000],
                    "wrong": wrong,
                }
            ),
            flush=True,
        )
    index.close()


def reload(data_dir: Path, sizes: list[int], sync_threshold: int, rounds: int) -> None:
    """The first search of a chat of each size after the store was reopened, with this sync threshold."""
    rng = np.random.default_rng(1)
    photo_index.SYNC_THRESHOLD = sync_threshold  # what collections are made with (1000: as chromadb's default)
    index = PhotoIndex(data_dir)
    for size in sizes:
        chat = FIRST_CHAT + size
        vectors = unit_vectors(rng, size)
        for start in range(0, size, 16):  # the bot indexes photos in small batches
            batch = range(start, min(size, start + 16))
            index.add(chat, SPEC, [record(chat, i) for i in batch], vectors[start : start + 16])
    query = unit_vectors(rng, 1)[0]
    first: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(rounds):
        for size in sizes:
            index.close()  # every collection unloaded: the next search loads this one from disk
            index.open()
            began = time.perf_counter()
            index.query(FIRST_CHAT + size, SPEC, query, k=5)
            first[size].append(time.perf_counter() - began)
    index.close()
    print(
        json.dumps(
            {
                "sync_threshold": sync_threshold,
                "first_ms": {size: statistics.median(t) * 1000 for size, t in first.items()},
            }
        ),
        flush=True,
    )


# -- the parent ----------------------------------------------------------------------------------------


def child(args: argparse.Namespace, *extra: str) -> list[dict]:
    parent = Path("/dev/shm") if Path("/dev/shm").is_dir() and not args.disk else None
    data_dir = Path(tempfile.mkdtemp(prefix="bench-chats-", dir=parent))
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--data-dir", str(data_dir), *extra], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise SystemExit(f"{extra} failed:\n{out.stderr[-3000:]}")
        return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", default="1000,5000,10000", help="checkpoints, comma separated")
    parser.add_argument("--baseline", default="1000", help="checkpoints of the unbounded run ('' for none)")
    parser.add_argument("--searches", type=int, default=300, help="random chats searched at each checkpoint")
    parser.add_argument("--sizes", default="1,99,500,950", help="photos per chat for the first-search rows")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--disk", action="store_true", help="keep the store in a temp folder on disk")
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scale", choices=("bounded", "unbounded"), help=argparse.SUPPRESS)
    parser.add_argument("--reload", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x.strip()]

    if args.scale:
        return scale(args.data_dir, ints(args.chats), args.scale == "bounded", args.searches)
    if args.reload:
        return reload(args.data_dir, ints(args.sizes), args.reload, args.rounds)

    import resource

    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    print(machine("start"))
    print(f"file limit {limit}; store on {'disk' if args.disk else 'tmpfs'}")
    rows = child(args, "--scale", "bounded", "--chats", args.chats, "--searches", str(args.searches))
    if args.baseline:
        rows += child(args, "--scale", "unbounded", "--chats", args.baseline, "--searches", str(args.searches))
    print(
        "\n| chats | loaded at most | open files (most) | RSS MB | RSS per 1,000 more chats | add ms/chat "
        "| search a random chat p50 / p95 ms | the same chat again p50 ms | wrong |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    previous: dict[bool, tuple[int, float]] = {}
    for row in rows:
        loaded = row["max_open"] if row["bounded"] else "all (before)"
        chats, rss = previous.get(row["bounded"], (0, row["start_rss_mb"]))  # the growth since the row above
        per_1000 = (row["rss_mb"] - rss) * 1000 / (row["chats"] - chats)
        previous[row["bounded"]] = (row["chats"], row["rss_mb"])
        print(
            f"| {row['chats']:,} | {loaded} | {row['most_files']:,} | {row['rss_mb']:,.0f} | {per_1000:,.0f} "
            f"| {row['add_ms']:.1f} | {row['first_ms'][0]:.1f} / {row['first_ms'][1]:.1f} "
            f"| {row['again_ms'][0]:.1f} | {row['wrong']} |"
        )
    sizes = ints(args.sizes)
    reloads = [
        child(args, "--reload", str(threshold), "--sizes", args.sizes, "--rounds", str(args.rounds))[0]
        for threshold in (photo_index.SYNC_THRESHOLD, 1000)
    ]
    print(f"\nFirst search of a chat after the store was reopened, p50 of {args.rounds} (ms):\n")
    print("| saved every | " + " | ".join(f"{size} photos" for size in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for result in reloads:
        label = f"{result['sync_threshold']} photos" + (
            " (this bot)" if result["sync_threshold"] != 1000 else " (chromadb's default; older collections)"
        )
        print(f"| {label} | " + " | ".join(f"{result['first_ms'][str(size)]:.1f}" for size in sizes) + " |")
    print()
    print(machine("end"))


if __name__ == "__main__":
    main()
