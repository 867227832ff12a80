"""AlbumStore: which photos make up each album (Telegram's media_group_id) of a chat, in SQLite.

Telegram delivers an album as one message per photo, and a later reply points at one of them only: the
store lets `/ask` replying to any photo of an album find the others, after a restart too. It keeps file
ids (never texts); /forget deletes a chat's rows, and rows older than KEEP_S go on their own.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from bot.stores.sqlite import SQLiteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS album_photos (
    chat_id INTEGER NOT NULL,
    media_group_id TEXT NOT NULL,
    file_unique_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    file_size INTEGER,
    message_id INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (chat_id, media_group_id, file_unique_id)
);
CREATE INDEX IF NOT EXISTS album_photos_created ON album_photos (created);
"""

KEEP_S = 30 * 86_400.0  # as long as /gen's rerun buttons: a reply to an album a month old still finds it
ALBUM_MAX = 10  # Telegram's limit on an album's items


@dataclass(frozen=True)
class AlbumPhoto:
    """One photo (or image file) of an album, as the bot can download it again."""

    file_id: str
    file_unique_id: str
    file_size: int | None
    message_id: int


class AlbumStore(SQLiteStore):
    """Album membership per chat, keyed by (chat_id, media_group_id)."""

    SCHEMA = _SCHEMA

    def open(self) -> None:
        super().open()
        assert self._db is not None
        self._db.execute("DELETE FROM album_photos WHERE created < ?", (time.time() - KEEP_S,))

    async def add(self, chat_id: int, media_group_id: str, photo: AlbumPhoto) -> None:
        """Note one photo of the album (once: a photo seen twice stays one row)."""
        await self._run(_add, chat_id, media_group_id, photo)

    async def photos(self, chat_id: int, media_group_id: str) -> list[AlbumPhoto]:
        """The album's photos in the order they were sent (at most ALBUM_MAX)."""
        return await self._run(_photos, chat_id, media_group_id)

    async def forget(self, chat_id: int) -> int:
        """Delete the chat's albums (/forget, the bot removed); returns how many photos they listed."""
        return await self._run(_forget, chat_id)

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> int:
        """A group became a supergroup: its albums move along."""
        return await self._run(_migrate, old_chat_id, new_chat_id)


def _add(db: sqlite3.Connection, chat_id: int, media_group_id: str, photo: AlbumPhoto) -> None:
    db.execute(
        "INSERT OR IGNORE INTO album_photos (chat_id, media_group_id, file_unique_id, file_id, file_size, message_id,"
        " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            chat_id,
            media_group_id,
            photo.file_unique_id,
            photo.file_id,
            photo.file_size,
            photo.message_id,
            time.time(),
        ),
    )


def _photos(db: sqlite3.Connection, chat_id: int, media_group_id: str) -> list[AlbumPhoto]:
    rows = db.execute(
        "SELECT file_id, file_unique_id, file_size, message_id FROM album_photos"
        " WHERE chat_id = ? AND media_group_id = ? ORDER BY message_id, file_unique_id LIMIT ?",
        (chat_id, media_group_id, ALBUM_MAX),
    ).fetchall()
    return [AlbumPhoto(*row) for row in rows]


def _forget(db: sqlite3.Connection, chat_id: int) -> int:
    return db.execute("DELETE FROM album_photos WHERE chat_id = ?", (chat_id,)).rowcount


def _migrate(db: sqlite3.Connection, old_chat_id: int, new_chat_id: int) -> int:
    return db.execute(
        "UPDATE OR REPLACE album_photos SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id)
    ).rowcount
