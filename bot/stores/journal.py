"""JobJournal: every accepted request, in SQLite, until it is answered, so a crash loses none.

python-telegram-bot confirms updates to Telegram as soon as it has handed them to the handlers, so a
bot killed mid-queue never receives those updates again: the journal is the only record of them.
On start, unfinished entries are fed back through the handlers in their original order.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from bot.stores.sqlite import connect

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


class JobJournal:
    """A small SQLite table of open requests, keyed by update_id (which also orders them)."""

    def __init__(self, path: Path) -> None:
        self.replaying: set[int] = set()  # update_ids fed back by the bot itself after a restart
        self._db = connect(path)  # autocommit: each write is durable on its own
        self._db.execute(_SCHEMA)
        self._db.execute("DELETE FROM job_journal WHERE done_at < ?", (time.time() - KEEP_DONE_S,))

    def open(self, update_id: int, chat_id: int, update: dict) -> bool:
        """Record a request before anything is done about it.

        False when the update is already known: a replay of ours (see `replaying`), or Telegram
        delivering an update a second time, which must not be answered twice.
        """
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO job_journal (update_id, chat_id, update_json, created) VALUES (?, ?, ?, ?)",
            (update_id, chat_id, json.dumps(update), time.time()),
        )
        return cursor.rowcount == 1

    def set_status_message(self, update_id: int, message_id: int) -> None:
        """Remember the status message, so a replay edits it instead of sending a second one."""
        self._db.execute("UPDATE job_journal SET status_message_id = ? WHERE update_id = ?", (message_id, update_id))

    def status_message(self, update_id: int) -> int | None:
        row = self._db.execute("SELECT status_message_id FROM job_journal WHERE update_id = ?", (update_id,)).fetchone()
        return row[0] if row else None

    def update_of_status_message(self, chat_id: int, message_id: int) -> int | None:
        """The request (update_id) whose status message this is, while it is open."""
        row = self._db.execute(
            "SELECT update_id FROM job_journal WHERE chat_id = ? AND status_message_id = ? AND done_at IS NULL",
            (chat_id, message_id),
        ).fetchone()
        return row[0] if row else None

    def close(self, update_id: int) -> None:
        """The request was answered (or failed with a reply)."""
        self._db.execute("UPDATE job_journal SET done_at = ? WHERE update_id = ?", (time.time(), update_id))

    def take_unfinished(self) -> list[dict]:
        """Unfinished updates in their original order, counting this as one more attempt."""
        self._db.execute("UPDATE job_journal SET attempts = attempts + 1 WHERE done_at IS NULL")
        dropped = self._db.execute(
            "UPDATE job_journal SET done_at = ? WHERE done_at IS NULL AND attempts > ? RETURNING update_id",
            (time.time(), MAX_ATTEMPTS),
        ).fetchall()
        for (update_id,) in dropped:
            log.error("dropping update %s from the journal: it was replayed %d times without finishing",
                      update_id, MAX_ATTEMPTS)
        rows = self._db.execute(
            "SELECT update_id, update_json FROM job_journal WHERE done_at IS NULL ORDER BY update_id"
        ).fetchall()
        self.replaying.update(row[0] for row in rows)
        return [json.loads(row[1]) for row in rows]

    def close_db(self) -> None:
        self._db.close()
