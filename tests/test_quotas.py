"""Quotas per user and task, per minute and per day, in SQLite."""

from __future__ import annotations

import pytest

from bot.errors import QuotaExceeded
from bot.stores.quotas import Quotas


async def test_minute_and_day_limits_with_the_time_to_wait(tmp_path):
    quotas = Quotas(tmp_path / "q.sqlite3", {"*": 2, "gen": 1}, {"*": 3})
    t = 1_000_000.0
    await quotas.take(7, "caption", t)
    await quotas.take(7, "caption", t + 10)
    with pytest.raises(QuotaExceeded) as error:
        await quotas.take(7, "caption", t + 20)
    assert (
        error.value.user_message.en == "You've reached your limit of 2 /caption requests per minute. Try again in 40 s."
    )
    assert error.value.user_message.zh == "你已达到 /caption 每分钟 2 次的上限。请在 40 秒后再试。"
    await quotas.take(8, "caption", t + 20)  # another user is not affected
    await quotas.take(7, "find", t + 20)  # nor another task
    await quotas.take(7, "caption", t + 61)
    with pytest.raises(QuotaExceeded) as error:
        await quotas.take(7, "caption", t + 200)
    assert "3 /caption requests per day" in error.value.user_message.en
    await quotas.take(7, "gen", t)
    with pytest.raises(QuotaExceeded) as error:
        await quotas.take(7, "gen", t + 1)
    assert "1 /gen requests per minute" in error.value.user_message.en


async def test_a_refused_take_counts_nothing_and_a_refund_gives_one_back(tmp_path):
    quotas = Quotas(tmp_path / "q.sqlite3", {"*": 1}, {})
    at = await quotas.take(3, "caption", 100.0)
    with pytest.raises(QuotaExceeded):
        await quotas.take(3, "caption", 101.0)
    await quotas.refund(3, "caption", at)
    await quotas.take(3, "caption", 102.0)  # the refunded one is free again
    with pytest.raises(QuotaExceeded):
        await quotas.take(3, "caption", 103.0)


async def test_zero_means_unlimited_and_counts_survive_a_restart(tmp_path):
    path = tmp_path / "q.sqlite3"
    quotas = Quotas(path, {"*": 0}, {"caption": 1})
    await quotas.take(1, "caption", 5.0)
    quotas.close()
    again = Quotas(path, {"*": 0}, {"caption": 1})
    with pytest.raises(QuotaExceeded) as error:
        await again.take(1, "caption", 6.0)
    assert "Try again in 24 h" in error.value.user_message.en
    for i in range(50):
        assert await again.take(1, "find", 6.0 + i) is None  # nothing limits /find: nothing is counted
