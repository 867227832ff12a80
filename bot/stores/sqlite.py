"""The one way the bot opens its SQLite file (DATA_DIR/bot.sqlite3), shared by every store in it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def connect(path: Path) -> sqlite3.Connection:
    """An autocommit connection usable from any thread (callers serialise their own writes).

    WAL lets the stores' readers and writers (history, journal, quotas, rerun buttons) work side by side;
    with synchronous=NORMAL a commit survives a killed process (only a power cut may lose the last ones).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=10000")
    return db


class SQLiteStore:
    """A store with tables of its own in the bot's SQLite file: `open()` connects and creates them
    (`SCHEMA`), `close()` closes; `_lock` serialises the use of the one connection across threads.
    `_run()` runs SQL on a worker thread, so the update loop never waits on the disk (or on a lock held by
    another process)."""

    SCHEMA = ""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        """Create or open the database file and the store's tables (idempotent)."""
        if self._db is not None:
            return
        db = connect(self.path)
        db.executescript(self.SCHEMA)
        self._db = db

    def close(self) -> None:
        """Close the database file (a later open() opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _run(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`function(db, *args)` on a worker thread, holding the store's lock; opens the file if needed."""

        def locked() -> T:
            with self._lock:
                if self._db is None:
                    self.open()
                assert self._db is not None
                return function(self._db, *args)

        return asyncio.ensure_future(asyncio.to_thread(locked))
