"""ChatHistory: conversations about photos, per chat and forum topic, in SQLite (they survive restarts).

A conversation is one photo, or an album's photos (their bytes, so it can be rebuilt after a restart
without Telegram), and the questions and answers about it. Each chat and forum topic has a current conversation: the one
about its last photo, which `/ask` without a photo continues. The bot's answer messages are linked
to their conversation, so replying to any of them continues that conversation, even an older one.
Nothing is shared between chats: every lookup is keyed by the chat it comes from.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot import texts
from bot.stores.sqlite import SQLiteStore
from contract.requests import Turn

if TYPE_CHECKING:
    from telegram import Message

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_conversations (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    thread_id INTEGER NOT NULL,
    image BLOB NOT NULL,
    file_id TEXT,
    file_unique_id TEXT,
    created REAL NOT NULL,
    used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_conversations_scope ON chat_conversations (chat_id, thread_id, used);
CREATE TABLE IF NOT EXISTS chat_turns (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_turns_conversation ON chat_turns (conversation_id, id);
CREATE TABLE IF NOT EXISTS chat_answer_messages (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX IF NOT EXISTS chat_answer_messages_conversation ON chat_answer_messages (conversation_id);
CREATE TABLE IF NOT EXISTS chat_conversation_photos (
    conversation_id INTEGER NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    image BLOB NOT NULL,
    PRIMARY KEY (conversation_id, position)
);
"""

# Columns added after the first release (table, column, type), and the indexes on them.
_ADDED_COLUMNS = (
    ("chat_conversations", "origin_message_id", "INTEGER"),  # the message whose photo started it
    ("chat_turns", "update_id", "INTEGER"),  # the request that asked it: a replay never stores it twice
)
_ADDED_INDEXES = """
CREATE TABLE IF NOT EXISTS chat_requests (
    update_id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_requests_conversation ON chat_requests (conversation_id);
CREATE UNIQUE INDEX IF NOT EXISTS chat_turns_update ON chat_turns (update_id);
CREATE INDEX IF NOT EXISTS chat_conversations_origin ON chat_conversations (chat_id, origin_message_id);
"""


# Which conversation a request is about is kept this long (past any replay of it).
KEEP_PINS_S = 2 * 86_400.0


@dataclass(frozen=True)
class Scope:
    """Where a conversation lives: a chat, and a forum topic in it (0 outside topics)."""

    chat_id: int
    thread_id: int = 0


def scope_of(message: Message) -> Scope:
    """The chat and forum topic `message` was sent in."""
    thread_id = message.message_thread_id if message.is_topic_message and message.message_thread_id else 0
    return Scope(message.chat_id, thread_id)


@dataclass(frozen=True)
class Conversation:
    """One photo (an album: its first photo, the others in `more_images`) and what was asked about it,
    oldest turn first."""

    id: int
    scope: Scope
    image: bytes
    file_unique_id: str | None
    turns: tuple[Turn, ...]
    more_images: tuple[bytes, ...] = ()

    @property
    def photos(self) -> int:
        return 1 + len(self.more_images)


class ChatHistory(SQLiteStore):
    """The conversations of every chat, in one SQLite file (WAL, so reads never wait for a write).

    The async methods run the SQL on a worker thread, one statement batch at a time, so the
    update loop never waits on the disk.
    """

    SCHEMA = _SCHEMA

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._turn_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def open(self) -> None:
        super().open()
        assert self._db is not None
        for table, column, kind in _ADDED_COLUMNS:
            if column not in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        self._db.executescript(_ADDED_INDEXES)
        self._db.execute("DELETE FROM chat_requests WHERE created < ?", (time.time() - KEEP_PINS_S,))

    def turn_lock(self, conversation_id: int) -> asyncio.Lock:
        """A lock that orders the turns of one conversation: a follow-up waits for the answer before it."""
        lock = self._turn_locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._turn_locks[conversation_id] = lock
        return lock

    # -- reading -----------------------------------------------------------------------------------

    async def current(self, scope: Scope) -> Conversation | None:
        """The conversation about the scope's last photo, if any."""
        return await self._run(_current, scope)

    async def get(self, scope: Scope, conversation_id: int) -> Conversation | None:
        """A conversation of this chat by id (None if it was reset, or belongs to another chat)."""
        return await self._run(_load, scope.chat_id, conversation_id)

    async def for_answer(self, chat_id: int, message_id: int) -> Conversation | None:
        """The conversation one of the bot's answer messages in this chat belongs to."""
        return await self._run(_for_answer, chat_id, message_id)

    async def for_photo(self, scope: Scope, file_unique_id: str) -> Conversation | None:
        """The newest conversation of the scope about this very photo, to continue instead of starting over."""
        return await self._run(_for_photo, scope, file_unique_id)

    # -- writing -----------------------------------------------------------------------------------

    async def pin(self, update_id: int, conversation_id: int) -> None:
        """Remember which conversation request `update_id` is about (the first time it was worked out)."""
        await self._run(_pin, update_id, conversation_id)

    async def pinned(self, scope: Scope, update_id: int) -> Conversation | None:
        """The conversation request `update_id` was found to be about before a restart: a replay continues
        that one, not whichever is current by the time it runs."""
        return await self._run(_pinned, scope, update_id)

    async def answer_of(self, update_id: int) -> str | None:
        """The stored answer of the turn that request `update_id` asked (a replay after a death shows it)."""
        return await self._run(_answer_of, update_id)

    async def start(
        self,
        scope: Scope,
        image: bytes,
        file_id: str | None,
        file_unique_id: str | None,
        origin_message_id: int | None = None,
        more_images: tuple[bytes, ...] = (),
    ) -> Conversation:
        """A new conversation about `image` (an album: and `more_images`); it becomes the scope's current one.

        With `origin_message_id` (the message with the photo), a replay of the same request gets the
        conversation it started before, not a second one.
        """
        return await self._run(_start, scope, image, file_id, file_unique_id, origin_message_id, more_images)

    async def add_turn(
        self,
        scope: Scope,
        conversation_id: int,
        turn: Turn,
        message_ids: Iterable[int],
        keep_earlier: int | None = None,
        update_id: int | None = None,
    ) -> bool:
        """Store an answered turn and link its answer messages; the conversation becomes current.

        `keep_earlier`: how many of the turns before this one the model could still see; older ones
        are deleted (they no longer fit its context, and never will again). None keeps them all.
        Returns False when the conversation was reset meanwhile (nothing is stored then). A turn with the
        same `update_id` (the request, replayed after a restart) is stored once.
        """
        return await self._run(_add_turn, scope, conversation_id, turn, list(message_ids), keep_earlier, update_id)

    async def link_messages(self, scope: Scope, conversation_id: int, message_ids: Iterable[int]) -> None:
        """Replies to these bot messages (e.g. a /box photo) continue the conversation."""
        await self._run(_link, scope, conversation_id, list(message_ids))

    async def reset(self, scope: Scope) -> int:
        """Forget every conversation of the scope; returns how many there were."""
        return await self._run(_reset, scope)

    what = texts.PHOTO_CONVERSATIONS  # as a ChatStore: what /forget deletes

    async def forget(self, chat_id: int) -> int:
        """Forget every conversation of the chat, in every forum topic (/forget, or the bot removed)."""
        return await self._run(_forget, chat_id)

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> int:
        """A group became a supergroup: its conversations (and the answers that continue them) move along."""
        return await self._run(_migrate, old_chat_id, new_chat_id)


# -- SQL (run on a worker thread, under ChatHistory._lock) ----------------------------------------------


def _conversation(db: sqlite3.Connection, row: tuple) -> Conversation:
    conversation_id, chat_id, thread_id, image, file_unique_id = row
    turns = db.execute(
        "SELECT question, answer FROM chat_turns WHERE conversation_id = ? ORDER BY id", (conversation_id,)
    ).fetchall()
    more = db.execute(
        "SELECT image FROM chat_conversation_photos WHERE conversation_id = ? ORDER BY position", (conversation_id,)
    ).fetchall()
    return Conversation(
        conversation_id,
        Scope(chat_id, thread_id),
        image,
        file_unique_id,
        tuple(Turn(q, a) for q, a in turns),
        tuple(row[0] for row in more),
    )


_COLUMNS = "id, chat_id, thread_id, image, file_unique_id"


def _current(db: sqlite3.Connection, scope: Scope) -> Conversation | None:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM chat_conversations WHERE chat_id = ? AND thread_id = ? ORDER BY used DESC, id DESC"
        " LIMIT 1",
        (scope.chat_id, scope.thread_id),
    ).fetchone()
    return _conversation(db, row) if row else None


def _load(db: sqlite3.Connection, chat_id: int, conversation_id: int) -> Conversation | None:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM chat_conversations WHERE id = ? AND chat_id = ?", (conversation_id, chat_id)
    ).fetchone()
    return _conversation(db, row) if row else None


def _for_answer(db: sqlite3.Connection, chat_id: int, message_id: int) -> Conversation | None:
    row = db.execute(
        f"SELECT {', '.join('c.' + c for c in _COLUMNS.split(', '))} FROM chat_answer_messages m"
        " JOIN chat_conversations c ON c.id = m.conversation_id"
        " WHERE m.chat_id = ? AND m.message_id = ? AND c.chat_id = ?",
        (chat_id, message_id, chat_id),
    ).fetchone()
    return _conversation(db, row) if row else None


def _for_photo(db: sqlite3.Connection, scope: Scope, file_unique_id: str) -> Conversation | None:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM chat_conversations WHERE chat_id = ? AND thread_id = ? AND file_unique_id = ?"
        " ORDER BY used DESC, id DESC LIMIT 1",
        (scope.chat_id, scope.thread_id, file_unique_id),
    ).fetchone()
    return _conversation(db, row) if row else None


def _pin(db: sqlite3.Connection, update_id: int, conversation_id: int) -> None:
    db.execute(
        "INSERT OR IGNORE INTO chat_requests (update_id, conversation_id, created) VALUES (?, ?, ?)",
        (update_id, conversation_id, time.time()),
    )


def _pinned(db: sqlite3.Connection, scope: Scope, update_id: int) -> Conversation | None:
    row = db.execute(
        f"SELECT {', '.join('c.' + c for c in _COLUMNS.split(', '))} FROM chat_requests r"
        " JOIN chat_conversations c ON c.id = r.conversation_id WHERE r.update_id = ? AND c.chat_id = ?",
        (update_id, scope.chat_id),
    ).fetchone()
    return _conversation(db, row) if row else None


def _answer_of(db: sqlite3.Connection, update_id: int) -> str | None:
    row = db.execute("SELECT answer FROM chat_turns WHERE update_id = ?", (update_id,)).fetchone()
    return row[0] if row else None


def _start(
    db: sqlite3.Connection,
    scope: Scope,
    image: bytes,
    file_id: str | None,
    file_unique_id: str | None,
    origin_message_id: int | None,
    more_images: tuple[bytes, ...] = (),
) -> Conversation:
    now = time.time()
    with db:
        db.execute("BEGIN IMMEDIATE")
        if origin_message_id is not None:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM chat_conversations WHERE chat_id = ? AND thread_id = ?"
                " AND origin_message_id = ? ORDER BY id DESC LIMIT 1",
                (scope.chat_id, scope.thread_id, origin_message_id),
            ).fetchone()
            if row is not None:
                return _conversation(db, row)
        cursor = db.execute(
            "INSERT INTO chat_conversations (chat_id, thread_id, image, file_id, file_unique_id, created, used,"
            " origin_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (scope.chat_id, scope.thread_id, image, file_id, file_unique_id, now, now, origin_message_id),
        )
        db.executemany(
            "INSERT INTO chat_conversation_photos (conversation_id, position, image) VALUES (?, ?, ?)",
            [(cursor.lastrowid, position, more) for position, more in enumerate(more_images, start=1)],
        )
    assert cursor.lastrowid is not None  # an INSERT always sets it
    return Conversation(cursor.lastrowid, scope, image, file_unique_id, (), tuple(more_images))


def _add_turn(
    db: sqlite3.Connection,
    scope: Scope,
    conversation_id: int,
    turn: Turn,
    message_ids: list[int],
    keep_earlier: int | None,
    update_id: int | None,
) -> bool:
    with db:  # one transaction: the turn, its messages and the trimming land together or not at all
        db.execute("BEGIN IMMEDIATE")
        exists = db.execute(
            "SELECT 1 FROM chat_conversations WHERE id = ? AND chat_id = ?", (conversation_id, scope.chat_id)
        ).fetchone()
        if not exists:
            return False
        known = "SELECT 1 FROM chat_turns WHERE update_id = ?"
        if update_id is not None and db.execute(known, (update_id,)).fetchone():
            _link_rows(db, scope, conversation_id, message_ids)  # stored before the restart: only link
            return True
        if keep_earlier is not None:
            db.execute(
                "DELETE FROM chat_turns WHERE conversation_id = ? AND id NOT IN"
                " (SELECT id FROM chat_turns WHERE conversation_id = ? ORDER BY id DESC LIMIT ?)",
                (conversation_id, conversation_id, max(0, keep_earlier)),
            )
        db.execute(
            "INSERT INTO chat_turns (conversation_id, question, answer, created, update_id) VALUES (?, ?, ?, ?, ?)",
            (conversation_id, turn.question, turn.answer, time.time(), update_id),
        )
        _link_rows(db, scope, conversation_id, message_ids)
        db.execute("UPDATE chat_conversations SET used = ? WHERE id = ?", (time.time(), conversation_id))
    return True


def _link_rows(db: sqlite3.Connection, scope: Scope, conversation_id: int, message_ids: list[int]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO chat_answer_messages (chat_id, message_id, conversation_id) VALUES (?, ?, ?)",
        [(scope.chat_id, message_id, conversation_id) for message_id in message_ids],
    )


def _link(db: sqlite3.Connection, scope: Scope, conversation_id: int, message_ids: list[int]) -> None:
    with db:
        db.execute("BEGIN IMMEDIATE")
        exists = db.execute(
            "SELECT 1 FROM chat_conversations WHERE id = ? AND chat_id = ?", (conversation_id, scope.chat_id)
        ).fetchone()
        if exists:
            _link_rows(db, scope, conversation_id, message_ids)


def _forget(db: sqlite3.Connection, chat_id: int) -> int:
    with db:
        db.execute("BEGIN IMMEDIATE")
        cursor = db.execute("DELETE FROM chat_conversations WHERE chat_id = ?", (chat_id,))
    return cursor.rowcount


def _migrate(db: sqlite3.Connection, old_chat_id: int, new_chat_id: int) -> int:
    with db:
        db.execute("BEGIN IMMEDIATE")
        cursor = db.execute("UPDATE chat_conversations SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id))
        db.execute(
            "UPDATE OR REPLACE chat_answer_messages SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id)
        )
    return cursor.rowcount


def _reset(db: sqlite3.Connection, scope: Scope) -> int:
    with db:
        db.execute("BEGIN IMMEDIATE")
        cursor = db.execute(
            "DELETE FROM chat_conversations WHERE chat_id = ? AND thread_id = ?", (scope.chat_id, scope.thread_id)
        )
    return cursor.rowcount
