"""Telegram as it really behaves, in-process against the fake Bot API: users delete their requests, forum
topics mark every message as a reply to the topic's first message, and menu scopes can be refused."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaDocument, InputMediaPhoto, Message
from telegram.error import BadRequest

from bot import texts
from bot.messaging.commands import replied_message, replies_to_bot
from bot.messaging.media import find_photo
from bot.messaging.replies import reply, reply_media
from bot.stores.history import Scope
from tests.support.chat import deliver, photo_bytes
from tests.test_handlers import answer


@pytest.fixture
def tg(fake_api):
    return fake_api


async def bot_message(tg, chat_id: int, predicate, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in tg.bot_messages(chat_id) if predicate(m)]
        if found:
            return found[0]
        await asyncio.sleep(0.005)
    raise AssertionError(f"no such bot message in {tg.bot_messages(chat_id)}")


# -- deleted requests -----------------------------------------------------------------------------------


async def test_the_fake_refuses_a_reply_to_a_deleted_message_as_telegram_does(start_app, tg):
    app = await start_app()
    ann = tg.user(1, "Ann")
    group = tg.group_chat(-100, "Family")
    request = Message.de_json(tg.message(group, ann, text="hello"), app.bot)
    tg.delete_by_user(request.to_dict())
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await request.reply_text("refused", do_quote=True)  # no allow_sending_without_reply


async def test_every_kind_of_reply_reaches_a_user_who_deleted_the_request(start_app, tg):
    app = await start_app()
    ann = tg.user(1, "Ann")
    group = tg.group_chat(-101, "Family")
    request = Message.de_json(tg.message(group, ann, text="/gen two cats"), app.bot)
    tg.delete_by_user(request.to_dict())
    buttons = InlineKeyboardMarkup([[InlineKeyboardButton("again", callback_data="gen:n:k")]])
    text = await reply(request, texts.NOTHING_TO_CANCEL, markup=buttons)
    (photo,) = await reply_media(request, [InputMediaPhoto(photo_bytes(1), caption="one")], markup=buttons)
    (document,) = await reply_media(request, [InputMediaDocument(photo_bytes(2), filename="a.png", caption="f")])
    album = await reply_media(request, [InputMediaPhoto(photo_bytes(3)), InputMediaPhoto(photo_bytes(4))])
    quoted = await reply_media(request, [InputMediaPhoto(photo_bytes(5))], target=request.message_id + 100)
    assert text.text == texts.NOTHING_TO_CANCEL.en and text.reply_markup is not None
    assert photo.photo and photo.reply_markup is not None and document.document and len(album) == 2 and quoted
    for call in tg.calls():
        if call.method.startswith("send"):
            assert call.params["reply_parameters"]["allow_sending_without_reply"] is True, call.describe()


async def test_a_caption_for_a_request_deleted_while_it_waited_still_arrives(start_app, tg):
    app = await start_app()
    backend = app.bot_data["backend"]
    backend.gate.clear()
    bo = tg.user(2, "Bo")
    group = tg.group_chat(-102, "Friends")
    sent = tg.message(group, bo, photo=photo_bytes(6), caption="/caption gone")
    await deliver(app, tg, sent)
    while not backend.batches:  # the job is running
        await asyncio.sleep(0.005)
    tg.delete_by_user(sent)
    backend.gate.set()
    final = await bot_message(tg, group["id"], lambda m: m.get("text") == "caption of gone")
    assert "reply_to_message" not in final


async def test_an_instant_reply_and_the_access_refusal_reach_a_deleted_request(start_app, tg):
    app = await start_app(allowed_user_ids=frozenset({77}))
    stranger = tg.user(3, "Cy")
    group = tg.group_chat(-103, "Strangers")
    sent = tg.message(group, stranger, text="/help")
    tg.delete_by_user(sent)
    await deliver(app, tg, sent)
    refusal = await bot_message(tg, group["id"], lambda m: True)
    assert refusal["text"] == texts.NOT_ALLOWED.en


# -- forum topics ---------------------------------------------------------------------------------------


async def test_in_a_forum_topic_the_topic_root_is_no_reply(start_app, tg):
    app = await start_app()
    di = tg.user(4, "Di")
    forum = tg.group_chat(-1001000000104, "Forum", is_forum=True)
    topic = tg.forum_topic(forum, "Photos")  # created by the bot itself: its messages "reply" to the bot
    plain = Message.de_json(tg.message(forum, di, text="just chatting", message_thread_id=topic["message_id"]), app.bot)
    assert plain.reply_to_message is not None and plain.reply_to_message.forum_topic_created is not None
    assert replied_message(plain) is None and not replies_to_bot(plain) and find_photo(plain) is None
    photo = tg.message(forum, di, photo=photo_bytes(7), message_thread_id=topic["message_id"])
    command = Message.de_json(
        tg.message(forum, di, text="/caption", reply_to=photo, message_thread_id=topic["message_id"]), app.bot
    )
    assert find_photo(command) is not None and replied_message(command).message_id == photo["message_id"]


async def test_plain_chat_in_a_topic_the_bot_opened_does_not_run_ask(start_app, tg):
    app = await start_app()
    di = tg.user(5, "Di")
    forum = tg.group_chat(-1001000000105, "Forum", is_forum=True)
    topic = tg.forum_topic(forum, "Bot's topic")
    await deliver(app, tg, tg.message(forum, di, text="hello all", message_thread_id=topic["message_id"]))
    await asyncio.sleep(0.2)
    assert tg.bot_messages(forum["id"]) == []  # not taken as a follow-up to the bot ("send a photo first")


async def test_cancel_in_a_forum_topic_cancels_the_newest_request(start_app, tg):
    app = await start_app()
    backend = app.bot_data["backend"]
    backend.gate.clear()
    ed = tg.user(6, "Ed")
    forum = tg.group_chat(-1001000000106, "Forum", is_forum=True)
    topic = tg.forum_topic(forum, "Captions", creator=ed)
    for n in (1, 2):
        await deliver(
            app,
            tg,
            tg.message(
                forum, ed, photo=photo_bytes(10 + n), caption=f"/caption n{n}", message_thread_id=topic["message_id"]
            ),
        )
    await asyncio.sleep(0.1)
    cancel = tg.message(forum, ed, text="/cancel", message_thread_id=topic["message_id"])
    await deliver(app, tg, cancel)
    reply_ = await answer(tg, cancel)
    assert reply_["text"] == texts.cancelled("/caption").en
    assert reply_["message_thread_id"] == topic["message_id"]  # answered in the topic
    backend.gate.set()


# -- command menus --------------------------------------------------------------------------------------


async def test_a_refused_menu_scope_is_logged_once_and_the_others_are_set(start_app, tg, caplog):
    known = tg.user(901, "Known admin")
    tg.private_chat(known)  # 901 opened a private chat with the bot; 900 never did
    caplog.set_level(logging.WARNING, logger="bot.app")
    await start_app(admin_user_ids=frozenset({900, 901}))
    assert tg.my_commands() and tg.my_commands(language_code="zh")
    for lang in ("", "zh"):
        assert tg.my_commands(scope={"type": "chat", "chat_id": 901}, language_code=lang)
        assert tg.my_commands(scope={"type": "chat", "chat_id": 900}, language_code=lang) == []
    refused = [r.getMessage() for r in caplog.records if "command menu" in r.getMessage()]
    assert len(refused) == 1 and "admin 900" in refused[0] and "chat not found" in refused[0].lower(), refused


async def test_ask_conversations_are_kept_per_forum_topic_and_continue_by_reply(start_app, tg):
    app = await start_app()
    fay = tg.user(7, "Fay")
    forum = tg.group_chat(-1001000000107, "Forum", is_forum=True)
    cats, dogs = tg.forum_topic(forum, "Cats", creator=fay), tg.forum_topic(forum, "Dogs", creator=fay)
    photo = tg.message(forum, fay, photo=photo_bytes(21), message_thread_id=cats["message_id"])
    first = tg.message(forum, fay, text="/ask what is it?", reply_to=photo, message_thread_id=cats["message_id"])
    await deliver(app, tg, first)
    answered = await answer(tg, first)
    assert answered["text"] == "answer to what is it?" and answered["message_thread_id"] == cats["message_id"]
    await asyncio.sleep(0.05)  # the turn is stored right after the answer
    follow_up = tg.message(forum, fay, text="and its colour?", reply_to=answered, message_thread_id=cats["message_id"])
    await deliver(app, tg, follow_up)
    assert (await answer(tg, follow_up))["text"] == "answer to and its colour?"
    await asyncio.sleep(0.05)
    conversation = await app.bot_data["services"].history.current(Scope(forum["id"], cats["message_id"]))
    assert [t.question for t in conversation.turns] == ["what is it?", "and its colour?"]
    elsewhere = tg.message(forum, fay, text="/ask and this?", message_thread_id=dogs["message_id"])
    await deliver(app, tg, elsewhere)
    assert (await answer(tg, elsewhere))["text"] == texts.ASK_USAGE.en  # the Cats photo is not the Dogs topic's


async def test_gen_albums_buttons_and_find_albums_reach_a_deleted_request(start_app, tg):
    app = await start_app(gen_model_kind="turbo", clip_model="m")  # FakeBackend's embeddings are model "m"'s
    gil = tg.user(8, "Gil")
    group = tg.group_chat(-108, "Artists")
    drawing = tg.message(group, gil, text="/gen two foxes --n 2")
    tg.delete_by_user(drawing)
    await deliver(app, tg, drawing)
    more = await bot_message(tg, group["id"], lambda m: m.get("text") == texts.GEN_MORE.en)
    album = [m for m in tg.bot_messages(group["id"]) if m.get("photo") and m.get("media_group_id")]
    assert len(album) == 2 and album[0]["caption"].startswith("two foxes")
    assert more["reply_markup"]["inline_keyboard"] and more["reply_to_message"]["message_id"] == album[0]["message_id"]
    photos = app.bot_data["services"].photos
    await photos.wait_indexed(group["id"], 10)  # the drawings are remembered for /find
    search = tg.message(group, gil, text="/find foxes")
    tg.delete_by_user(search)
    await deliver(app, tg, search)
    found = await bot_message(tg, group["id"], lambda m: m.get("photo") and m.get("caption", "").startswith("#1"))
    assert "reply_to_message" not in found, found["reply_to_message"]  # sent although the request is gone
