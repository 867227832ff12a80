"""The job journal: requests survive a killed or stopped bot and are answered exactly once, in order."""

from __future__ import annotations

import sqlite3
import time

import pytest

from bot import texts
from tests.support.chat import answer_to, answered_at, is_status, photo_bytes, replies_to

pytestmark = pytest.mark.timeout(240)


def queue_two_users(requests: list[dict], user_ids):
    def prepare(tg):
        for name in ("Ann", "Bob"):
            user = tg.user(next(user_ids), name)
            chat = tg.private_chat(user)
            for _i in range(3):
                requests.append(tg.send_message(chat, user, photo=photo_bytes(len(requests)), caption="/caption"))

    return prepare


def wait_until_queued(tg, requests: list[dict], count: int) -> None:
    deadline = time.monotonic() + 30
    while sum(any(is_status(m.get("text")) for m in replies_to(tg, r)) for r in requests) < count:
        assert time.monotonic() < deadline, "requests never showed their place in line"
        time.sleep(0.01)
    # The bot records a status message's id right after Telegram accepts it; a crash inside those
    # few milliseconds would leave that one status message behind (the answer still comes once).
    time.sleep(0.3)


def assert_each_answered_once_in_order(tg, requests: list[dict]) -> None:
    answers = [answer_to(tg, r, timeout=120) for r in requests]
    time.sleep(1.0)  # anything sent twice would show up by now
    for request in requests:
        replies = replies_to(tg, request)
        assert len(replies) == 1 and not is_status(replies[0].get("text")), [
            (m["message_id"], m.get("text"), tg.edits_of(m["chat"]["id"], m["message_id"])) for m in replies
        ]
    for user_id in {r["from"]["id"] for r in requests}:
        times = [answered_at(tg, a) for r, a in zip(requests, answers, strict=False) if r["from"]["id"] == user_id]
        assert times == sorted(times), "a user's requests were answered out of order"


def journal_rows(bot) -> int:
    """Requests the journal still holds as unanswered."""
    with sqlite3.connect(bot.workdir / "data" / "bot.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM job_journal WHERE done_at IS NULL").fetchone()[0]


def test_killed_bot_answers_every_queued_request_exactly_once_after_restart(new_bot, tiny_blip, user_ids):
    requests: list[dict] = []
    tg, bot = new_bot(queue_two_users(requests, user_ids), caption_model=tiny_blip, max_batch_size=1)
    wait_until_queued(tg, requests, 4)
    bot.kill()  # SIGKILL: no clean-up at all
    unanswered = [r for r in requests if not any(not is_status(m.get("text")) for m in replies_to(tg, r))]
    assert unanswered
    assert tg.pending_updates() == []  # Telegram won't send them again: only the journal has them
    bot.start()
    assert_each_answered_once_in_order(tg, requests)
    assert journal_rows(bot) == 0
    assert "replaying" in bot.logs()


def test_stopped_bot_does_not_wait_for_the_queue_and_resumes_after_restart(new_bot, tiny_blip, user_ids):
    requests: list[dict] = []
    tg, bot = new_bot(queue_two_users(requests, user_ids), caption_model=tiny_blip, max_batch_size=1)
    wait_until_queued(tg, requests, 4)
    assert bot.stop() == 0  # Ctrl-C: the queue is closed, nothing is answered with an error
    unanswered = [r for r in requests if not any(not is_status(m.get("text")) for m in replies_to(tg, r))]
    assert unanswered, "the stop waited for every job"
    assert journal_rows(bot) == len(unanswered)
    bot.start()
    assert_each_answered_once_in_order(tg, requests)
    # The replay carried on in the status message the user already had.
    resumed = [
        r for r in unanswered if texts.RESUMED.en in tg.edits_of(r["chat"]["id"], replies_to(tg, r)[0]["message_id"])
    ]
    assert resumed
    assert journal_rows(bot) == 0


def test_an_update_delivered_twice_is_answered_once(new_bot, tiny_blip, user_ids):
    tg, bot = new_bot(caption_model=tiny_blip)
    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)
    request = tg.message(chat, user, photo=photo_bytes(1), caption="/caption")
    update_id = tg.inject(request)
    answer_to(tg, request)
    bot.kill()
    tg.inject(request, update_id=update_id)  # the bot died before Telegram saw it confirmed
    bot.start()
    marker = tg.send_message(chat, user, text="/start")
    answer_to(tg, marker, timeout=30)
    assert tg.updates_confirmed() >= update_id
    assert len(replies_to(tg, request)) == 1
    assert "already handled" in bot.logs()
