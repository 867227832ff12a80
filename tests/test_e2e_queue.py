"""End to end: fair order, queue positions, one answer per request, /cancel, and an unavailable model."""

from __future__ import annotations

import re
import time

import pytest

from tests.support.chat import answer_to, answered_at, is_status, photo_bytes, replies_to

pytestmark = pytest.mark.timeout(180)


def test_twenty_captions_from_four_users_are_served_round_robin(new_bot, tiny_blip, user_ids):
    requests: list[dict] = []

    def prepare(tg):
        # All 20 are waiting before the bot's first getUpdates: "submitted at once", user by user.
        for name in "ABCD":  # D's Telegram is in Chinese
            user = tg.user(next(user_ids), name, language_code="zh-hans" if name == "D" else "en")
            chat = tg.private_chat(user)
            for _i in range(5):
                requests.append(tg.send_message(chat, user, photo=photo_bytes(len(requests)), caption="/caption"))

    tg, bot = new_bot(prepare, caption_model=tiny_blip, max_batch_size=1)

    # While the queue is working, /help from someone else is answered at once.
    deadline = time.monotonic() + 60
    while not any(replies_to(tg, r) and not is_status(replies_to(tg, r)[0].get("text")) for r in requests):
        assert time.monotonic() < deadline, "no caption answered"
        time.sleep(0.01)
    helper = tg.user(next(user_ids), "E")
    help_request = tg.send_message(tg.private_chat(helper), helper, text="/help")
    help_time = answered_at(tg, answer_to(tg, help_request, timeout=30))

    answers = [answer_to(tg, r, timeout=120) for r in requests]
    times = [answered_at(tg, a) for a in answers]
    users = [r["from"]["first_name"] for _, r in sorted(zip(times, requests, strict=False), key=lambda p: p[0])]
    # Round robin: every 4 consecutive answers come from 4 different users (arrival order was AAAAABBBBB...).
    assert all(len(set(users[i : i + 4])) == 4 for i in range(len(users) - 3)), users
    assert sum(t > help_time for t in times) >= 10, "/help waited behind the captions"

    first = min(range(len(requests)), key=lambda i: times[i])
    for i, (request, answer) in enumerate(zip(requests, answers, strict=False)):
        chat_id = request["chat"]["id"]
        history = tg.edits_of(chat_id, answer["message_id"])
        if i == first:
            continue  # it started at once: no status message
        # The others saw their place in line, in their language; that status message became the answer.
        if request["from"]["first_name"] == "D":
            assert re.fullmatch(r"⏳ 排队中：第 \d+ 位。发送 /cancel 可撤回。", history[0]), history
            place = int(re.search(r"\d+", history[0]).group())
        else:
            assert re.fullmatch(r"⏳ Queued: #\d+ in line\. /cancel to withdraw it\.", history[0]), history
            place = int(history[0].split("#")[1].split()[0])
        assert 1 <= place <= 19
        assert history[-1] == answer["text"] and not is_status(answer["text"])
    for name_chat in {r["chat"]["id"] for r in requests}:
        messages = tg.bot_messages(name_chat)
        assert len(messages) == 5 and not any(is_status(m.get("text")) for m in messages)  # one answer each
    assert bot.alive()


def test_cancel_withdraws_the_newest_waiting_request(new_bot, tiny_blip, user_ids):
    requests: list[dict] = []
    user_box: list[dict] = []

    def prepare(tg):
        user = tg.user(next(user_ids), "Ann")
        chat = tg.private_chat(user)
        user_box.append(user)
        requests.extend(tg.send_message(chat, user, photo=photo_bytes(100 + i), caption="/caption") for i in range(3))

    # Batches of one, so the second and third requests wait behind the first instead of joining it.
    tg, _bot = new_bot(prepare, caption_model=tiny_blip, max_batch_size=1)
    user = user_box[0]
    chat_id = user["id"]
    # Wait until the newest request shows its place in line (the first is loading the model). Counting status
    # messages in the chat is not enough: the first request's own "working" status and the second's place in line
    # can both be up before the third is queued, and /cancel then withdraws the second.
    tg.wait_for_bot_message(
        chat_id, lambda m: any(is_status(x.get("text")) for x in replies_to(tg, requests[2])), timeout=30
    )
    cancel = tg.send_message(tg.private_chat(user), user, text="/cancel")
    assert answer_to(tg, cancel, timeout=20)["text"] == "Cancelled the /caption request."
    # The newest one sent is withdrawn; the others are answered.
    assert answer_to(tg, requests[2])["text"] == "Cancelled."
    assert answer_to(tg, requests[0])["text"] != "Cancelled." != answer_to(tg, requests[1])["text"]
    # The cancelled request's status message was removed: one answer per request.
    assert len(replies_to(tg, requests[2])) == 1
    assert not any(is_status(m.get("text")) for m in tg.bot_messages(chat_id))


def test_unloadable_model_gives_a_clear_reply_and_other_commands_keep_working(new_bot, user_ids, tmp_path):
    tg, bot = new_bot(caption_model=str(tmp_path / "no-such-blip"))
    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)
    request = tg.send_message(chat, user, photo=photo_bytes(1), caption="/caption")
    assert "isn't available" in answer_to(tg, request, timeout=30)["text"]
    help_request = tg.send_message(chat, user, text="/help")
    assert "/caption" in answer_to(tg, help_request, timeout=20)["text"]
    again = tg.send_message(chat, user, photo=photo_bytes(2), caption="/caption")
    assert "isn't available" in answer_to(tg, again, timeout=30)["text"]
    logs = bot.logs()
    assert "could not be loaded" in logs and "no-such-blip" in logs
    assert "Traceback" not in logs  # a missing model is an operator error, not a crash
    assert bot.alive()


def test_cancel_as_a_reply_only_for_ones_own_request_unless_admin(new_bot, tiny_blip, user_ids):
    requests: list[dict] = []
    people: dict[str, dict] = {}
    ids = {name: next(user_ids) for name in ("Ann", "Bob", "Root")}

    def prepare(tg):
        group = tg.group_chat(-880, "Club")
        for name, user_id in ids.items():
            people[name] = tg.user(user_id, name)
        people["group"] = group
        requests.extend(
            tg.send_message(group, people["Ann"], photo=photo_bytes(200 + i), caption="/caption") for i in range(4)
        )

    tg, _bot = new_bot(prepare, caption_model=tiny_blip, max_batch_size=1, admin_user_ids=str(ids["Root"]))
    group = people["group"]
    status = tg.wait_for_bot_message(
        group["id"],
        lambda m: (
            m.get("reply_to_message", {}).get("message_id") == requests[2]["message_id"] and is_status(m.get("text"))
        ),
        timeout=30,
    )
    # Bob can't cancel Ann's request...
    bobs = tg.send_message(group, people["Bob"], text="/cancel", reply_to=requests[2])
    assert answer_to(tg, bobs, timeout=20)["text"] == "You have no request waiting or running here."
    # ...but Ann can, replying to the bot's status message of it.
    anns = tg.send_message(group, people["Ann"], text="/cancel", reply_to=status)
    assert answer_to(tg, anns, timeout=20)["text"] == "Cancelled the /caption request."
    assert answer_to(tg, requests[2])["text"] == "Cancelled."
    # An admin may cancel anyone's, replying to the request itself.
    roots = tg.send_message(group, people["Root"], text="/cancel", reply_to=requests[3])
    assert answer_to(tg, roots, timeout=20)["text"] == "Cancelled the /caption request."
    assert answer_to(tg, requests[3])["text"] == "Cancelled."
    assert answer_to(tg, requests[1])["text"] != "Cancelled."
