"""Per-user quotas on expensive commands, per minute and per day, counted across chats and restarts."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bot import texts
from bot.errors import QuotaExceeded
from bot.stores.sqlite import SQLiteStore

WINDOWS = (("minute", 60.0), ("day", 86_400.0))


class Quotas(SQLiteStore):
    """Counts accepted jobs per user and task in SQLite; refuses one over a limit with the time to wait."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS quota_use (user_id INTEGER, task TEXT, at REAL);
    CREATE INDEX IF NOT EXISTS quota_use_by_user ON quota_use (user_id, task, at);
    """

    def __init__(self, path: Path, per_minute: dict[str, int], per_day: dict[str, int]) -> None:
        super().__init__(path)
        self._limits = {"minute": per_minute, "day": per_day}

    def limit(self, window: str, task: str) -> int:
        """The limit for `task` in `window` (a task's own, else '*', else none = 0)."""
        limits = self._limits[window]
        return limits.get(task, limits.get("*", 0))

    async def take(self, user_id: int, task: str, now: float | None = None) -> float | None:
        """Count one job, or raise QuotaExceeded (saying when the next is allowed) if it would go over a limit.

        The check and the count are one step on the store's lock, so two requests at once can't both
        take the last one. Returns the time it was counted at (for `refund`), None when nothing limits `task`.
        """
        if not any(self.limit(window, task) > 0 for window, _ in WINDOWS):
            return None  # unlimited: nothing to count
        at = time.time() if now is None else now
        await self._run(self._take, user_id, task, at)
        return at

    async def refund(self, user_id: int, task: str, at: float) -> None:
        """Uncount a job that was taken but then not accepted (the queue was full)."""
        await self._run(
            _execute,
            "DELETE FROM quota_use WHERE rowid IN "
            "(SELECT rowid FROM quota_use WHERE user_id = ? AND task = ? AND at = ? LIMIT 1)",
            (user_id, task, at),
        )

    async def forget_user(self, user_id: int) -> None:
        """Delete what the user's requests counted (their own /forget in their private chat)."""
        await self._run(_execute, "DELETE FROM quota_use WHERE user_id = ?", (user_id,))

    def _take(self, db: sqlite3.Connection, user_id: int, task: str, now: float) -> None:
        for window, seconds in WINDOWS:
            limit = self.limit(window, task)
            if limit <= 0:
                continue
            rows = db.execute(
                "SELECT at FROM quota_use WHERE user_id = ? AND task = ? AND at > ? ORDER BY at DESC LIMIT ?",
                (user_id, task, now - seconds, limit),
            ).fetchall()
            if len(rows) >= limit:
                wait = rows[-1][0] + seconds - now
                raise QuotaExceeded(
                    f"user {user_id} over {limit} {task}/{window}",
                    user_message=texts.quota_exceeded(limit, task, window, wait),
                )
        db.execute("INSERT INTO quota_use VALUES (?, ?, ?)", (user_id, task, now))
        db.execute("DELETE FROM quota_use WHERE at < ?", (now - WINDOWS[-1][1],))


def _execute(db: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> None:
    db.execute(sql, args)
