"""JobJournal: every accepted request, in SQLite, until it is answered, so a crash loses none.

python-telegram-bot confirms updates to Telegram as soon as it has handed them to the handlers, so a
bot killed mid-queue never receives those updates again: the journal is the only record of them.
On start, unfinished entries are fed back through the handlers in their original order.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
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

# Answered entries are kept this long, so an update Telegram delivers twice is still recognised.
KEEP_DONE_S = 2 * 86_400.0

# An update that crashed the bot this many times is dropped rather than replayed forever.
MAX_ATTEMPTS = 3


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
        await self._run(_execute, "UPDATE job_journal SET status_message_id = ? WHERE update_id = ?",
                        (message_id, update_id))

    async def status_message(self, update_id: int) -> int | None:
        row = await self._run(_fetch_one, "SELECT status_message_id FROM job_journal WHERE update_id = ?",
                              (update_id,))
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

    async def take_unfinished(self) -> list[dict[str, Any]]:
        """Unfinished updates in their original order, counting this as one more attempt."""
        rows = await self._run(_take_unfinished)
        self.replaying.update(row[0] for row in rows)
        return [json.loads(row[1]) for row in rows]


def _execute(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> None:
    db.execute(sql, args)


def _delete(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> int:
    return db.execute(sql, args).rowcount


def _fetch_one(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = db.execute(sql, args).fetchone()
    return row


def _take_unfinished(db: sqlite3.Connection) -> list[tuple[int, str]]:
    db.execute("UPDATE job_journal SET attempts = attempts + 1 WHERE done_at IS NULL")
    dropped = db.execute(
        "UPDATE job_journal SET done_at = ? WHERE done_at IS NULL AND attempts > ? RETURNING update_id",
        (time.time(), MAX_ATTEMPTS),
    ).fetchall()
    for (update_id,) in dropped:
        log.error("dropping update %s from the journal: it was replayed %d times without finishing",
                  update_id, MAX_ATTEMPTS)
    return db.execute(
        "SELECT update_id, update_json FROM job_journal WHERE done_at IS NULL ORDER BY update_id"
    ).fetchall()
