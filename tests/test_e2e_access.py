"""Access lists, leaving unlisted groups, and webhook mode, through the real bot process."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request

import pytest

from bot import texts
from tests.support.chat import answer_to, replies_to

pytestmark = pytest.mark.timeout(120)

ALLOWED, STRANGER, ADMIN_ID, LISTED_GROUP = 501, 502, 510, -5001


@pytest.fixture(scope="module")
def private_bot(tmp_path_factory, tiny_blip):
    from tests.support.bot_process import TOKEN, BotProcess
    from tests.support.fake_telegram import FakeTelegram

    telegram = FakeTelegram(TOKEN).start()
    bot = BotProcess(
        telegram,
        tmp_path_factory.mktemp("private-bot"),
        caption_model=tiny_blip,
        allowed_user_ids=str(ALLOWED),
        allowed_chat_ids=str(LISTED_GROUP),
        admin_user_ids=str(ADMIN_ID),
    ).start()
    yield telegram, bot
    bot.stop()
    telegram.stop()


def test_listed_users_admins_and_listed_chats_are_served(private_bot):
    tg, _ = private_bot
    for user_id in (ALLOWED, ADMIN_ID):
        user = tg.user(user_id, "Ok")
        request = tg.send_message(tg.private_chat(user), user, text="/help")
        assert "/caption" in answer_to(tg, request, timeout=20)["text"]
    stranger = tg.user(STRANGER + 100, "Guest")
    group = tg.group_chat(LISTED_GROUP, "Family")
    request = tg.send_message(group, stranger, text="/help")
    assert "/caption" in answer_to(tg, request, timeout=20)["text"]


def test_strangers_get_one_short_refusal_per_chat(private_bot):
    tg, _ = private_bot
    stranger = tg.user(STRANGER, "Eve")
    chat = tg.private_chat(stranger)
    first = tg.send_message(chat, stranger, text="/help")
    tg.wait_for_bot_message(chat["id"], lambda m: m.get("text") == texts.NOT_ALLOWED.en, timeout=20)
    second = tg.send_message(chat, stranger, text="/caption")
    # A listed user's request sent after it is answered, so the stranger's second one was seen by now.
    friend = tg.user(ALLOWED, "Ok")
    marker = tg.send_message(tg.private_chat(friend), friend, text="/start")
    answer_to(tg, marker, timeout=20)
    assert len(tg.bot_messages(chat["id"])) == 1 and replies_to(tg, second) == []
    assert first  # the refusal went to the first message only


def test_in_an_unlisted_group_only_commands_and_mentions_get_the_refusal(private_bot):
    tg, _ = private_bot
    stranger = tg.user(STRANGER + 80, "Eve")
    group = tg.group_chat(-7009, "Old group")  # the bot was in it before the lists were set
    tg.send_message(group, stranger, text="hello everyone")  # chatter: none of the bot's business
    tg.send_message(group, stranger, text="@tiny_test_bot are you there?")
    tg.wait_for_bot_message(group["id"], lambda m: m.get("text") == texts.NOT_ALLOWED.en, timeout=20)
    friend = tg.user(ALLOWED, "Ok")  # answered after the group's messages were seen
    answer_to(tg, tg.send_message(tg.private_chat(friend), friend, text="/start"), timeout=20)
    assert len(tg.bot_messages(group["id"])) == 1


def added_to_group(tg, group: dict, adder: dict) -> None:
    """`adder` adds the bot to `group`; returns once the bot has left it again."""
    tg.inject(
        {
            "chat": group,
            "from": adder,
            "date": int(time.time()),
            "old_chat_member": {"status": "left", "user": tg.bot_user},
            "new_chat_member": {"status": "member", "user": tg.bot_user},
        },
        kind="my_chat_member",
    )
    tg.wait_for_call("leaveChat", lambda c: str(c.params.get("chat_id")) == str(group["id"]), timeout=20)


def test_added_to_an_unlisted_group_the_bot_says_so_and_leaves(private_bot):
    tg, _ = private_bot
    added_to_group(tg, tg.group_chat(-7007, "Random"), tg.user(STRANGER + 50, "Mallory"))
    assert any(m.get("text") == texts.LEAVING_UNLISTED_CHAT.en for m in tg.bot_messages(-7007))


def test_refusals_are_in_the_strangers_language(private_bot):
    tg, _ = private_bot
    stranger = tg.user(STRANGER + 70, "小红", language_code="zh-hans")
    chat = tg.private_chat(stranger)
    tg.send_message(chat, stranger, text="/start")
    tg.wait_for_bot_message(chat["id"], lambda m: m.get("text") == texts.NOT_ALLOWED.zh, timeout=20)
    added_to_group(tg, tg.group_chat(-7008, "随便聊"), stranger)
    assert [m.get("text") for m in tg.bot_messages(-7008)] == [texts.LEAVING_UNLISTED_CHAT.zh]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, update: dict, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_webhook_mode_requires_the_secret(tmp_path, tiny_blip):
    from tests.support.bot_process import TOKEN, BotProcess
    from tests.support.fake_telegram import FakeTelegram

    port = free_port()
    public = "https://bot.example.test/telegram-hook"  # what Telegram calls; a proxy forwards it here:
    url = f"http://127.0.0.1:{port}/telegram-hook"
    tg = FakeTelegram(TOKEN).start()
    bot = BotProcess(
        tg,
        tmp_path / "webhook-bot",
        caption_model=tiny_blip,
        webhook_url=public,
        webhook_secret="s3cret-value_1",
        webhook_listen="127.0.0.1",
        webhook_port=str(port),
    )
    try:
        bot.start(ready_call="setWebhook")
        registered = tg.webhook()
        assert registered["url"] == public and registered["secret_token"] == "s3cret-value_1"
        user = tg.user(77, "Web")
        message = tg.message(tg.private_chat(user), user, text="/help")
        deadline = time.monotonic() + 20
        while True:  # the server comes up right after setWebhook
            try:
                status = post(url, {"update_id": 1, "message": message}, "wrong")
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 403
        assert post(url, {"update_id": 2, "message": message}, None) == 403
        time.sleep(0.5)
        assert replies_to(tg, message) == []  # neither was acted on
        assert post(url, {"update_id": 3, "message": message}, "s3cret-value_1") == 200
        assert "/caption" in answer_to(tg, message, timeout=20)["text"]
        assert "s3cret-value_1" not in bot.logs() and TOKEN not in bot.logs()
    finally:
        bot.stop()
        tg.stop()


def test_quota_refuses_with_the_wait_and_admins_are_exempt(new_bot, tiny_blip, user_ids):
    tg, _bot = new_bot(caption_model=tiny_blip, quota_per_minute='{"caption": 2}', admin_user_ids="4242")
    from tests.support.chat import photo_bytes

    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)
    first, second = (tg.send_message(chat, user, photo=photo_bytes(i), caption="/caption") for i in (1, 2))
    assert answer_to(tg, first, timeout=60)["text"] and answer_to(tg, second, timeout=60)["text"]
    third = tg.send_message(chat, user, photo=photo_bytes(3), caption="/caption")
    text = answer_to(tg, third, timeout=30)["text"]
    assert text.startswith("You've reached your limit of 2 /caption requests per minute. Try again in ")
    li = tg.user(next(user_ids), "李", language_code="zh")
    li_chat = tg.private_chat(li)
    asked = [tg.send_message(li_chat, li, photo=photo_bytes(20 + i), caption="/caption") for i in range(3)]
    replies = [answer_to(tg, request, timeout=60)["text"] for request in asked]
    assert re.fullmatch(r"你已达到 /caption 每分钟 2 次的上限。请在 \d+ 秒后再试。", replies[2]), replies
    admin = tg.user(4242, "Root")
    admin_chat = tg.private_chat(admin)
    for i in range(3):
        request = tg.send_message(admin_chat, admin, photo=photo_bytes(10 + i), caption="/caption")
        assert "limit" not in answer_to(tg, request, timeout=60)["text"]
