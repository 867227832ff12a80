"""`python -m bot import <folder> --chat <id>`: a photo archive made findable in one chat, and nowhere else."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bot.stores.photo_index import PhotoIndex
from tests.support.bot_process import TOKEN, BotProcess
from tests.support.chat import photo_bytes
from tests.support.fake_telegram import FakeTelegram
from tests.support.find import find_answer

pytestmark = pytest.mark.timeout(240)


def run_cli(bot: BotProcess, *args: str) -> subprocess.CompletedProcess[str]:
    bot.workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=bot.workdir,
        env=bot.environment(),
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def archive(tmp_path):
    folder = tmp_path / "archive"
    (folder / "2019").mkdir(parents=True)
    (folder / ".thumbnails").mkdir()
    (folder / "beach.jpg").write_bytes(photo_bytes(1))
    (folder / "copy of beach.jpg").write_bytes(photo_bytes(1))
    (folder / "2019" / "dog.png").write_bytes(photo_bytes(2, fmt="PNG"))
    (folder / "2019" / "cat.webp").write_bytes(photo_bytes(3, fmt="WEBP"))
    (folder / "broken.jpg").write_bytes(photo_bytes(4)[:200])
    (folder / "notes.txt").write_text("not a photo")
    (folder / ".thumbnails" / "beach.jpg").write_bytes(photo_bytes(5))
    return folder


def test_import_skips_what_it_cannot_read_or_already_has_and_find_uploads_once(tmp_path, tiny_clip, archive):
    telegram = FakeTelegram(TOKEN).start()
    ann, bob = telegram.user(11, "Ann"), telegram.user(12, "Bob")
    mine, other = telegram.private_chat(ann), telegram.private_chat(bob)
    bot = BotProcess(telegram, tmp_path / "bot", clip_model=tiny_clip)
    try:
        first = run_cli(bot, "import", str(archive), "--chat", str(mine["id"]))
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines() == [
            f"Imported 3 new photos into chat {mine['id']}.",
            "Skipped 1 already indexed (same content).",
            "Skipped 1 unreadable file: broken.jpg",
            "Ignored 1 file that is not an image.",
        ]
        assert re.search(r"Importing: 100%.*4/4", first.stderr)  # the progress bar
        assert "loaded embed model" in first.stderr
        again = run_cli(bot, "import", str(archive), "--chat", str(mine["id"]))
        assert again.stdout.splitlines()[:2] == [
            f"Imported 0 new photos into chat {mine['id']}.",
            "Skipped 4 already indexed (same content).",
        ]
        assert "loaded embed model" not in again.stderr  # nothing new: the model isn't even loaded

        request = telegram.send_message(mine, ann, text="/find k=10 holidays")
        bot.start()
        answer = find_answer(telegram, request)
        assert sorted(c.split("\n")[-1] for c in answer.captions) == [
            "“2019/cat.webp”",
            "“2019/dog.png”",
            "“beach.jpg”",
        ]
        first_album = telegram.calls("sendMediaGroup")[-1]
        assert len(first_album.files) == 3  # the first time, the files are uploaded...
        answer = find_answer(telegram, telegram.send_message(mine, ann, text="/find k=10 holidays"))
        assert len(answer.matches) == 3
        second_album = telegram.calls("sendMediaGroup")[-1]
        assert second_album.files == {}  # ...then re-sent by the file_id Telegram gave them
        assert {m["media"] for m in second_album.params["media"]} == {
            m["photo"][-1]["file_id"] for m in telegram.bot_messages(mine["id"]) if m["message_id"] <= 4
        }

        # Another chat sees none of them.
        assert (
            "haven't seen any photos"
            in find_answer(telegram, telegram.send_message(other, bob, text="/find holidays")).text
        )
        # The embedded store belongs to the running bot: an import now is refused, clearly.
        refused = run_cli(bot, "import", str(archive), "--chat", str(other["id"]))
        assert refused.returncode == 1 and "in use by another process" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        bot.stop()
        telegram.stop()
    index = PhotoIndex(bot.workdir / "data")
    assert index.count(mine["id"]) == 3 and index.count(other["id"]) == 0
    index.close()


def test_import_of_a_missing_folder_is_a_clear_error(tmp_path):
    from tests.test_cli import run_bot

    out = run_bot(
        "import",
        str(tmp_path / "nope"),
        "--chat",
        "5",
        cwd=tmp_path,
        TELEGRAM_BOT_TOKEN="1:x",
        DATA_DIR=str(tmp_path / "data"),
    )
    assert out.returncode == 2 and "is not a folder" in out.stderr and "Traceback" not in out.stderr
