"""PendingPhotos: photos noted for indexing but not indexed yet, in SQLite, so a kill or a stop loses none.

A row is written when a photo is noted (before the update that brought it is forgotten), deleted once the
photo is indexed (or can never be: a bad file, the chat forgotten), and replayed into the indexer on start.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import time
from collections.abc import Sequence

from bot.stores.photo_index import PhotoRecord
from bot.stores.sqlite import SQLiteStore

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_photos (
    chat_id INTEGER NOT NULL,
    file_unique_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    record_json TEXT NOT NULL,
    file_size INTEGER,
    created REAL NOT NULL,
    PRIMARY KEY (chat_id, file_unique_id)
)
"""

# Past this many rows (or this many of one chat: a flood in one chat leaves room for the others) new photos
# aren't journaled (they are still indexed while the bot runs, unless the chat has too many waiting in memory);
# rows older than KEEP_S (a CLIP model that never loads) are dropped on open.
MAX_ROWS = 10_000
MAX_ROWS_PER_CHAT = 2_000
KEEP_S = 7 * 86_400.0


class PendingPhotos(SQLiteStore):
    """The indexing backlog on disk, keyed by (chat_id, file_unique_id)."""

    SCHEMA = _SCHEMA

    def open(self) -> None:
        super().open()
        assert self._db is not None
        self._db.execute("DELETE FROM pending_photos WHERE created < ?", (time.time() - KEEP_S,))

    async def add(self, record: PhotoRecord, file_size: int | None) -> None:
        """Note a photo to index (once per chat and file_unique_id)."""
        await self._run(_add, record, file_size)

    async def remove(self, chat_id: int, keys: Sequence[str]) -> None:
        """The photos are indexed (or never will be)."""
        await self._run(_remove, chat_id, list(keys))

    async def forget(self, chat_id: int) -> int:
        """Drop the chat's pending photos (/forget, a move to a supergroup)."""
        return await self._run(_forget, chat_id)

    async def of_chat(self, chat_id: int, after: float, limit: int) -> list[tuple[PhotoRecord, int | None, float]]:
        """The chat's oldest `limit` pending photos noted after `after` (a time.time()), with when they were."""
        rows = await self._run(_of_chat, chat_id, after, limit)
        return [(PhotoRecord(**json.loads(record)), size, created) for record, size, created in rows]

    async def all(self) -> list[tuple[PhotoRecord, int | None]]:
        """Every pending photo, oldest first."""
        rows = await self._run(_all)
        return [(PhotoRecord(**json.loads(record)), size) for record, size in rows]


def _add(db: sqlite3.Connection, record: PhotoRecord, file_size: int | None) -> None:
    (count,) = db.execute("SELECT COUNT(*) FROM pending_photos").fetchone()
    (of_chat,) = db.execute("SELECT COUNT(*) FROM pending_photos WHERE chat_id = ?", (record.chat_id,)).fetchone()
    if count >= MAX_ROWS or of_chat >= MAX_ROWS_PER_CHAT:
        log.warning(
            "indexing backlog on disk is full: photo %s of chat %s is not journaled", record.key, record.chat_id
        )
        return
    db.execute(
        "INSERT OR IGNORE INTO pending_photos (chat_id, file_unique_id, file_id, record_json, file_size, created)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (record.chat_id, record.key, record.file_id, json.dumps(dataclasses.asdict(record)), file_size, time.time()),
    )


def _remove(db: sqlite3.Connection, chat_id: int, keys: list[str]) -> None:
    db.executemany(
        "DELETE FROM pending_photos WHERE chat_id = ? AND file_unique_id = ?", [(chat_id, key) for key in keys]
    )


def _forget(db: sqlite3.Connection, chat_id: int) -> int:
    return db.execute("DELETE FROM pending_photos WHERE chat_id = ?", (chat_id,)).rowcount


def _of_chat(db: sqlite3.Connection, chat_id: int, after: float, limit: int) -> list[tuple[str, int | None, float]]:
    return db.execute(
        "SELECT record_json, file_size, created FROM pending_photos WHERE chat_id = ? AND created > ?"
        " ORDER BY created LIMIT ?",
        (chat_id, after, limit),
    ).fetchall()


def _all(db: sqlite3.Connection) -> list[tuple[str, int | None]]:
    return db.execute("SELECT record_json, file_size FROM pending_photos ORDER BY created").fetchall()
