"""PhotoTexts: what people wrote with their indexed photos (caption, sender's name), kept beside the vectors.

chromadb never gets these texts: its SQLite file keeps deleted metadata on disk (checked with chromadb 1.5.9:
a caption was still in chroma.sqlite3 after its collection was deleted), so /forget could not erase them.
Here they live in the bot's own SQLite file, whose deletes are overwritten with zeros (secure_delete).
Synchronous and thread-safe, like PhotoIndex, which owns it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from bot.stores.sqlite import connect, erase_leftovers

_SCHEMA = """
CREATE TABLE IF NOT EXISTS photo_texts (
    chat_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    caption TEXT NOT NULL,
    sender TEXT NOT NULL,
    PRIMARY KEY (chat_id, key)
);
"""


class PhotoTexts:
    """(chat, photo key) -> (caption, sender name), in DATA_DIR/bot.sqlite3."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = connect(self.path)
            self._db.executescript(_SCHEMA)
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def put(self, chat_id: int, texts: Iterable[tuple[str, str, str]]) -> None:
        """Store (key, caption, sender) for photos of the chat; rows with nothing to say are not kept."""
        rows = [(chat_id, key, caption, sender) for key, caption, sender in texts if caption or sender]
        if not rows:
            return
        with self._lock, self._conn() as db:
            db.executemany("INSERT OR REPLACE INTO photo_texts VALUES (?, ?, ?, ?)", rows)

    def get(self, chat_id: int, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
        """key -> (caption, sender) for those of `keys` that have texts."""
        if not keys:
            return {}
        found: dict[str, tuple[str, str]] = {}
        with self._lock:
            db = self._conn()
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ", ".join("?" * len(chunk))
                for key, caption, sender in db.execute(
                    f"SELECT key, caption, sender FROM photo_texts WHERE chat_id = ? AND key IN ({marks})",
                    (chat_id, *chunk),
                ):
                    found[key] = (caption, sender)
        return found

    def forget(self, chat_id: int) -> None:
        """Delete the chat's texts, and the WAL pages that still held them."""
        with self._lock, self._conn() as db:
            db.execute("DELETE FROM photo_texts WHERE chat_id = ?", (chat_id,))
        with self._lock:
            erase_leftovers(self._conn())

    def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        """The texts move with the photos when a group becomes a supergroup."""
        with self._lock, self._conn() as db:
            db.execute("UPDATE OR REPLACE photo_texts SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id))
