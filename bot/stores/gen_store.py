"""SQLite storage for /gen: the parameters behind rerun buttons, and the admins' safety switch."""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.stores.sqlite import SQLiteStore
from contract.requests import SEED_LIMIT, GenerateRequest

if TYPE_CHECKING:
    from PIL.Image import Image

# Rerun buttons keep working this long; older entries are deleted.
BUTTON_TTL_S = 30 * 24 * 3600


@dataclass(frozen=True)
class GenParams:
    """A /gen request as the user gave it: parsed from the command, kept for the rerun buttons (Telegram's
    callback_data holds only 64 bytes), and turned into the worker's GenerateRequest. `seed` None: pick one.
    `source_file_id`: the photo an image-to-image request redraws (a rerun downloads it again), at `strength`."""

    prompt: str
    seed: int | None
    steps: int
    width: int
    height: int
    count: int = 1
    negative_prompt: str | None = None
    as_file: bool = False
    source_file_id: str | None = None
    strength: float | None = None

    def seeded(self) -> GenParams:
        """These parameters with a seed: the given one, or a random one."""
        return self if self.seed is not None else replace(self, seed=secrets.randbelow(SEED_LIMIT))

    def request(self, *, guidance: float, check_safety: bool, source: Image | None = None) -> GenerateRequest:
        """The worker's request to draw these (with the model's guidance); the seed must be set, and
        `source` (the decoded photo behind source_file_id) given for an image-to-image request."""
        assert self.seed is not None, "seeded() first"
        assert (source is None) == (self.source_file_id is None), "the source photo goes with its file id"
        return GenerateRequest(
            prompt=self.prompt,
            seed=self.seed,
            steps=self.steps,
            width=self.width,
            height=self.height,
            guidance=guidance,
            count=self.count,
            negative_prompt=self.negative_prompt,
            check_safety=check_safety,
            source=source,
            strength=self.strength if self.strength is not None else 1.0,
        )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS gen_buttons (
    key TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    created REAL NOT NULL,
    prompt TEXT NOT NULL,
    seed INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    count INTEGER NOT NULL,
    negative_prompt TEXT,
    as_file INTEGER NOT NULL,
    source_file_id TEXT,
    strength REAL
);
CREATE INDEX IF NOT EXISTS gen_buttons_created ON gen_buttons (created);
CREATE TABLE IF NOT EXISTS bot_flags (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    changed_by INTEGER,
    changed REAL NOT NULL
);
"""
_FIELDS = tuple(GenParams.__dataclass_fields__)
# Columns added after the first release (image-to-image), added to an older file on open.
_ADDED_COLUMNS = (("source_file_id", "TEXT"), ("strength", "REAL"))


class GenStore(SQLiteStore):
    """One SQLite connection guarded by a lock; every method is short and blocking (call it off the loop)."""

    SCHEMA = _SCHEMA

    def __init__(self, path: Path, ttl_s: float = BUTTON_TTL_S) -> None:
        super().__init__(path)
        self.ttl_s = ttl_s

    def open(self) -> None:
        super().open()
        db = self._conn()
        known = {row[1] for row in db.execute("PRAGMA table_info(gen_buttons)")}
        for column, kind in _ADDED_COLUMNS:
            if column not in known:
                db.execute(f"ALTER TABLE gen_buttons ADD COLUMN {column} {kind}")

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("GenStore used before open()")
        return self._db

    def remember(self, params: GenParams, chat_id: int, user_id: int) -> str:
        """Store `params` for the buttons of a result in `chat_id`; returns the key the buttons carry."""
        assert params.seed is not None, "a rerun draws the same seed: seeded() first"
        key = secrets.token_urlsafe(9)  # 12 characters; unguessable, so one chat can't replay another's
        now = time.time()
        row = asdict(params)
        with self._lock, self._conn() as db:
            db.execute("DELETE FROM gen_buttons WHERE created < ?", (now - self.ttl_s,))
            db.execute(
                f"INSERT INTO gen_buttons (key, chat_id, user_id, created, {', '.join(_FIELDS)}) "
                f"VALUES (?, ?, ?, ?, {', '.join('?' * len(_FIELDS))})",
                (key, chat_id, user_id, now, *(row[f] for f in _FIELDS)),
            )
        return key

    def recall(self, key: str, chat_id: int) -> GenParams | None:
        """The parameters behind `key`, if they belong to `chat_id` and haven't expired."""
        with self._lock:
            found = (
                self._conn()
                .execute(
                    f"SELECT {', '.join(_FIELDS)} FROM gen_buttons WHERE key = ? AND chat_id = ? AND created >= ?",
                    (key, chat_id, time.time() - self.ttl_s),
                )
                .fetchone()
            )
        if found is None:
            return None
        params = dict(zip(_FIELDS, found, strict=False))
        params["as_file"] = bool(params["as_file"])
        return GenParams(**params)

    def forget(self, chat_id: int) -> int:
        """Delete the prompts behind the chat's rerun buttons (/forget, the bot removed); returns how many."""
        with self._lock, self._conn() as db:
            return db.execute("DELETE FROM gen_buttons WHERE chat_id = ?", (chat_id,)).rowcount

    def migrate(self, old_chat_id: int, new_chat_id: int) -> int:
        """A group became a supergroup: its rerun buttons keep working there."""
        with self._lock, self._conn() as db:
            return db.execute(
                "UPDATE gen_buttons SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id)
            ).rowcount

    def flag(self, name: str) -> str | None:
        with self._lock:
            found = self._conn().execute("SELECT value FROM bot_flags WHERE name = ?", (name,)).fetchone()
        return found[0] if found else None

    def set_flag(self, name: str, value: str, changed_by: int | None = None) -> None:
        with self._lock, self._conn() as db:
            db.execute(
                "INSERT INTO bot_flags (name, value, changed_by, changed) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value, changed_by = excluded.changed_by, "
                "changed = excluded.changed",
                (name, value, changed_by, time.time()),
            )
