"""The one way the bot opens its SQLite file (DATA_DIR/bot.sqlite3), shared by every store in it."""

from __future__ import annotations

import sqlite3
from pathlib import Path


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
