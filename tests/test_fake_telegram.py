"""Tests of the fake Bot API server, driven by a real python-telegram-bot ``Bot``."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.warnings import PTBUserWarning

from tests.support.fake_telegram import FakeTelegram

TOKEN = "123456:TEST-token"
NOT_MODIFIED = (
    "Message is not modified: specified new message content and reply markup of the "
    "existing message are exactly the same"
)


def png(width: int = 640, height: int = 480, color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as real_bot:
        yield real_bot


@pytest.fixture
def alice(tg: FakeTelegram) -> dict:
    user = tg.user(1001, "Alice", username="alice")
    tg.private_chat(user)
    return user


@pytest.mark.asyncio
async def test_get_me_and_urls(tg: FakeTelegram, bot: Bot) -> None:
    assert tg.base_url.startswith("http://127.0.0.1:") and tg.base_url.endswith("/bot")
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "tiny_test_bot", True)
    assert tg.calls("getme")[0].method == "getMe"


@pytest.mark.asyncio
async def test_wrong_token_and_unknown_method(tg: FakeTelegram, bot: Bot) -> None:
    wrong = Bot("999:" + "A" * 35, base_url=tg.base_url)  # well-formed, unknown: 401 Unauthorized
    with pytest.raises(InvalidToken, match="was rejected by the server"):
        await wrong.initialize()
    await wrong.shutdown()
    malformed = Bot("999:WRONG", base_url=tg.base_url)  # Telegram answers 404 Not Found to a malformed token
    with pytest.raises(InvalidToken):
        await malformed.initialize()
    await malformed.shutdown()
    assert tg.calls("getMe")[-1].result == "Not Found"
    with pytest.raises(EndPointNotFound):  # PTB's do_api_request turns 404 into this
        await bot.do_api_request("sendNothing", api_kwargs={"chat_id": 1})
    assert any(c.result == "Unauthorized" for c in tg.calls("getMe"))


@pytest.mark.asyncio
async def test_send_reply_edit_delete(tg: FakeTelegram, bot: Bot, alice: dict) -> None:
    question = tg.message(tg.private_chat(alice), alice, text="hi bot")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again")]])
    sent = await bot.send_message(
        alice["id"], "Thinking…", reply_markup=keyboard, reply_parameters=ReplyParameters(question["message_id"])
    )
    assert sent.message_id == question["message_id"] + 1  # one counter per chat
    assert sent.reply_to_message.text == "hi bot" and sent.from_user.id == tg.bot_id
    assert sent.reply_markup == keyboard

    edited = await bot.edit_message_text("Answer", alice["id"], sent.message_id, reply_markup=keyboard)
    assert edited.text == "Answer" and edited.edit_date is not None
    with pytest.raises(BadRequest) as error:
        await bot.edit_message_text("Answer", alice["id"], sent.message_id, reply_markup=keyboard)
    assert str(error.value) == NOT_MODIFIED
    await bot.edit_message_text("Answer", alice["id"], sent.message_id)  # drops the keyboard
    assert tg.edits_of(alice["id"], sent.message_id) == ["Thinking…", "Answer", "Answer"]
    [state] = tg.bot_messages(alice["id"])
    assert "reply_markup" not in state and state["text"] == "Answer"

    assert await bot.delete_message(alice["id"], sent.message_id)
    with pytest.raises(BadRequest, match=r"^Message to delete not found$"):
        await bot.delete_message(alice["id"], sent.message_id)
    with pytest.raises(BadRequest, match=r"^Message to edit not found$"):
        await bot.edit_message_text("x", alice["id"], sent.message_id)
    assert tg.bot_messages(alice["id"]) == []
    assert [m["message_id"] for m in tg.deleted_messages(alice["id"])] == [sent.message_id]


@pytest.mark.asyncio
async def test_text_errors(tg: FakeTelegram, bot: Bot, alice: dict) -> None:
    cases = [
        ({"text": "   "}, "Message text is empty"),
        ({"text": "x" * 4097}, "Message is too long"),
        ({"text": "hi", "chat_id": 42}, "Chat not found"),
        (
            {"text": "<b>hi", "parse_mode": ParseMode.HTML},
            "Can't parse entities: can't find end tag corresponding to start tag \"b\"",
        ),
        ({"text": "1.5", "parse_mode": ParseMode.MARKDOWN_V2}, "reserved"),
    ]
    for kwargs, description in cases:
        with pytest.raises(BadRequest) as error:
            await bot.send_message(**{"chat_id": alice["id"], **kwargs})
        assert description in str(error.value)
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(alice["id"], png(), caption="c" * 1025)
    with pytest.raises(BadRequest, match="Chat not found"), pytest.warns(PTBUserWarning):
        await bot.do_api_request("sendMessage", api_kwargs={"text": "no chat"})
    sent = await bot.send_message(
        alice["id"], "  <b>bold</b> <a href='https://x.y'>link</a> ", parse_mode=ParseMode.HTML
    )
    assert sent.text == "bold link"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 4), ("text_link", 5, 4)]
    assert tg.bot_messages(alice["id"])[0]["entities"][1]["url"] == "https://x.y"


@pytest.mark.asyncio
async def test_photo_upload_resend_and_download(tg: FakeTelegram, bot: Bot, alice: dict) -> None:
    image = png(1600, 1200)
    sent = await bot.send_photo(alice["id"], image, caption="a red square")
    sizes = [(p.width, p.height) for p in sent.photo]
    assert sizes[0] == (90, 68) and sizes[-1] == (1600, 1200) and len(sizes) == 5
    assert len({p.file_unique_id for p in sent.photo}) == len(sent.photo)
    call = tg.wait_for_call("sendPhoto")
    assert call.files["photo"] == image and call.params["caption"] == "a red square"
    assert call.params["chat_id"] == alice["id"]

    again = await bot.send_photo(alice["id"], sent.photo[-1].file_id)
    assert [p.file_unique_id for p in again.photo] == [p.file_unique_id for p in sent.photo]
    with pytest.raises(BadRequest, match="Wrong file identifier/http url specified"):
        await bot.send_photo(alice["id"], "AgACnonexistent")
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(alice["id"], b"not an image")

    file = await bot.get_file(sent.photo[-1].file_id)
    assert file.file_path.startswith(tg.base_file_url) and file.file_size == len(image)
    assert bytes(await file.download_as_bytearray()) == image
    buffer = io.BytesIO()
    await (await bot.get_file(sent.photo[0].file_id)).download_to_memory(buffer)
    assert Image.open(buffer).size == (90, 68)
    assert tg.calls("file_download")


@pytest.mark.asyncio
async def test_user_files(tg: FakeTelegram, bot: Bot, alice: dict) -> None:
    image = png(200, 100, "blue")
    ref = tg.add_file(image)
    assert tg.add_file(image).file_unique_id == ref.file_unique_id
    msg = tg.message(tg.private_chat(alice), alice, photo=ref, caption="/describe@tiny_test_bot")
    assert msg["photo"][-1]["file_id"] == ref.file_id and msg["photo"][-1]["width"] == 200
    assert msg["caption_entities"] == [{"offset": 0, "length": 23, "type": "bot_command"}]
    assert msg["photo"][0]["file_id"] != ref.file_id

    file = await bot.get_file(ref.file_id)
    buffer = io.BytesIO()
    await file.download_to_memory(buffer)
    assert buffer.getvalue() == image

    big = tg.add_file(b"x", file_size=25 * 1024 * 1024)
    with pytest.raises(BadRequest, match=r"^File is too big$"):
        await bot.get_file(big.file_id)
    with pytest.raises(BadRequest, match=r"^Invalid file_id$"):
        await bot.get_file("nope")
    broken = await bot.get_file(tg.add_file(b"gone", fail_download=True).file_id)
    with pytest.raises(InvalidToken, match="Not Found"):  # PTB maps HTTP 404 to InvalidToken
        await broken.download_as_bytearray()

    document = await bot.send_document(alice["id"], b"%PDF-1.4", filename="report.pdf")
    assert (document.document.file_name, document.document.mime_type) == ("report.pdf", "application/pdf")
    assert tg.file_bytes(document.document.file_id) == b"%PDF-1.4"


@pytest.mark.asyncio
async def test_media_group(tg: FakeTelegram, bot: Bot, alice: dict) -> None:
    media = [InputMediaPhoto(png(color=c), caption=c) for c in ("red", "green")]
    messages = await bot.send_media_group(alice["id"], media)
    assert [m.caption for m in messages] == ["red", "green"]
    assert messages[0].media_group_id and messages[0].media_group_id == messages[1].media_group_id
    assert messages[1].message_id == messages[0].message_id + 1
    call = tg.wait_for_call("sendMediaGroup")
    assert len(call.files) == 2 and call.params["media"][0]["media"].startswith("attach://")

    resent = await bot.send_media_group(alice["id"], [InputMediaPhoto(m.photo[-1].file_id) for m in messages])
    assert resent[0].photo[-1].file_unique_id == messages[0].photo[-1].file_unique_id
    with pytest.raises(BadRequest, match="Too many messages to send as an album"):
        await bot.send_media_group(alice["id"], [InputMediaPhoto(png())] * 11)
    with pytest.raises(BadRequest, match="Document can't be mixed with other media types"):
        await bot.send_media_group(alice["id"], [InputMediaPhoto(png()), InputMediaDocument(b"doc", filename="a.txt")])


@pytest.mark.asyncio
async def test_get_updates_long_polling_and_offsets(tg: FakeTelegram, bot: Bot, alice: dict) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9

    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    sent = tg.send_message(tg.private_chat(alice), alice, text="/start")
    updates = await asyncio.wait_for(poll, 3)
    assert time.monotonic() - started < 5
    [update] = updates
    assert update.message.text == "/start" and update.message.from_user.id == alice["id"]
    assert update.message.entities[0].type == "bot_command"
    assert update.message.message_id == sent["message_id"]

    assert len(await bot.get_updates(timeout=0)) == 1  # not confirmed yet
    second = tg.inject(tg.message(tg.private_chat(alice), alice, text="two"))
    assert [u.update_id for u in await bot.get_updates(offset=update.update_id + 1)] == [second]
    assert tg.updates_confirmed() == update.update_id
    assert await bot.get_updates(offset=second + 1, timeout=0) == ()
    tg.wait_for_confirmed(second, timeout=1)
    with pytest.raises(AssertionError, match=r"timed out .* confirmed"):
        tg.wait_for_confirmed(second + 5, timeout=0.1)


@pytest.mark.asyncio
async def test_polling_conflicts(tg: FakeTelegram, bot: Bot) -> None:
    # A Bot has a single getUpdates connection: a second bot instance plays the intruder.
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    async with Bot(TOKEN, base_url=tg.base_url) as second:
        await second.get_updates(timeout=0)
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first
    assert await bot.set_webhook("https://example.org/hook", secret_token="s3cret")
    assert tg.webhook() == {"url": "https://example.org/hook", "secret_token": "s3cret"}
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()


@pytest.mark.asyncio
async def test_buttons_actions_commands(tg: FakeTelegram, bot: Bot, alice: dict) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    sent = await bot.send_message(alice["id"], "Sure?", reply_markup=keyboard)
    query = tg.press_button(tg.bot_messages(alice["id"])[0], "yes", alice)
    with pytest.raises(AssertionError, match="no button"):
        tg.press_button(tg.bot_messages(alice["id"])[0], "no", alice)
    [update] = await bot.get_updates()
    assert update.callback_query.data == "yes"
    assert update.callback_query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query["id"], text="ok")
    with pytest.raises(BadRequest, match="query id is invalid"):
        await bot.answer_callback_query(query["id"])

    await bot.send_chat_action(alice["id"], ChatAction.TYPING)
    await bot.send_chat_action(alice["id"], ChatAction.UPLOAD_PHOTO)
    assert tg.chat_actions(alice["id"]) == ["typing", "upload_photo"]

    await bot.set_my_commands([("start", "Start"), ("describe", "Describe a photo")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "describe"]
    assert tg.my_commands()[1] == {"command": "describe", "description": "Describe a photo"}
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Bad-Name", "x")])
    assert await bot.delete_my_commands()
    assert tg.my_commands() == []


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter
async def test_chats_members_and_failures(tg: FakeTelegram, bot: Bot, alice: dict) -> None:
    group = tg.group_chat(-100200300, "Friends")
    tg.set_member(group["id"], alice["id"], "creator")
    chat = await bot.get_chat(group["id"])
    assert (chat.title, chat.type) == ("Friends", "group")
    assert (await bot.get_chat_member(group["id"], tg.bot_id)).status == "member"
    assert [m.user.id for m in await bot.get_chat_administrators(group["id"])] == [alice["id"]]
    assert await bot.leave_chat(group["id"])
    with pytest.raises(Forbidden, match="bot is not a member of the group chat"):
        await bot.send_message(group["id"], "still here?")

    tg.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter):
        await bot.send_message(alice["id"], "flood")
    await bot.send_message(alice["id"], "fine now")
    tg.block(alice["id"])
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(alice["id"], "hello?")
    assert await bot.close() and await bot.log_out()


def test_wait_timeout_lists_records(tg: FakeTelegram) -> None:
    tg.user(5, "Eve")
    with pytest.raises(AssertionError, match="waiting for a sendPhoto call") as error:
        tg.wait_for_call("sendPhoto", timeout=0.1)
    assert "recorded calls" in str(error.value)
    with pytest.raises(AssertionError, match="bot messages in chat 5"):
        tg.wait_for_bot_message(5, timeout=0.1)
    with pytest.raises(ValueError):
        tg.message(tg.private_chat(tg.user(6)), None, text="x", photo=b"y")


@pytest.mark.asyncio
async def test_real_application_round_trip(tg: FakeTelegram, alice: dict) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"Hello {update.effective_user.first_name}!", do_quote=True)

    app = ApplicationBuilder().token(TOKEN).base_url(tg.base_url).base_file_url(tg.base_file_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        tg.send_message(tg.private_chat(alice), alice, text="/start@tiny_test_bot")
        reply = await asyncio.to_thread(tg.wait_for_bot_message, alice["id"], lambda m: m["text"] == "Hello Alice!", 10)
        assert reply["reply_to_message"]["text"] == "/start@tiny_test_bot"
        await app.updater.stop()
        await app.stop()
    assert tg.pending_updates() == []  # PTB confirmed the update while stopping


@pytest.mark.asyncio
async def test_bot_api_rules_for_webhook_secrets_menu_scopes_topics_and_migration(tg: FakeTelegram, bot: Bot) -> None:
    from telegram import BotCommandScopeChat
    from telegram.error import BadRequest, ChatMigrated

    with pytest.raises(BadRequest, match=r"(?i)secret token"):  # 1-256 of A-Z a-z 0-9 _ -
        await bot.set_webhook("https://example.org/hook", secret_token="not allowed!")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):  # nobody with that id ever talked to the bot
        await bot.set_my_commands([("start", "Start")], scope=BotCommandScopeChat(5555))
    tg.private_chat(tg.user(5555, "Admin"))
    assert await bot.set_my_commands([("start", "Start")], scope=BotCommandScopeChat(5555))
    forum = tg.group_chat(-1001000000009, "Forum", is_forum=True)
    topic = tg.forum_topic(forum, "Topic")
    assert topic["message_thread_id"] == topic["message_id"] > 1  # 1 is the General topic
    in_topic = await bot.send_message(forum["id"], "hi", message_thread_id=topic["message_id"])
    assert in_topic.is_topic_message and in_topic.reply_to_message.forum_topic_created is not None
    group = tg.group_chat(-9, "Small group")
    supergroup, first, last = tg.migrate_to_supergroup(group, -1001000000010, by=tg.user(6, "Owner"))
    assert first["migrate_from_chat_id"] == group["id"] and last["migrate_to_chat_id"] == supergroup["id"]
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(group["id"], "still there?")
    assert migrated.value.new_chat_id == supergroup["id"]
