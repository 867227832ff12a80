"""Crash safety, piece by piece: the poison-job guard, the photo backlog, exactly-once turns, the order of a
user's requests, a locked database and user-controlled names. End to end: tests/test_e2e_crash.py."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from bot import texts
from bot.errors import StorageBusy
from bot.queue.gpu_queue import GpuQueue
from bot.stores import sqlite as sqlite_store
from bot.stores.history import ChatHistory, Scope
from bot.stores.journal import JobJournal
from bot.stores.pending_photos import PendingPhotos
from bot.stores.photo_index import PhotoRecord
from contract.requests import Turn
from tests.support.fake_backend import FakeBackend


def update(update_id: int) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id, "text": f"/caption {update_id}"}}


async def restart(journal: JobJournal) -> tuple[list[int], list[int]]:
    """Close the journal as a dead process would leave it, open it again: (replayed, set aside) update ids."""
    journal.close()
    journal.replaying.clear()
    unfinished = await journal.take_unfinished()
    return [u["update_id"] for u in unfinished.replay], [u["update_id"] for u, _ in unfinished.set_aside]


async def test_a_crash_loop_drops_nothing_and_only_the_job_running_twice_is_set_aside(tmp_path):
    journal = JobJournal(tmp_path / "bot.sqlite3")
    for update_id in (1, 2, 3, 4):
        assert await journal.begin(update_id, 10, update(update_id))
    for _ in range(5):  # five deaths before any job ran: a bad driver, a full disk
        assert await restart(journal) == ([1, 2, 3, 4], [])
    await journal.set_running(2, True)  # 2 is on the worker when the process dies
    assert await restart(journal) == ([1, 2, 3, 4], [])  # one death may be anything: it is replayed
    await journal.set_running(3, True)
    await journal.set_running(3, False)  # 3 ran and ended: not suspected
    await journal.set_running(2, True)
    assert await restart(journal) == ([1, 3, 4], [2])  # 2 killed the bot twice: set aside, once
    assert await restart(journal) == ([1, 3, 4], [])
    journal.close()


async def test_a_clean_stop_counts_no_death(tmp_path):
    journal = JobJournal(tmp_path / "bot.sqlite3")
    await journal.begin(1, 10, update(1))
    for _ in range(3):
        await journal.set_running(1, True)
        await journal.stopped_cleanly()  # SIGTERM mid-job: the job didn't kill anyone
        assert await restart(journal) == ([1], [])
    journal.close()


async def test_an_answer_recorded_as_sent_is_known_on_replay(tmp_path):
    journal = JobJournal(tmp_path / "bot.sqlite3")
    await journal.begin(1, 10, update(1))
    await journal.set_status_message(1, 50)
    assert (await journal.stage(1)).sending is False
    await journal.set_sending(1)
    stage = await journal.stage(1)
    assert stage.sending and stage.answer_message_id is None and stage.status_message_id == 50
    await journal.set_sent(1, 51)
    assert (await journal.stage(1)).answer_message_id == 51
    journal.close()


async def test_an_old_journal_gets_the_new_columns(tmp_path):
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE job_journal (update_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL,"
            " update_json TEXT NOT NULL, status_message_id INTEGER, attempts INTEGER NOT NULL DEFAULT 0,"
            " created REAL NOT NULL, done_at REAL)"
        )
        db.execute(
            "INSERT INTO job_journal (update_id, chat_id, update_json, created) VALUES (7, 1, ?, 0)",
            ('{"update_id": 7}',),
        )
    journal = JobJournal(path)
    await journal.set_running(7, True)
    assert await restart(journal) == ([7], [])
    journal.close()


async def test_a_turn_is_stored_once_and_a_replayed_photo_continues_its_conversation(tmp_path):
    history = ChatHistory(tmp_path / "bot.sqlite3")
    scope = Scope(5)
    first = await history.start(scope, b"img", "f", "u", origin_message_id=77)
    assert (await history.start(scope, b"img", "f", "u", origin_message_id=77)).id == first.id  # the replay
    assert (await history.start(scope, b"img", "f", "u", origin_message_id=78)).id != first.id  # sent again
    for _ in range(2):
        assert await history.add_turn(scope, first.id, Turn("q", "a"), [9], update_id=1001)
    assert (await history.get(scope, first.id)).turns == (Turn("q", "a"),)
    assert await history.answer_of(1001) == "a" and await history.answer_of(1002) is None
    assert (await history.for_answer(5, 9)).id == first.id
    history.close()


async def test_the_photo_backlog_survives_a_restart_until_indexed_or_forgotten(tmp_path):
    backlog = PendingPhotos(tmp_path / "bot.sqlite3")
    records = [
        PhotoRecord(key=f"k{i}", chat_id=chat, file_id=f"f{i}", message_id=i, caption="hi")
        for i, chat in ((1, 10), (2, 10), (3, 20))
    ]
    for record in records:
        await backlog.add(record, 123)
        await backlog.add(record, 123)  # noted twice: kept once
    backlog.close()
    assert [(r, size) for r, size in await backlog.all()] == [(r, 123) for r in records]
    await backlog.remove(10, ["k1"])
    assert await backlog.forget(20) == 1
    assert [r.key for r, _ in await backlog.all()] == ["k2"]
    backlog.close()


async def test_a_users_requests_in_a_chat_prepare_in_the_order_sent():
    queue = GpuQueue(FakeBackend(), max_pending=10, max_per_user=5, job_timeout_s=10)
    order: list[str] = []
    queue.announce(1, 100, chat_id=7)  # "/ask what is this?" on a new photo: still downloading it

    async def follow_up() -> None:
        await queue.wait_turn(1, 101, chat_id=7)
        order.append("follow-up prepares")

    waiting = asyncio.create_task(follow_up())
    await queue.wait_turn(2, 102, chat_id=7)  # another user isn't held
    await queue.wait_turn(1, 103, chat_id=8)  # nor the same user in another chat
    await asyncio.sleep(0.05)
    assert order == []
    order.append("photo stored")
    queue.withdraw(1, 100)
    await waiting
    assert order == ["photo stored", "follow-up prepares"]


async def test_a_locked_database_says_busy_soon_and_never_blocks_the_loop(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "RETRY_PAUSES_S", (0.1, 0.2))
    path = tmp_path / "bot.sqlite3"
    journal = JobJournal(path)
    journal.open()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # a backup, or an admin's sqlite3 shell
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(ticker())
    started = time.monotonic()
    with pytest.raises(StorageBusy) as raised:
        await journal.begin(1, 10, update(1))
    took = time.monotonic() - started
    beat.cancel()
    assert took < 6.0
    assert ticks > took / 0.01 * 0.5  # the loop kept running meanwhile
    assert raised.value.user_message == texts.STORAGE_BUSY
    other.execute("ROLLBACK")
    other.close()
    assert await journal.begin(1, 10, update(1))  # free again: works at once
    journal.close()


@pytest.mark.parametrize("name", ["A" * 3000, "\u202eevil\u202c name\x00\x07\n\t", "", "\u200f" * 50])
def test_a_users_name_never_breaks_a_caption(name):
    shown = texts.user_name(name)
    assert 1 <= len(shown) <= texts.NAME_LIMIT
    assert not any(c in shown for c in "\u202e\u202c\x00\x07\n\t\u200f")
    caption = texts.gen_caption("a fox " * 300, ["🌱 seed 1", texts.rerun_for(name).en])
    assert len(caption.encode("utf-16-le")) // 2 <= texts.CAPTION_LIMIT


def test_a_caption_with_overlong_details_still_fits():
    caption = texts.gen_caption("a fox", ["x" * 5000])  # looped forever before: the bot stopped answering
    assert len(caption.encode("utf-16-le")) // 2 <= texts.CAPTION_LIMIT
