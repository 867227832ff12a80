"""2,000 chats with one photo each, under a file limit of 1,024: every chat's search finds its own photo,
open files stay bounded, and memory does not grow with the number of chats.

Before PhotoIndex bounded its loaded collections (bot/stores/photo_index.py), 2,000 chats held ~8,000 open files
and ~5.5 GB, and under `ulimit -n 1024` most searches failed: chromadb evicted collections from its cache
and could not load them again ("Nothing found on disk"). The photos go in through PhotoIndex with random
unit vectors (no CLIP for 2,000 photos), in a subprocess with the limit; then the real bot, under the same
limit, answers /find in 80 of those chats and in chats whose photos it indexes itself.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bot.stores.photo_index import canonical_model_id
from tests.support.bot_process import ROOT, TOKEN, BotProcess
from tests.support.chat import photo_bytes
from tests.support.fake_telegram import FakeTelegram
from tests.support.find import find_answer, unique_id, wait_for_log

pytestmark = pytest.mark.timeout(600)

CHATS = 2000
FILE_LIMIT = 1024
FIRST_CHAT = 200_001
# The bound: 64 loaded collections (PhotoIndex's default under this limit) of at most 5 files each, plus
# what the process had open before: 13 + 320 here. Measured: 275 at most (~4.1 a collection); before, 787.
MAX_OPEN = 64
FILES_PER_COLLECTION = 5
# Measured: RSS stays 150-220 MB from 1,000 to 2,000 chats; before, it grew ~1 MB a chat (16-d) until
# chromadb's cache (a fifth of the file limit) was full, and ~2.6 GB per 1,000 chats (768-d) under a high limit.
MAX_GROWTH_PER_1000_CHATS_MB = 150


def limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def workdir(tmp_path):
    """In memory where there is a tmpfs: chromadb syncs SQLite on every write, which on a busy disk
    tripled this test's time. Files and memory are counted the same either way."""
    shm = Path("/dev/shm")
    path = Path(tempfile.mkdtemp(prefix="chat-scaling-", dir=shm)) if shm.is_dir() else tmp_path / "work"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_two_thousand_chats_under_a_1024_file_limit(workdir, tiny_clip):
    telegram = FakeTelegram(TOKEN).start()
    chat_ids = list(range(FIRST_CHAT, FIRST_CHAT + CHATS))
    # Every 25th chat holds a photo the fake Telegram knows (the bot saw it earlier), so /find can send it:
    # 80 chats, more than the bot keeps loaded, so it reopens its store while it answers them.
    end_to_end = {chat_ids[i]: None for i in range(0, CHATS, 25)}
    for number, chat_id in enumerate(end_to_end):
        user = telegram.user(chat_id, "Ann")
        end_to_end[chat_id] = telegram.message(telegram.private_chat(user), user, photo=photo_bytes(900 + number))
    photos = {str(c): [m["photo"][-1]["file_id"], unique_id(m), m["message_id"]] for c, m in end_to_end.items()}
    dim = json.loads((tiny_clip / "config.json").read_text())["projection_dim"]
    spec = {
        "data_dir": str(workdir / "bot" / "data"),
        "chats": chat_ids,
        "photos": photos,
        "model": canonical_model_id(str(tiny_clip)),
        "dim": dim,
        "passes": 1,
    }
    (workdir / "spec.json").write_text(json.dumps(spec))
    try:
        filled = subprocess.run(
            [sys.executable, "-m", "tests.support.many_chats", str(workdir / "spec.json")],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            preexec_fn=limit_files,
            capture_output=True,
            text=True,
            timeout=500,
        )
        assert filled.returncode == 0, filled.stderr[-3000:]
        report = json.loads(filled.stdout.strip().splitlines()[-1])
        growth = report["rss_mb"]["2000"] - report["rss_mb"]["1000"]
        print(
            f"\n{CHATS} chats under a file limit of {report['file_limit']}: at most {report['most_files']} files "
            f"open ({report['files_at_start']} at start, {report['max_open']} collections loaded at most); "
            f"RSS {report['rss_mb']['1000']:.0f} MB at 1000 chats, {report['rss_mb']['2000']:.0f} MB at 2000 "
            f"({growth:+.0f} MB per 1000 chats); {report['queries']} searches in {report['query_s']:.1f} s, "
            f"adds in {report['add_s']:.1f} s"
        )
        assert report["file_limit"] == FILE_LIMIT and report["max_open"] == MAX_OPEN
        # Every chat's search found its photo; before, 1,808 of the 2,000 failed ("Nothing found on disk").
        assert report["errors"] == [] and report["wrong"] == []
        assert report["most_files"] <= report["files_at_start"] + FILES_PER_COLLECTION * MAX_OPEN
        assert report["files_after_close"] <= report["files_at_start"]
        assert growth < MAX_GROWTH_PER_1000_CHATS_MB

        bot = BotProcess(telegram, workdir / "bot", clip_model=tiny_clip)
        bot.preexec_fn = limit_files
        try:
            bot.start()
            # Photos the bot indexes itself, in two new chats, next to the 2,000.
            fresh = []
            for seed in (950, 951):
                user = telegram.user(FIRST_CHAT + CHATS + seed, "Bob")
                sent = telegram.send_message(telegram.private_chat(user), user, photo=photo_bytes(seed))
                wait_for_log(bot, f"indexed photo {unique_id(sent)} of chat {sent['chat']['id']}")
                fresh.append(sent)
            # All at once, as users would: each chat's /find answers with its own photo.
            requests = [
                (photo, telegram.send_message(photo["chat"], photo["from"], text="/find a dog on the beach"))
                for photo in [*end_to_end.values(), *fresh]
            ]
            most = 0
            for photo, request in requests:
                answer = find_answer(telegram, request)
                assert answer.keys == [unique_id(photo)], (photo["chat"]["id"], answer)
                most = max(most, open_files(bot.process.pid))
            logs = bot.logs()
            assert "photo index: unloaded" in logs  # the bot did reopen its store
            assert "photo index operation failed" not in logs
            print(f"the bot: {len(requests)} /find answered, at most {most} files open")
            assert most < FILE_LIMIT // 2, most
        finally:
            bot.stop()
    finally:
        telegram.stop()
