"""ChatHistory on a real SQLite file: scopes, restarts, replies to answers, trimming, /reset."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.stores.history import ChatHistory, Scope
from contract.requests import Turn

A, B = Scope(1), Scope(2)
TOPIC = Scope(-100, thread_id=7)
GENERAL = Scope(-100)


@pytest.fixture
def history(tmp_path):
    store = ChatHistory(tmp_path / "data" / "bot.sqlite3")
    store.open()
    yield store
    store.close()


async def test_a_conversation_is_rebuilt_after_a_restart(history, tmp_path):
    conversation = await history.start(A, b"jpeg-bytes", "file-1", "unique-1")
    assert await history.add_turn(A, conversation.id, Turn("q1", "a1"), [10])
    assert await history.add_turn(A, conversation.id, Turn("q2", "a2"), [12, 13])
    history.close()

    reopened = ChatHistory(tmp_path / "data" / "bot.sqlite3")
    current = await reopened.current(A)
    assert current.image == b"jpeg-bytes" and current.file_unique_id == "unique-1"
    assert current.turns == (Turn("q1", "a1"), Turn("q2", "a2"))
    for message_id in (10, 12, 13):
        assert (await reopened.for_answer(A.chat_id, message_id)).id == conversation.id
    assert await reopened.for_answer(A.chat_id, 11) is None
    reopened.close()


async def test_the_file_is_in_wal_mode(history):
    await history.start(A, b"x", None, None)
    with sqlite3.connect(history.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_chats_and_topics_never_see_each_other(history):
    in_a = await history.start(A, b"a", None, "same-photo")
    await history.add_turn(A, in_a.id, Turn("secret", "of A"), [5])
    assert await history.current(B) is None
    assert await history.for_answer(B.chat_id, 5) is None  # same message id, other chat
    assert await history.get(B, in_a.id) is None  # another chat can't load it by id
    assert await history.for_photo(B, "same-photo") is None
    assert not await history.add_turn(B, in_a.id, Turn("intruder", "x"), [6])  # nor write to it
    assert (await history.current(A)).turns == (Turn("secret", "of A"),)

    in_topic = await history.start(TOPIC, b"t", None, None)
    assert await history.current(GENERAL) is None
    assert (await history.current(TOPIC)).id == in_topic.id


async def test_the_newest_or_last_used_conversation_is_current(history):
    first = await history.start(A, b"1", None, "p1")
    second = await history.start(A, b"2", None, "p2")
    assert (await history.current(A)).id == second.id
    await asyncio.sleep(0.01)
    await history.add_turn(A, first.id, Turn("back to the first photo", "ok"), [20])  # a reply to an old answer
    assert (await history.current(A)).id == first.id
    assert (await history.for_photo(A, "p2")).id == second.id


async def test_trimming_keeps_the_newest_turns_the_model_saw(history):
    conversation = await history.start(A, b"x", None, None)
    for i in range(5):
        await history.add_turn(A, conversation.id, Turn(f"q{i}", f"a{i}"), [100 + i])
    # The model could see only the two newest of the five earlier turns: older ones go for good.
    await history.add_turn(A, conversation.id, Turn("q5", "a5"), [105], keep_earlier=2)
    assert [t.question for t in (await history.current(A)).turns] == ["q3", "q4", "q5"]
    # Single-turn models (keep_earlier=None) trim nothing.
    await history.add_turn(A, conversation.id, Turn("q6", "a6"), [106], keep_earlier=None)
    assert len((await history.current(A)).turns) == 4
    # The answers of trimmed turns still lead to the conversation (its photo is still there).
    assert (await history.for_answer(A.chat_id, 100)).id == conversation.id


async def test_reset_forgets_the_scope_only(history):
    in_a = await history.start(A, b"a", None, None)
    await history.add_turn(A, in_a.id, Turn("q", "a"), [1])
    await history.start(A, b"a2", None, None)
    in_b = await history.start(B, b"b", None, None)
    assert await history.reset(A) == 2
    assert await history.current(A) is None
    assert await history.for_answer(A.chat_id, 1) is None
    assert not await history.add_turn(A, in_a.id, Turn("late answer", "x"), [2])  # a job that finished after /reset
    assert (await history.current(B)).id == in_b.id
    assert await history.reset(A) == 0
    with sqlite3.connect(history.path) as db:  # no orphans left behind
        assert db.execute("SELECT count(*) FROM chat_turns").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM chat_answer_messages").fetchone()[0] == 0


async def test_linked_messages_continue_the_conversation(history):
    conversation = await history.start(A, b"a", None, None)
    await history.link_messages(A, conversation.id, [42])
    assert (await history.for_answer(A.chat_id, 42)).id == conversation.id
    await history.link_messages(B, conversation.id, [43])  # not B's to link
    assert await history.for_answer(B.chat_id, 43) is None


async def test_turn_lock_orders_one_conversation_not_others(history):
    order = []

    async def turn(conversation_id, name, delay):
        async with history.turn_lock(conversation_id):
            order.append(f"{name} start")
            await asyncio.sleep(delay)
            order.append(f"{name} end")

    await asyncio.gather(turn(1, "first", 0.05), turn(1, "follow-up", 0), turn(2, "other", 0))
    assert order.index("first end") < order.index("follow-up start")
    assert order.index("other start") < order.index("first end")
