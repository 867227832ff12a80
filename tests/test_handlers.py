"""Handlers in-process: the real Application and request pipeline against the fake Bot API and a fake backend.

No subprocess and no model: an update goes through `Application.process_update` and the answer is read off
the fake server, each in milliseconds. The subprocess end-to-end tests (test_e2e_*) cover the real bot.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Update

from bot import texts
from bot.app import build_application
from bot.settings import Settings
from tests.support.bot_process import TOKEN
from tests.support.chat import is_status, photo_bytes, replies_to
from tests.support.fake_backend import FakeBackend
from tests.support.fake_telegram import FakeTelegram


@pytest.fixture
def tg():
    server = FakeTelegram(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
async def app(tg, tmp_path):
    """The whole bot, in this process, on the fake Bot API, running jobs on a FakeBackend."""
    backend = FakeBackend()
    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_base_url=tg.base_url,
        telegram_base_file_url=tg.base_file_url,
        data_dir=tmp_path,
        quota_per_minute={"caption": 2},
        admin_user_ids=frozenset({900}),
    )
    application = build_application(settings, backend=backend)
    async with application:  # initialize(), then what run_polling() does besides polling
        await application.post_init(application)
        await application.start()
        application.bot_data["backend"] = backend
        yield application
        await application.stop()
        await application.post_shutdown(application)


async def send(app, tg, chat, user, **message) -> dict:
    """The user sends a message; the application handles its update (in this process) and we wait for the
    answer: the bot's first reply to it that is not a status message."""
    sent = tg.message(chat, user, **message)
    update_id = tg.inject(sent)
    await app.process_update(Update.de_json({"update_id": update_id, "message": sent}, app.bot))
    return await answer(tg, sent)


async def answer(tg, request: dict, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        final = [m for m in replies_to(tg, request) if not is_status(m.get("text"))]
        if final:
            return final[0]
        await asyncio.sleep(0.005)
    raise AssertionError(f"no answer to {request.get('text') or request.get('caption')!r}")


async def test_caption_on_a_photo_is_answered_by_the_backend(app, tg):
    ann = tg.user(1, "Ann")
    started = time.monotonic()
    reply = await send(app, tg, tg.private_chat(ann), ann, photo=photo_bytes(1), caption="/caption a dog")
    assert reply["text"] == "caption of a dog"
    assert time.monotonic() - started < 1.0
    assert ["a dog"] in app.bot_data["backend"].batches


async def test_help_and_usage_texts_come_in_the_users_language(app, tg):
    li = tg.user(2, "Li", language_code="zh-hans")
    chat = tg.private_chat(li)
    assert (await send(app, tg, chat, li, text="/caption"))["text"] == texts.CAPTION_USAGE.zh
    assert (await send(app, tg, chat, li, text="/help"))["text"].startswith(texts.HELP_HEADER.zh)


async def test_quota_refusal_and_a_queue_refusal_gives_the_quota_back(app, tg):
    bo = tg.user(3, "Bo")
    chat = tg.private_chat(bo)
    queue = app.bot_data["services"].queue
    queue._max_pending = 0  # the queue refuses everything: the quota taken for it must be given back
    busy = await send(app, tg, chat, bo, photo=photo_bytes(2), caption="/caption one")
    assert busy["text"] == texts.BUSY.en
    queue._max_pending = 10
    for n in ("two", "three"):  # the limit is 2 a minute, and the refused one did not count
        assert (await send(app, tg, chat, bo, photo=photo_bytes(3), caption=f"/caption {n}"))[
            "text"
        ] == f"caption of {n}"
    over = await send(app, tg, chat, bo, photo=photo_bytes(4), caption="/caption four")
    assert "limit of 2 /caption requests per minute" in over["text"]


async def test_an_update_delivered_twice_is_answered_once(app, tg):
    cy = tg.user(4, "Cy")
    sent = tg.message(tg.private_chat(cy), cy, photo=photo_bytes(5), caption="/caption once")
    update = {"update_id": tg.inject(sent), "message": sent}
    await app.process_update(Update.de_json(update, app.bot))
    await answer(tg, sent)
    await app.process_update(Update.de_json(update, app.bot))  # Telegram delivers it again
    await asyncio.sleep(0.1)
    assert [m["text"] for m in replies_to(tg, sent)] == ["caption of once"]
    assert app.bot_data["backend"].batches.count(["once"]) == 1


async def test_a_worker_error_kind_is_put_into_words_by_the_bot(app, tg):
    app.bot_data["backend"].unavailable = True  # the backend raises contract.errors.ModelUnavailable
    di = tg.user(5, "Di")
    reply = await send(app, tg, tg.private_chat(di), di, photo=photo_bytes(6), caption="/caption x")
    assert reply["text"] == texts.MODEL_UNAVAILABLE.en


async def test_admin_only_commands_are_refused_to_others_in_the_pipeline(app, tg):
    ed, admin = tg.user(6, "Ed"), tg.user(900, "Root")
    assert (await send(app, tg, tg.private_chat(ed), ed, text="/stats"))["text"] == texts.ADMINS_ONLY.en
    assert (await send(app, tg, tg.private_chat(admin), admin, text="/safety"))["text"] != texts.ADMINS_ONLY.en


async def test_a_follow_up_sent_at_once_continues_the_new_photos_conversation(app, tg):
    """ "/ask what is this?" on a new photo, then at once "/ask and the colour?": the follow-up waits until the
    new photo's conversation exists, however long its download takes, and continues it (issue 15 §4)."""
    ann = tg.user(1, "Ann")
    chat = tg.private_chat(ann)
    await send(app, tg, chat, ann, photo=photo_bytes(1), caption="/ask old photo?")  # the previous conversation
    first = tg.message(chat, ann, photo=photo_bytes(2), caption="/ask what is this?")
    second = tg.message(chat, ann, text="/ask and the colour?")
    for message in (first, second):
        await app.process_update(Update.de_json({"update_id": tg.inject(message), "message": message}, app.bot))
    assert (await answer(tg, first))["text"] == "answer to what is this?"
    assert (await answer(tg, second))["text"] == "answer to and the colour?"
    await asyncio.sleep(0.2)  # the answer is linked to its conversation right after it is sent
    history = app.bot_data["services"].history
    for request in (first, second):
        linked = await history.for_answer(chat["id"], (await answer(tg, request))["message_id"])
        assert [t.question for t in linked.turns] == ["what is this?", "and the colour?"]


async def test_a_locked_database_gets_a_plain_reply_and_never_holds_up_others(app, tg, tmp_path):
    """Another process holds bot.sqlite3 (a backup, an admin's sqlite3): the request that needs it is told
    storage is busy within seconds, and meanwhile another user's /help is answered at once (issue 15 §6)."""
    import sqlite3

    ann, bob = tg.user(1, "Ann"), tg.user(2, "Bob")
    other = sqlite3.connect(tmp_path / "bot.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        request = tg.message(tg.private_chat(ann), ann, photo=photo_bytes(1), caption="/caption")
        started = time.monotonic()
        await app.process_update(Update.de_json({"update_id": tg.inject(request), "message": request}, app.bot))
        helped = await send(app, tg, tg.private_chat(bob), bob, text="/help")
        assert time.monotonic() - started < 2.0 and helped["text"].startswith(texts.HELP_HEADER.en)
        assert (await answer(tg, request, timeout=10.0))["text"] == texts.STORAGE_BUSY.en
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (await send(app, tg, tg.private_chat(ann), ann, photo=photo_bytes(2), caption="/caption x"))["text"] == (
        "caption of x"
    )


async def test_a_request_over_the_quota_is_refused_before_its_photo_is_downloaded_and_a_burst_once(
    app, tg, monkeypatch
):
    import bot.pipeline

    fetched: list[str] = []  # the photos fetched for a command (indexing fetches them too, in the background)
    fetch = bot.pipeline.fetch_image

    async def fetch_image(telegram_bot, photo, decoder):
        fetched.append(photo.file_id)
        return await fetch(telegram_bot, photo, decoder)

    monkeypatch.setattr(bot.pipeline, "fetch_image", fetch_image)
    flo = tg.user(5, "Flo")
    chat = tg.private_chat(flo)
    for n in ("one", "two"):  # the limit is 2 a minute
        assert (await send(app, tg, chat, flo, photo=photo_bytes(10), caption=f"/caption {n}"))["text"] == (
            f"caption of {n}"
        )
    assert len(fetched) == 2
    over = await send(app, tg, chat, flo, photo=photo_bytes(11), caption="/caption three")
    assert "limit of 2 /caption requests per minute" in over["text"]
    # The rest of the burst: refused without a word, and nothing of it downloaded.
    more = [tg.message(chat, flo, photo=photo_bytes(12 + i), caption="/caption") for i in range(5)]
    for sent in more:
        await app.process_update(Update.de_json({"update_id": tg.inject(sent), "message": sent}, app.bot))
    await asyncio.sleep(0.5)
    assert not any(replies_to(tg, sent) for sent in more)
    assert len(fetched) == 2  # none of the refused requests' photos was fetched for its command
    # Another user is answered as ever.
    ann = tg.user(6, "Ann")
    assert (await send(app, tg, tg.private_chat(ann), ann, photo=photo_bytes(20), caption="/caption hi"))[
        "text"
    ] == "caption of hi"


async def test_a_request_that_fails_after_admission_gives_its_quota_and_place_back(app, tg):
    bo = tg.user(7, "Bo")
    chat = tg.private_chat(bo)
    not_an_image = dict(document=b"not an image", document_mime="image/png", document_name="x.png")
    bad = await send(app, tg, chat, bo, caption="/caption", **not_an_image)
    assert "limit" not in bad["text"] and bad["text"] != "caption of "
    for n in ("one", "two"):  # the failed one did not count against the 2 a minute
        assert (await send(app, tg, chat, bo, photo=photo_bytes(30), caption=f"/caption {n}"))["text"] == (
            f"caption of {n}"
        )
    queue = app.bot_data["services"].queue
    assert not queue._reserved  # no place kept for a request that is over
