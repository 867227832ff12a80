"""End to end: the real `python -m bot` process, the tiny BLIP checkpoint and the fake Bot API server."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from bot.imaging.decode import decode_image
from bot.settings import Settings
from contract.requests import CaptionRequest, Task
from contract.worker import Interrupt
from handlers import COMMANDS
from tests.support.bot_process import ADMIN, TOKEN
from tests.support.chat import answer_to, photo_bytes, replies_to

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tg(caption_bot):
    return caption_bot.telegram


@pytest.fixture
def user(tg, user_ids):
    return tg.user(next(user_ids), "Ann")


@pytest.fixture
def chat(tg, user):
    return tg.private_chat(user)


@pytest.fixture(scope="module")
def reference_captioner(tiny_blip):
    """The same adapter in this process, to know what caption the bot must send."""
    from models.pool import ModelPool

    pool = ModelPool(Settings(telegram_bot_token="t", caption_model=str(tiny_blip), device="cpu"))

    def caption(data: bytes, prefix: str | None = None) -> str:
        image = decode_image(data, 40_000_000)
        return pool.run(Task.CAPTION, [CaptionRequest(image, prefix)], Interrupt())[0].text

    return caption


def test_menu_is_set_from_the_registration_list(tg):
    assert [c["command"] for c in tg.my_commands()] == [c.name for c in COMMANDS if not c.admin_only]
    admin_menu = tg.my_commands(scope={"type": "chat", "chat_id": ADMIN})
    assert [c["command"] for c in admin_menu] == [c.name for c in COMMANDS]


def test_stats_is_for_admins_and_reports_queue_models_and_memory(tg, user, chat):
    refused = tg.send_message(chat, user, text="/stats")
    assert answer_to(tg, refused, timeout=20)["text"] == "That command is for the bot's admins."
    captioned = tg.send_message(chat, user, photo=photo_bytes(11), caption="/caption")
    answer_to(tg, captioned)
    admin = tg.user(ADMIN, "Root")
    request = tg.send_message(tg.private_chat(admin), admin, text="/stats")
    text = answer_to(tg, request, timeout=20)["text"]
    assert "Queue: 0 waiting, 0 running" in text
    assert re.search(r"Jobs: [1-9]\d* served, \d+ failed", text)
    assert "Models on cpu (float32):" in text and "caption:" in text and "MB" in text


def test_help_lists_commands_and_explains_privacy_mode(tg, user, chat):
    request = tg.send_message(chat, user, text="/help")
    text = answer_to(tg, request, timeout=20)["text"]
    for command in COMMANDS:
        assert f"/{command.name}" in text
    assert "privacy mode" in text and "/setprivacy" in text


def test_start_greets(tg, user, chat):
    request = tg.send_message(chat, user, text="/start")
    assert "/help" in answer_to(tg, request, timeout=20)["text"]


def test_caption_as_the_photos_caption(tg, user, chat, reference_captioner):
    data = photo_bytes(1)
    request = tg.send_message(chat, user, photo=data, caption="/caption")
    answer = answer_to(tg, request)
    assert answer["text"] == reference_captioner(data)
    assert "typing" in tg.chat_actions(chat["id"])


def test_caption_with_a_prefix_continues_it(tg, user, chat, reference_captioner):
    data = photo_bytes(2)
    request = tg.send_message(chat, user, photo=data, caption="/caption a picture of")
    answer = answer_to(tg, request)["text"]
    assert answer.startswith("a picture of")
    assert answer == reference_captioner(data, "a picture of")


def test_caption_as_a_reply_to_a_photo(tg, user, chat, reference_captioner):
    data = photo_bytes(3)
    photo = tg.send_message(chat, user, photo=data)
    request = tg.send_message(chat, user, text="/caption", reply_to=photo)
    assert answer_to(tg, request)["text"] == reference_captioner(data)
    assert replies_to(tg, photo) == []  # a bare photo in a private chat gets no reply


def test_image_sent_as_a_file_is_captioned(tg, user, chat, reference_captioner):
    data = photo_bytes(4, fmt="PNG")
    request = tg.send_message(
        chat, user, document=data, document_mime="image/png", document_name="x.png", caption="/caption"
    )
    assert answer_to(tg, request)["text"] == reference_captioner(data)


def test_in_groups_caption_at_this_bot_works_and_other_bots_are_ignored(tg, user, user_ids):
    group = tg.group_chat(-next(user_ids), "Friends")
    data = photo_bytes(5)
    to_other = tg.send_message(group, user, photo=data, caption="/caption@otherbot")
    photo = tg.send_message(group, user, photo=data)
    text_to_other = tg.send_message(group, user, text="/caption@otherbot", reply_to=photo)
    to_us = tg.send_message(group, user, photo=data, caption="/caption@tiny_test_bot")
    as_reply = tg.send_message(group, user, text="/caption@tiny_test_bot", reply_to=photo)
    assert answer_to(tg, to_us)["text"]
    assert answer_to(tg, as_reply)["text"]
    # Same user, same queue: anything accepted before these would have been answered before them.
    assert replies_to(tg, to_other) == [] and replies_to(tg, text_to_other) == []
    assert len(tg.bot_messages(group["id"])) == 2


def test_caption_without_a_photo_says_how_to_use_it(tg, user, chat):
    request = tg.send_message(chat, user, text="/caption")
    assert "caption of a photo" in answer_to(tg, request, timeout=20)["text"]


def test_corrupt_image_gets_a_clear_reply_and_the_bot_keeps_answering(tg, user, chat, caption_bot):
    data = photo_bytes(6)
    request = tg.send_message(
        chat,
        user,
        document=data[: len(data) // 3],
        document_mime="image/jpeg",
        document_name="broken.jpg",
        caption="/caption",
    )
    assert answer_to(tg, request)["text"] == "That image looks corrupt or truncated. Please send it again."
    follow_up = tg.send_message(chat, user, photo=photo_bytes(7), caption="/caption")
    assert answer_to(tg, follow_up)["text"]
    assert caption_bot.alive()


def test_non_image_file_is_refused(tg, user, chat):
    request = tg.send_message(
        chat, user, document=b"%PDF-1.4 hello", document_mime="image/jpeg", document_name="fake.jpg", caption="/caption"
    )
    assert "isn't an image" in answer_to(tg, request)["text"]


def test_file_over_20_mb_is_refused_before_download(tg, user, chat):
    big = tg.add_file(photo_bytes(8), file_size=25 * 1024 * 1024)
    before = len(tg.calls("getFile"))
    request = tg.send_message(chat, user, document=big, document_mime="image/jpeg", caption="/caption")
    assert "over 20 MB" in answer_to(tg, request)["text"]
    assert len(tg.calls("getFile")) == before


def test_failed_download_gets_a_clear_reply(tg, user, chat):
    broken = tg.add_file(photo_bytes(9), fail_download=True)
    request = tg.send_message(chat, user, document=broken, document_mime="image/jpeg", caption="/caption")
    assert "couldn't download" in answer_to(tg, request)["text"]


def test_decompression_bomb_is_refused(tg, user, chat):
    import io

    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")
    request = tg.send_message(chat, user, document=out.getvalue(), document_mime="image/png", caption="/caption")
    text = answer_to(tg, request)["text"]
    assert "too large" in text and "40 megapixels" in text


def test_too_long_prefix_is_refused(tg, user, chat):
    request = tg.send_message(chat, user, photo=photo_bytes(10), caption="/caption " + "x" * 300)
    assert "too long (300 characters" in answer_to(tg, request)["text"]


def test_unknown_command_in_private_points_to_help(tg, user, chat):
    request = tg.send_message(chat, user, text="/frobnicate")
    assert "/help" in answer_to(tg, request, timeout=20)["text"]


def test_nothing_to_cancel(tg, user, chat):
    request = tg.send_message(chat, user, text="/cancel")
    assert answer_to(tg, request, timeout=20)["text"] == "You have no request waiting or running here."


def test_a_request_the_model_chokes_on_fails_alone_and_the_worker_goes_on(tg, user, chat, user_ids):
    # More tokens than the tiny BLIP's 64 positions: its forward pass raises.
    poison = tg.send_message(chat, user, photo=photo_bytes(12), caption="/caption " + "a " * 70)
    other = tg.user(next(user_ids), "Bob")
    fine = tg.send_message(tg.private_chat(other), other, photo=photo_bytes(13), caption="/caption")
    assert answer_to(tg, poison)["text"] == "The model failed on this request. Please try again or use another photo."
    assert answer_to(tg, fine)["text"] and "failed" not in answer_to(tg, fine)["text"]
    again = tg.send_message(chat, user, photo=photo_bytes(14), caption="/caption")
    assert answer_to(tg, again)["text"] != answer_to(tg, poison)["text"]


def test_token_never_appears_in_the_logs(caption_bot):
    logs = caption_bot.logs()
    assert "getUpdates" in logs or "Bot API" in logs or "bot @" in logs  # the log is really being written
    assert TOKEN not in logs
    assert TOKEN.split(":")[1] not in logs


def test_forum_topics_get_their_answers_in_the_same_topic(tg, user, user_ids):
    forum = tg.group_chat(-100_000_000_000 - next(user_ids), "Forum", is_forum=True)
    in_topic = tg.send_message(forum, user, photo=photo_bytes(15), caption="/caption", message_thread_id=7)
    in_general = tg.send_message(forum, user, text="/help")
    assert answer_to(tg, in_topic)["message_thread_id"] == 7
    assert "message_thread_id" not in answer_to(tg, in_general, timeout=20)  # the General topic is omitted
    actions = [c for c in tg.calls("sendChatAction") if str(c.params.get("chat_id")) == str(forum["id"])]
    assert actions and all(c.params.get("message_thread_id") == 7 for c in actions)


def test_edited_commands_and_channel_posts_are_ignored(tg, user, chat, user_ids):
    original = tg.send_message(chat, user, text="/start")
    answer_to(tg, original, timeout=20)
    edited = dict(original, text="/help", edit_date=original["date"] + 5)
    tg.inject(edited, kind="edited_message")
    channel = tg.group_chat(-100_000_000_000 - next(user_ids), "News")
    channel["type"] = "channel"
    post = tg.message(channel, None, text="/help")
    tg.inject(post, kind="channel_post")
    marker = tg.send_message(chat, user, text="/start")  # handled after the two above
    answer_to(tg, marker, timeout=20)
    assert len(replies_to(tg, original)) == 1  # only the /start answer, no /help for the edit
    assert tg.bot_messages(channel["id"]) == []
