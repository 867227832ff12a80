"""Inline mode in-process against the fake Bot API: `@bot words` offers the asker's own private-chat photos,
never a group's or another user's, with /find's filters, the allow-lists, and a short per-user cache."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Update

from tests.support.chat import deliver, photo_bytes


@pytest.fixture
def tg(fake_api):
    return fake_api


async def ask_inline(app, tg, user: dict, text: str, timeout: float = 10.0) -> dict:
    """The user types `@bot text`; returns the bot's answerInlineQuery parameters."""
    query = tg.inline_query(user, text)
    update = Update.de_json({"update_id": tg.inject(query, "inline_query"), "inline_query": query}, app.bot)
    await app.process_update(update)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = tg.inline_answer(query)
        if found is not None:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"no answer to the inline query {text!r}")


async def post(app, tg, chat, user, seed: int) -> dict:
    message = tg.message(chat, user, photo=photo_bytes(seed))
    await deliver(app, tg, message)
    return message


def file_ids(answer: dict) -> set[str]:
    return {r["photo_file_id"] for r in answer["results"]}


async def scene(app, tg):
    """Ann's private photos, Bob's private photos, and a group where both post (Ann too)."""
    ann, bob = tg.user(61, "Ann", username="ann"), tg.user(62, "Bob")
    group = tg.group_chat(-6100, "Both")
    mine = [await post(app, tg, tg.private_chat(ann), ann, seed) for seed in (1, 2, 3)]
    bobs = [await post(app, tg, tg.private_chat(bob), bob, seed) for seed in (4, 5)]
    in_group = [await post(app, tg, group, ann, 6), await post(app, tg, group, bob, 7)]
    photos = app.bot_data["services"].photos
    for chat_id in (ann["id"], bob["id"], group["id"]):
        assert await photos.wait_indexed(chat_id, 10)
    return ann, bob, mine, bobs, in_group


def ids_of(messages: list[dict]) -> set[str]:
    return {m["photo"][-1]["file_id"] for m in messages}


async def test_inline_results_are_only_the_askers_own_private_photos(start_app, tg):
    app = await start_app(admin_user_ids=frozenset({900}), clip_model="m")
    ann, bob, mine, bobs, in_group = await scene(app, tg)
    answer = await ask_inline(app, tg, ann, "beach sunset")
    assert file_ids(answer) == ids_of(mine)  # not the group's photo Ann posted, nor Bob's
    assert file_ids(answer).isdisjoint(ids_of(in_group))
    assert answer["is_personal"] is True and 0 < answer["cache_time"] <= 60
    assert all(r["type"] == "photo" and "caption" not in r for r in answer["results"])
    assert file_ids(await ask_inline(app, tg, bob, "beach sunset")) == ids_of(bobs)
    # Filters as /find's, inside the asker's own photos only.
    assert file_ids(await ask_inline(app, tg, ann, "from:me")) == ids_of(mine)
    assert file_ids(await ask_inline(app, tg, ann, "from:@ann after:2000")) == ids_of(mine)
    assert file_ids(await ask_inline(app, tg, bob, "from:@ann")) == set()  # Ann's group photo stays in the group
    assert (await ask_inline(app, tg, ann, "dogs before:2001"))["results"] == []
    malformed = await ask_inline(app, tg, ann, "dogs after:2024-13")
    assert malformed["results"] == [] and "filter" in malformed["button"]["text"]
    carol = tg.user(63, "Carol")  # never sent the bot a photo
    empty = await ask_inline(app, tg, carol, "")
    assert empty["results"] == [] and empty["button"]["start_parameter"] == "inline"


async def test_an_inline_query_is_embedded_once_per_user_and_query_while_cached(start_app, tg):
    app = await start_app(clip_model="m")
    ann, bob, mine, _, _ = await scene(app, tg)
    backend = app.bot_data["backend"]
    for _ in range(3):
        assert file_ids(await ask_inline(app, tg, ann, "red  kite")) == ids_of(mine)
    assert sum(batch.count("red kite") for batch in backend.batches) == 1
    await ask_inline(app, tg, bob, "red kite")  # another user: his own search
    assert sum(batch.count("red kite") for batch in backend.batches) == 2


async def test_a_user_not_on_the_allow_lists_gets_no_results_and_a_button(start_app, tg):
    app = await start_app(allowed_user_ids=frozenset({61}), clip_model="m")
    ann, bob = tg.user(61, "Ann"), tg.user(62, "Bob", language_code="zh")
    await post(app, tg, tg.private_chat(ann), ann, 1)
    assert await app.bot_data["services"].photos.wait_indexed(ann["id"], 10)
    refused = await ask_inline(app, tg, bob, "anything")
    assert refused["results"] == []
    assert refused["button"]["text"] == "这是私人机器人"
    assert len((await ask_inline(app, tg, ann, "anything"))["results"]) == 1


async def test_forget_drops_the_cached_answers_with_the_photos(start_app, tg):
    app = await start_app(clip_model="m")
    ann = tg.user(64, "Ann")
    chat = tg.private_chat(ann)
    await post(app, tg, chat, ann, 1)
    assert await app.bot_data["services"].photos.wait_indexed(ann["id"], 10)
    assert len((await ask_inline(app, tg, ann, "cat"))["results"]) == 1
    forget = tg.message(chat, ann, text="/forget")
    await deliver(app, tg, forget)
    deadline = time.monotonic() + 10
    while not [m for m in tg.bot_messages(chat["id"]) if "Done" in m.get("text", "")]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert (await ask_inline(app, tg, ann, "cat"))["results"] == []
