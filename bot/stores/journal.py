"""JobJournal: every accepted request, in SQLite, until it is answered, so a crash loses none.

python-telegram-bot confirms updates to Telegram as soon as it has handed them to the handlers, so a
bot killed mid-queue never receives those updates again: the journal is the only record of them.
On start, unfinished entries are fed back through the handlers in their original order, however many
restarts it takes, except a poison job: one whose work was running when the process died twice is set
aside (its user gets an apology) instead of killing the bot again.

Stages of an entry: begun (the update is recorded) -> running (its job is on the worker; cleared when the
job ends) -> sending (its answer is about to go out) -> sent (the answer is out) -> done. A death while
`running` counts against the job; a replay after `sent` doesn't redo the work.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.stores.sqlite import SQLiteStore

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_journal (
    update_id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    update_json TEXT NOT NULL,
    status_message_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    done_at REAL
)
"""

# Columns added after the first release: added to an existing table on open.
_ADDED_COLUMNS = {
    "running": "INTEGER NOT NULL DEFAULT 0",  # its job is on the worker now
    "deaths": "INTEGER NOT NULL DEFAULT 0",  # the process died while its job was running
    "sending_at": "REAL",  # its answer is being sent (a kill from here on may double it)
    "answer_message_id": "INTEGER",  # its answer is out (a picture: its message)
}

# Answered entries are kept this long, so an update Telegram delivers twice is still recognised.
KEEP_DONE_S = 2 * 86_400.0

# A job that was running when the process died this many times is set aside instead of replayed again.
MAX_DEATHS = 2


class JobJournal(SQLiteStore):
    """A small SQLite table of open requests, keyed by update_id (which also orders them).

    Every method runs its SQL off the event loop (SQLiteStore._run).
    """

    SCHEMA = _SCHEMA

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.replaying: set[int] = set()  # update_ids fed back by the bot itself after a restart

    def open(self) -> None:
        super().open()
        assert self._db is not None
        have = {row[1] for row in self._db.execute("PRAGMA table_info(job_journal)")}
        for name, kind in _ADDED_COLUMNS.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE job_journal ADD COLUMN {name} {kind}")
        self._db.execute("DELETE FROM job_journal WHERE done_at < ?", (time.time() - KEEP_DONE_S,))

    async def begin(self, update_id: int, chat_id: int, update: dict[str, Any]) -> bool:
        """Record a request before anything is done about it.

        False when the update is already known: a replay of ours (see `replaying`), or Telegram
        delivering an update a second time, which must not be answered twice.
        """

        def insert(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO job_journal (update_id, chat_id, update_json, created) VALUES (?, ?, ?, ?)",
                (update_id, chat_id, json.dumps(update), time.time()),
            )
            return cursor.rowcount == 1

        return await self._run(insert)

    async def set_status_message(self, update_id: int, message_id: int) -> None:
        """Remember the status message, so a replay edits it instead of sending a second one."""
        await self._run(
            _execute, "UPDATE job_journal SET status_message_id = ? WHERE update_id = ?", (message_id, update_id)
        )

    async def status_message(self, update_id: int) -> int | None:
        row = await self._run(_fetch_one, "SELECT status_message_id FROM job_journal WHERE update_id = ?", (update_id,))
        return row[0] if row else None

    async def update_of_status_message(self, chat_id: int, message_id: int) -> int | None:
        """The request (update_id) whose status message this is, while it is open."""
        row = await self._run(
            _fetch_one,
            "SELECT update_id FROM job_journal WHERE chat_id = ? AND status_message_id = ? AND done_at IS NULL",
            (chat_id, message_id),
        )
        return row[0] if row else None

    async def finish(self, update_id: int) -> None:
        """The request was answered (or failed with a reply)."""
        await self._run(_execute, "UPDATE job_journal SET done_at = ? WHERE update_id = ?", (time.time(), update_id))

    async def forget(self, chat_id: int) -> int:
        """Delete the chat's entries, answered or not: they hold its messages (/forget, the bot removed)."""
        return await self._run(_delete, "DELETE FROM job_journal WHERE chat_id = ?", (chat_id,))

    async def set_running(self, update_id: int, running: bool) -> None:
        """The request's job started on the worker (a death now counts against it), or ended."""
        await self._run(_execute, "UPDATE job_journal SET running = ? WHERE update_id = ?", (int(running), update_id))

    async def stopped_cleanly(self) -> None:
        """The bot is stopping on purpose: no job still marked running killed it."""
        await self._run(_execute, "UPDATE job_journal SET running = 0 WHERE running = 1", ())

    async def set_sending(self, update_id: int) -> None:
        """The answer is about to be sent: from here on a kill may leave it out without a record."""
        await self._run(_execute, "UPDATE job_journal SET sending_at = ? WHERE update_id = ?", (time.time(), update_id))

    async def set_sent(self, update_id: int, message_id: int) -> None:
        """The answer is out (`message_id`): a replay only tidies up (the status message), never redoes it."""
        await self._run(
            _execute, "UPDATE job_journal SET answer_message_id = ? WHERE update_id = ?", (message_id, update_id)
        )

    async def stage(self, update_id: int) -> Stage | None:
        """What is known about an entry's answer (None for an unknown update)."""
        row = await self._run(
            _fetch_one,
            "SELECT status_message_id, sending_at, answer_message_id FROM job_journal WHERE update_id = ?",
            (update_id,),
        )
        return Stage(row[0], row[1] is not None, row[2]) if row else None

    async def take_unfinished(self) -> Unfinished:
        """Unfinished updates in their original order, and the poison jobs set aside (see MAX_DEATHS).

        Call it once on start, before anything runs: an entry still marked running was running when the
        process died.
        """
        replay, set_aside = await self._run(_take_unfinished)
        self.replaying.update(row[0] for row in replay)
        return Unfinished([json.loads(row[1]) for row in replay], [(json.loads(row[1]), row[2]) for row in set_aside])


@dataclass(frozen=True)
class Stage:
    """How far a request's answer got: its status message, whether sending began, the sent answer."""

    status_message_id: int | None
    sending: bool
    answer_message_id: int | None


@dataclass(frozen=True)
class Unfinished:
    """What a start finds in the journal: updates to replay, and set-aside ones (update, status message id)."""

    replay: list[dict[str, Any]]
    set_aside: list[tuple[dict[str, Any], int | None]]


def _execute(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> None:
    db.execute(sql, args)


def _delete(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> int:
    return db.execute(sql, args).rowcount


def _fetch_one(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = db.execute(sql, args).fetchone()
    return row


def _take_unfinished(db: sqlite3.Connection) -> tuple[list[tuple[int, str]], list[tuple[int, str, int | None]]]:
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE job_journal SET attempts = attempts + 1 WHERE done_at IS NULL")
        # Only a job that was on the worker can have taken the process down: it alone is suspected.
        died = db.execute(
            "UPDATE job_journal SET deaths = deaths + 1, running = 0 WHERE done_at IS NULL AND running = 1"
            " RETURNING update_id, deaths"
        ).fetchall()
        for update_id, deaths in died:
            log.warning("update %s was running when the bot died (%d time(s))", update_id, deaths)
        set_aside = db.execute(
            "UPDATE job_journal SET done_at = ? WHERE done_at IS NULL AND deaths >= ?"
            " RETURNING update_id, update_json, status_message_id",
            (time.time(), MAX_DEATHS),
        ).fetchall()
        for update_id, _, _ in set_aside:
            log.error("setting update %s aside: the bot died %d times while running it", update_id, MAX_DEATHS)
        replay = db.execute(
            "SELECT update_id, update_json FROM job_journal WHERE done_at IS NULL ORDER BY update_id"
        ).fetchall()
    return replay, sorted(set_aside)
