"""The one way the bot opens its SQLite file (DATA_DIR/bot.sqlite3), shared by every store in it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.errors import StorageBusy

T = TypeVar("T")

log = logging.getLogger(__name__)

# While another process holds the file (a backup, an admin's `sqlite3`), a statement waits BUSY_TIMEOUT_MS on
# its thread, and `_run` tries again after each of RETRY_PAUSES_S (the thread free meanwhile), then gives up
# with StorageBusy: a few seconds, never the whole bot's patience.
BUSY_TIMEOUT_MS = 1000
RETRY_PAUSES_S = (0.25, 0.5, 1.0)

# The stores' SQL runs on threads of its own, so a locked file never starves the default executor
# (image decoding, the photo index) of threads.
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="sqlite")


def connect(path: Path) -> sqlite3.Connection:
    """An autocommit connection usable from any thread (callers serialise their own writes).

    WAL lets the stores' readers and writers (history, journal, quotas, rerun buttons) work side by side;
    with synchronous=NORMAL a commit survives a killed process (only a power cut may lose the last ones).
    secure_delete overwrites deleted rows with zeros, so a chat's forgotten texts leave no bytes in the file
    (the WAL still holds old pages until `erase_leftovers`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    db.execute("PRAGMA secure_delete=ON")  # per connection: every connection to the file sets it here
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db


def erase_leftovers(db: sqlite3.Connection) -> None:
    """After a forget: copy the WAL into the file and empty it, so the deleted rows' old pages (which the
    WAL keeps until a checkpoint) are gone from the disk too. Waits for readers (busy_timeout)."""
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:  # another connection was reading: the next forget (or a restart) finishes it
        log.warning("the SQLite WAL could not be emptied after a forget (a reader was busy)")


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

    async def erase_leftovers(self) -> None:
        """Empty the file's WAL after a forget (see `erase_leftovers`): the whole file, every store's tables."""
        await self._run(erase_leftovers)

    def _run(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`function(db, *args)` on a worker thread, holding the store's lock; opens the file if needed.

        Raises StorageBusy when another process holds the file past a few retries.
        """

        def locked() -> T:
            with self._lock:
                if self._db is None:
                    self.open()
                assert self._db is not None
                try:
                    return function(self._db, *args)
                except sqlite3.OperationalError:
                    if self._db.in_transaction:  # a failed statement inside BEGIN...: start clean next time
                        self._db.rollback()
                    raise

        async def retried() -> T:
            loop = asyncio.get_running_loop()
            for pause in (*RETRY_PAUSES_S, None):
                try:
                    return await loop.run_in_executor(_EXECUTOR, locked)
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    if pause is None:
                        raise StorageBusy(f"{self.path} is locked by another process: {exc}") from exc
                    log.info("%s is locked (%s); trying again in %.2f s", self.path.name, exc, pause)
                    await asyncio.sleep(pause)
            raise AssertionError("unreachable")

        return asyncio.ensure_future(retried())
