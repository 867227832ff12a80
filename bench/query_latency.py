"""/find query latency on the bot's PhotoIndex (embedded chromadb), p50/p95, with synthetic unit vectors.

Layouts, measured in one run:

* one chat with --single photos (default 100,000), through `PhotoIndex.query` (the bot's own path: the
  chat's collection handle, the stale-model check, the query, the records);
* many chats, one collection each (this bot's layout): --chats chats of --per-chat photos, and --big-chats
  chats of --big-per-chat photos (the per-chat size of "1M photos over 1000 chats"), each with three rows:
  - first query after a restart: measured in a FRESH PROCESS per sample (--cold processes, a subprocess of
    this script each): the store is opened, then one random chat's query is timed: what a user waits for
    right after the bot (re)starts, chromadb's first-use costs in the process included;
  - first query of a chat in a warm process: in the same fresh process, after that first query, another
    random chat's first query (its collection is loaded from disk, the process is warm);
  - later queries: chats already loaded in this process (8 of them, under the 64 kept loaded).
  The store's files are in the OS page cache either way (as on a running server), not read from a cold disk.
* one shared collection with a chat filter (the layout this bot does not use): the --single photos tagged
  with 1000 chat ids (sender_id), queried with `where={"sender_id": chat}`: the same data as the first row,
  so the rows differ only in the filter.

Building costs most of the time (chromadb adds ~700 vectors/s on 2 cores): 1M vectors would take ~25
minutes, so the default measures 1000 chats x 100 photos (the real number of collections) and 20 chats x
1000 photos (the real per-chat size) instead; `--per-chat 1000` builds the full 1M. --data keeps the
stores between runs (a later run with the same sizes skips the build).

    python bench/query_latency.py                      # ~6 minutes on 2 cores
    python bench/query_latency.py --quick              # 10,000 / 100 chats / 5 big chats: ~1-2 minutes

Every table comes with the load average and CPU model at the start and end (bench/_common.py).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from _common import machine  # sets HF_HUB_OFFLINE=1; puts the project on sys.path

from bot.stores.photo_index import ModelSpec, PhotoIndex, PhotoRecord

SPEC = ModelSpec("openai/clip-vit-large-patch14", 768)
ADD_CHUNK = 5000
SHARED_GROUPS = 1000


def unit_vectors(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def records(chat_id: int, start: int, count: int) -> list[PhotoRecord]:
    """Realistic metadata: Telegram-sized ids, a sender, a date, a short caption."""
    return [
        PhotoRecord(
            key=f"AQAD{chat_id}x{i:09d}",
            chat_id=chat_id,
            file_id=f"AgACAgIAAxkBAAI{i:060d}",
            message_id=i + 1,
            sender_id=i % SHARED_GROUPS,
            sender="Ann",
            date=1_700_000_000 + i,
            caption="holiday" if i % 7 == 0 else "",
        )
        for i in range(start, start + count)
    ]


def fill(index: PhotoIndex, chat_id: int, count: int, rng: np.random.Generator) -> None:
    have = sum(index.count_generation(g) for g in index.generations(chat_id))
    for start in range(have, count, ADD_CHUNK):
        size = min(ADD_CHUNK, count - start)
        index.add(chat_id, SPEC, records(chat_id, start, size), unit_vectors(rng, size, SPEC.dim))


def build(index: PhotoIndex, label: str, chats: list[int], per_chat: int, rng: np.random.Generator) -> None:
    started = time.perf_counter()
    before = sum(index.count_generation(g) for g in index.generations(chats[0]))
    total = len(chats) * per_chat
    for n, chat_id in enumerate(chats, start=1):
        fill(index, chat_id, per_chat, rng)
        if n % max(1, len(chats) // 10) == 0 or n == len(chats):
            elapsed = time.perf_counter() - started
            print(f"  {label}: {n}/{len(chats)} chats, {elapsed:.0f} s", flush=True)
    elapsed = time.perf_counter() - started
    if elapsed > 1 and before < per_chat:
        print(f"  {label}: built {total:,} vectors in {elapsed:.0f} s ({total / elapsed:.0f}/s)", flush=True)


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95)), float(np.percentile(ms, 99))


def timed(call, queries) -> list[float]:
    samples = []
    for query in queries:
        started = time.perf_counter()
        call(query)
        samples.append(time.perf_counter() - started)
    return samples


def warm_queries(index: PhotoIndex, chats: list[int], queries, k: int, picker: random.Random):
    """Queries of chats already loaded in this process (at most 8 chats, well under the 64 kept loaded)."""
    loaded = picker.sample(chats, min(8, len(chats)))
    for chat in loaded:
        index.query(chat, SPEC, queries[0], k)
    return percentiles(timed(lambda q: index.query(picker.choice(loaded), SPEC, q, k), queries))


def cold_rows(rows: list, cold: dict[str, list[float]], chats: int, total: str, per_chat: int) -> None:
    n = len(cold["first"])
    rows.append(
        (
            f"{chats} chats, first query after a restart (a fresh process per sample, n={n}; it opens the "
            f"store: PhotoIndex() itself took p50 {statistics.median(cold['open']) * 1000:.0f} ms)",
            total,
            f"{per_chat:,}",
            *percentiles(cold["first"]),
        )
    )
    rows.append(
        (
            f"{chats} chats, first query of a chat in a warm process (fresh process, after another chat's, n={n})",
            total,
            f"{per_chat:,}",
            *percentiles(cold["other"]),
        )
    )


def probe(data: Path, chats: list[int], k: int) -> None:
    """One fresh process's view (run as `--probe`): open the store, the first query of the process (chat
    chats[0]), the first query of another chat (chats[1]) once the process is warm, and that chat again.
    Prints one JSON line of seconds."""
    rng = np.random.default_rng(chats[1])
    vectors = unit_vectors(rng, 3, SPEC.dim).tolist()
    started = time.perf_counter()
    index = PhotoIndex(data)
    opened = time.perf_counter()
    index.query(chats[0], SPEC, vectors[0], k)
    first = time.perf_counter()
    index.query(chats[1], SPEC, vectors[1], k)
    other = time.perf_counter()
    index.query(chats[1], SPEC, vectors[2], k)
    again = time.perf_counter()
    index.close()
    print(
        json.dumps({"open": opened - started, "first": first - opened, "other": other - first, "again": again - other})
    )


def fresh_processes(data: Path, chats: list[int], samples: int, k: int, picker: random.Random) -> dict[str, list]:
    """`samples` fresh processes, each probing two random chats: the cold rows, sample by sample."""
    found: dict[str, list[float]] = {"open": [], "first": [], "other": [], "again": []}
    for _ in range(samples):
        pair = picker.sample(chats, 2)
        out = subprocess.run(
            [sys.executable, __file__, "--probe", str(data), *map(str, pair), "--k", str(k)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for key, value in json.loads(out.strip().splitlines()[-1]).items():
            found[key].append(value)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=100_000, help="photos in the one big chat")
    parser.add_argument("--chats", type=int, default=1000, help="chats in the many-chats layout")
    parser.add_argument("--per-chat", type=int, default=100, help="photos per chat in it (1000 for the full 1M)")
    parser.add_argument("--big-chats", type=int, default=20, help="chats with --big-per-chat photos")
    parser.add_argument("--big-per-chat", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--k", type=int, default=5, help="matches per query (/find's default)")
    parser.add_argument("--data", type=Path, default=None, help="keep the stores here (default: a temp dir)")
    parser.add_argument("--cold", type=int, default=20, help="fresh processes for the cold rows (7 with --quick)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10,000 photos in one chat, 100 chats x 100, 5 chats x 1000, 100 queries, 7 fresh processes",
    )
    parser.add_argument("--probe", nargs=3, metavar=("DATA", "CHAT", "OTHER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(Path(args.probe[0]), [int(args.probe[1]), int(args.probe[2])], args.k)
        return
    if args.quick:
        args.single, args.chats, args.big_chats, args.queries = 10_000, 100, 5, 100
        args.cold = min(args.cold, 7)
    print(machine("start"), flush=True)
    data = args.data or Path(tempfile.mkdtemp(prefix="clipbot-bench-"))
    rng = np.random.default_rng(0)
    picker = random.Random(0)
    rows = []

    print(f"stores under {data}", flush=True)
    single = PhotoIndex(data / "single")
    build(single, "one chat", [1], args.single, rng)
    queries = unit_vectors(rng, args.queries, SPEC.dim).tolist()
    single.query(1, SPEC, queries[0], args.k)  # open the collection
    p = percentiles(timed(lambda q: single.query(1, SPEC, q, args.k), queries))
    rows.append(("one chat, PhotoIndex.query", f"{args.single:,}", f"{args.single:,}", *p))
    collection = single._collection(single._client, 1, SPEC)
    p = percentiles(timed(lambda q: collection.query(query_embeddings=[q], n_results=args.k), queries))
    rows.append(("one chat, chromadb query alone", f"{args.single:,}", f"{args.single:,}", *p))
    groups = [picker.randrange(SHARED_GROUPS) for _ in queries]
    filtered = list(zip(queries, groups, strict=False))
    p = percentiles(
        timed(
            lambda qg: collection.query(query_embeddings=[qg[0]], n_results=args.k, where={"sender_id": qg[1]}),
            filtered,
        )
    )
    rows.append(
        (
            f"shared collection + where filter ({SHARED_GROUPS} chats)",
            f"{args.single:,}",
            f"{args.single // SHARED_GROUPS:,}",
            *p,
        )
    )
    single.close()

    many = PhotoIndex(data / "many")
    chats = list(range(10_000, 10_000 + args.chats))
    build(many, "many chats", chats, args.per_chat, rng)
    many.close()
    total = f"{args.chats * args.per_chat:,}"
    cold_rows(rows, fresh_processes(data / "many", chats, args.cold, args.k, picker), args.chats, total, args.per_chat)
    many = PhotoIndex(data / "many")
    warm = warm_queries(many, chats, queries, args.k, picker)
    rows.append((f"{args.chats} chats, later queries (8 loaded chats)", total, f"{args.per_chat:,}", *warm))
    many.close()

    if args.big_chats:
        big = PhotoIndex(data / "big")
        big_chats = list(range(20_000, 20_000 + args.big_chats))
        build(big, "big chats", big_chats, args.big_per_chat, rng)
        big.close()
        total = f"{args.big_chats * args.big_per_chat:,}"
        cold = fresh_processes(data / "big", big_chats, args.cold, args.k, picker)
        cold_rows(rows, cold, args.big_chats, total, args.big_per_chat)
        big = PhotoIndex(data / "big")
        warm = warm_queries(big, big_chats, queries, args.k, picker)
        rows.append((f"{args.big_chats} chats, later queries (loaded chats)", total, f"{args.big_per_chat:,}", *warm))
        big.close()

    print()
    print(
        f"/find query latency, top {args.k}, 768-d unit vectors, embedded chromadb, {args.queries} queries each "
        f"(the cold rows: one sample per fresh process, {args.cold} processes; the store's files are in the OS "
        "page cache, as on a running server, not read from a cold disk)"
    )
    print(machine("end"))
    print()
    print("| layout | vectors in store | searched (the chat's photos) | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for name, total, searched, p50, p95, p99 in rows:
        print(f"| {name} | {total} | {searched} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
    print()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
