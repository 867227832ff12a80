"""Quotas per user and task, per minute and per day, in SQLite."""

from __future__ import annotations

import pytest

from bot.errors import QuotaExceeded
from bot.stores.quotas import Quotas


def test_minute_and_day_limits_with_the_time_to_wait(tmp_path):
    quotas = Quotas(tmp_path / "q.sqlite3", {"*": 2, "gen": 1}, {"*": 3})
    t = 1_000_000.0
    quotas.check(7, "caption", t)
    quotas.record(7, "caption", t)
    quotas.record(7, "caption", t + 10)
    with pytest.raises(QuotaExceeded) as error:
        quotas.check(7, "caption", t + 20)
    assert error.value.user_message.en == "You've reached your limit of 2 /caption requests per minute. Try again in 40 s."
    assert error.value.user_message.zh == "你已达到 /caption 每分钟 2 次的上限。请在 40 秒后再试。"
    quotas.check(8, "caption", t + 20)  # another user is not affected
    quotas.check(7, "find", t + 20)  # nor another task
    quotas.check(7, "caption", t + 61)
    quotas.record(7, "caption", t + 61)
    with pytest.raises(QuotaExceeded) as error:
        quotas.check(7, "caption", t + 200)
    assert "3 /caption requests per day" in error.value.user_message.en
    quotas.record(7, "gen", t)
    with pytest.raises(QuotaExceeded) as error:
        quotas.check(7, "gen", t + 1)
    assert "1 /gen requests per minute" in error.value.user_message.en


def test_zero_means_unlimited_and_counts_survive_a_restart(tmp_path):
    path = tmp_path / "q.sqlite3"
    quotas = Quotas(path, {"*": 0}, {"caption": 1})
    quotas.record(1, "caption", 5.0)
    quotas.close()
    again = Quotas(path, {"*": 0}, {"caption": 1})
    with pytest.raises(QuotaExceeded) as error:
        again.check(1, "caption", 6.0)
    assert "Try again in 24 h" in error.value.user_message.en
    for i in range(50):
        again.check(1, "find", 6.0 + i)
        again.record(1, "find", 6.0 + i)
