"""Per-user quotas on expensive commands, per minute and per day, counted across chats and restarts."""

from __future__ import annotations

import time
from pathlib import Path

from bot import texts
from bot.errors import QuotaExceeded
from bot.stores.sqlite import connect

WINDOWS = (("minute", 60.0), ("day", 86_400.0))


class Quotas:
    """Counts accepted jobs per user and task in SQLite; refuses one over a limit with the time to wait."""

    def __init__(self, path: Path, per_minute: dict[str, int], per_day: dict[str, int]) -> None:
        self._db = connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS quota_use (user_id INTEGER, task TEXT, at REAL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS quota_use_by_user ON quota_use (user_id, task, at)")
        self._limits = {"minute": per_minute, "day": per_day}

    def limit(self, window: str, task: str) -> int:
        """The limit for `task` in `window` (a task's own, else '*', else none = 0)."""
        limits = self._limits[window]
        return limits.get(task, limits.get("*", 0))

    def check(self, user_id: int, task: str, now: float | None = None) -> None:
        """Raise QuotaExceeded, saying when the next job is allowed, if one more would go over a limit."""
        now = time.time() if now is None else now
        for window, seconds in WINDOWS:
            limit = self.limit(window, task)
            if limit <= 0:
                continue
            rows = self._db.execute(
                "SELECT at FROM quota_use WHERE user_id = ? AND task = ? AND at > ? ORDER BY at DESC LIMIT ?",
                (user_id, task, now - seconds, limit),
            ).fetchall()
            if len(rows) >= limit:
                wait = rows[-1][0] + seconds - now
                raise QuotaExceeded(
                    f"user {user_id} over {limit} {task}/{window}",
                    user_message=texts.quota_exceeded(limit, task, window, wait),
                )

    def record(self, user_id: int, task: str, now: float | None = None) -> None:
        """Count one accepted job."""
        now = time.time() if now is None else now
        self._db.execute("INSERT INTO quota_use VALUES (?, ?, ?)", (user_id, task, now))
        self._db.execute("DELETE FROM quota_use WHERE at < ?", (now - WINDOWS[-1][1],))

    def close(self) -> None:
        self._db.close()
