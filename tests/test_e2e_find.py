"""End to end: photo indexing, /find by words and by example, /forget, leaving a chat, with the tiny CLIP.

The real `python -m bot` process against the fake Bot API server, with a real embedded chromadb.
Random weights say nothing about what a photo shows, so the tests check which photos come back (only the
chat's own, each once, the example left out, a near-copy of the example first), how they come back
(re-sent by file_id, scores in order, link-backs) and what is stored, never what CLIP "thinks".
"""

from __future__ import annotations

import re
import time

import pytest

from tests.support.bot_process import TOKEN, BotProcess
from tests.support.chat import answer_to, photo_bytes
from tests.support.fake_telegram import FakeTelegram
from tests.support.find import find_answer, migrate_group, near_copy, remove_bot, unique_id, wait_for_log

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def find_bot(tmp_path_factory, tiny_clip):
    """One bot with the tiny CLIP for the tests of this module; each test uses chats of its own."""
    telegram = FakeTelegram(TOKEN).start()
    bot = BotProcess(telegram, tmp_path_factory.mktemp("find-bot"), clip_model=tiny_clip)
    early = telegram.user(1, "Early")
    telegram.send_message(telegram.private_chat(early), early, text="/start")  # so the first poll returns at once
    bot.start()
    yield bot
    bot.stop()
    telegram.stop()
    assert TOKEN.split(":")[1] not in bot.logs()


@pytest.fixture
def tg(find_bot) -> FakeTelegram:
    return find_bot.telegram


@pytest.fixture
def user(tg, user_ids):
    return tg.user(next(user_ids), "Ann")


@pytest.fixture
def chat(tg, user):
    return tg.private_chat(user)


def send_photos(tg, chat, user, seeds) -> list[dict]:
    return [tg.send_message(chat, user, photo=photo_bytes(seed)) for seed in seeds]


def test_help_explains_find_and_how_photos_get_indexed(tg, user, chat):
    text = answer_to(tg, tg.send_message(chat, user, text="/help"), timeout=20)["text"]
    entry = text[text.index("/find") :].split("\n/")[0]
    assert "reply /find to a photo" in entry and "k=10" in entry
    assert "remember every photo" in entry and "privacy mode" in entry
    assert "/forget" in text


def test_find_by_words_answers_with_the_chats_photos_re_sent_by_file_id(tg, user, chat):
    sent = send_photos(tg, chat, user, range(100, 103))
    before = len(tg.calls())
    request = tg.send_message(chat, user, text="/find a dog on the beach")
    answer = find_answer(tg, request)
    assert sorted(answer.keys) == sorted(unique_id(m) for m in sent)
    albums = [c for c in tg.calls()[before:] if c.method == "sendMediaGroup"]
    assert len(albums) == 1 and albums[0].files == {}  # by file_id: nothing uploaded again
    assert all(m["reply_to_message"]["message_id"] == request["message_id"] for m in answer.matches)
    scores = []
    for rank, caption in enumerate(answer.captions, start=1):
        match = re.match(rf"^#{rank} · (-?\d\.\d\d) · Ann · \d+ \w{{3}} \d{{4}}$", caption)
        assert match, caption
        scores.append(float(match.group(1)))
    assert scores == sorted(scores, reverse=True)
    assert "t.me" not in "".join(answer.captions)  # private chats have no message links


def test_find_replying_to_a_photo_finds_its_near_copy_first_and_leaves_it_out(tg, user, chat):
    sent = send_photos(tg, chat, user, range(110, 115))
    near = tg.send_message(chat, user, photo=near_copy(112))
    request = tg.send_message(chat, user, text="/find", reply_to=sent[2])
    answer = find_answer(tg, request)
    assert answer.keys[0] == unique_id(near)
    assert unique_id(sent[2]) not in answer.keys
    assert float(answer.captions[0].split(" · ")[1]) > 0.9
    assert sorted(answer.keys) == sorted(unique_id(m) for m in [*sent, near] if m is not sent[2])


def test_find_as_the_caption_of_a_new_photo_searches_by_it_and_remembers_it(tg, user, chat):
    sent = send_photos(tg, chat, user, range(120, 124))
    request = tg.send_message(chat, user, photo=near_copy(121), caption="/find k=2")
    answer = find_answer(tg, request)
    assert answer.keys[0] == unique_id(sent[1]) and len(answer.keys) == 2
    everything = find_answer(tg, tg.send_message(chat, user, text="/find anything k=10"))
    assert unique_id(request) in everything.keys  # the example itself is indexed too
    assert len(everything.keys) == 5


def test_k_chooses_how_many_and_a_bad_k_names_the_range(tg, user, chat):
    send_photos(tg, chat, user, range(130, 142))
    assert len(find_answer(tg, tg.send_message(chat, user, text="/find trees")).keys) == 5
    assert len(find_answer(tg, tg.send_message(chat, user, text="/find k=2 trees")).keys) == 2
    assert len(find_answer(tg, tg.send_message(chat, user, text="/find trees K=10")).keys) == 10
    for bad in ("k=0", "k=11", "k=many"):
        text = answer_to(tg, tg.send_message(chat, user, text=f"/find trees {bad}"), timeout=20)["text"]
        assert "k must be a whole number from 1 to 10" in text


def test_a_single_match_replies_to_the_original_photo(tg, user, chat):
    [photo] = send_photos(tg, chat, user, [150])
    answer = find_answer(tg, tg.send_message(chat, user, text="/find a cat"))
    assert answer.keys == [unique_id(photo)]
    assert answer.matches[0]["reply_to_message"]["message_id"] == photo["message_id"]


def test_a_chat_without_photos_is_told_how_photos_get_indexed(tg, user, chat, user_ids):
    text = find_answer(tg, tg.send_message(chat, user, text="/find a cat")).text
    assert "haven't seen any photos in this chat" in text
    group = tg.group_chat(-next(user_ids), "Empty group")
    text = find_answer(tg, tg.send_message(group, user, text="/find@tiny_test_bot a cat")).text
    assert "privacy mode" in text and "/setprivacy" in text


def test_find_without_words_or_photo_explains_itself(tg, user, chat):
    text = answer_to(tg, tg.send_message(chat, user, text="/find"), timeout=20)["text"]
    assert "reply /find to a photo" in text and "k=10" in text


def test_the_same_photo_sent_twice_is_indexed_once(tg, user, chat, find_bot):
    first = tg.send_message(chat, user, photo=photo_bytes(160))
    again = tg.send_message(chat, user, photo=photo_bytes(160))  # a forward, while the first is in flight
    other = tg.send_message(chat, user, photo=photo_bytes(161))
    assert unique_id(first) == unique_id(again)
    answer = find_answer(tg, tg.send_message(chat, user, text="/find k=10 anything"))
    assert sorted(answer.keys) == sorted({unique_id(first), unique_id(other)})
    later = tg.send_message(chat, user, photo=photo_bytes(160))  # and once it is indexed
    answer = find_answer(tg, tg.send_message(chat, user, text="/find k=10 anything"))
    assert sorted(answer.keys) == sorted({unique_id(first), unique_id(other)})
    logs = wait_for_log(find_bot, f"photo {unique_id(later)} of chat {chat['id']} is already indexed")
    assert logs.count(f"indexed photo {unique_id(first)} of chat {chat['id']}") == 1  # one embedding, one add


def test_more_photos_than_a_users_cap_are_all_indexed_and_their_requests_still_accepted(tg, user, chat):
    sent = send_photos(tg, chat, user, range(170, 178))  # QUEUE_MAX_PER_USER is 5
    request = tg.send_message(chat, user, text="/find k=10 people")
    answer = find_answer(tg, request)
    assert sorted(answer.keys) == sorted(unique_id(m) for m in sent)
    assert not any("requests waiting" in (m.get("text") or "") for m in tg.bot_messages(chat["id"]))


def test_sixteen_photos_arriving_together_are_embedded_in_fewer_forward_passes(tg, user, chat, find_bot):
    start = len(find_bot.logs())
    sent = [tg.message(chat, user, photo=photo_bytes(200 + i), media_group_id=77) for i in range(10)]
    sent += [tg.message(chat, user, photo=photo_bytes(210 + i)) for i in range(6)]
    for message in sent:  # an album of 10 and 6 more photos, delivered together
        tg.inject(message)
    answer = find_answer(tg, tg.send_message(chat, user, text="/find k=10 anything"))
    assert len(answer.keys) == 10
    passes = [int(n) for n in re.findall(r"embedded (\d+) images in one forward pass", find_bot.logs()[start:])]
    assert sum(passes) == 16 and len(passes) < 16, passes


def test_an_album_arriving_part_by_part_is_embedded_in_one_forward_pass(tg, user, chat, find_bot):
    start = len(find_bot.logs())
    album = [tg.message(chat, user, photo=photo_bytes(230 + i), media_group_id=4242) for i in range(5)]
    for part in album:  # further apart than the indexing lane's own batch window
        tg.inject(part)
        time.sleep(0.4)
    answer = find_answer(tg, tg.send_message(chat, user, text="/find k=10 anything"))
    assert sorted(answer.keys) == sorted(unique_id(m) for m in album)
    passes = re.findall(r"embedded (\d+) images in one forward pass", find_bot.logs()[start:])
    assert passes == ["5"], passes


def test_image_files_are_indexed_and_come_back_as_files(tg, user, chat):
    photo = tg.send_message(chat, user, photo=photo_bytes(180))
    document = tg.send_message(
        chat, user, document=photo_bytes(181, fmt="PNG"), document_mime="image/png", document_name="scan.png"
    )
    answer = find_answer(tg, tg.send_message(chat, user, text="/find k=10 scans"), parts=2)
    assert sorted(answer.keys) == sorted([unique_id(photo), unique_id(document)])
    kinds = sorted("photo" if "photo" in m else "document" for m in answer.matches)
    assert kinds == ["document", "photo"]


def test_matches_in_a_supergroup_link_back_to_their_messages(tg, user, user_ids):
    group = tg.group_chat(-1_000_000_000_000 - next(user_ids), "Photo club")
    sent = send_photos(tg, group, user, range(190, 193))
    answer = find_answer(tg, tg.send_message(group, user, text="/find@tiny_test_bot sunsets"))
    internal = str(group["id"])[4:]
    by_key = {unique_id(m): m["message_id"] for m in sent}
    for key, caption in zip(answer.keys, answer.captions, strict=False):
        assert f"https://t.me/c/{internal}/{by_key[key]}" in caption


def test_forget_in_a_private_chat_deletes_its_photos_only(tg, user, chat, user_ids):
    send_photos(tg, chat, user, range(300, 303))
    other_user = tg.user(next(user_ids), "Bob")
    other_chat = tg.private_chat(other_user)
    kept = send_photos(tg, other_chat, other_user, [304])
    assert len(find_answer(tg, tg.send_message(chat, user, text="/find x")).keys) == 3
    text = answer_to(tg, tg.send_message(chat, user, text="/forget"), timeout=20)["text"]
    assert text == "Done. I deleted everything I kept from this chat: 3 indexed photos."
    assert "haven't seen any photos" in find_answer(tg, tg.send_message(chat, user, text="/find x")).text
    assert find_answer(tg, tg.send_message(other_chat, other_user, text="/find x")).keys == [unique_id(kept[0])]
    again = answer_to(tg, tg.send_message(chat, user, text="/forget"), timeout=20)["text"]
    assert "nothing to forget" in again


def test_forget_in_a_group_is_for_its_admins(tg, user, user_ids):
    group = tg.group_chat(-next(user_ids), "Family")
    admin = tg.user(next(user_ids), "Admin")
    tg.set_member(group["id"], admin["id"], "administrator")
    send_photos(tg, group, user, [310, 311])
    refused = answer_to(tg, tg.send_message(group, user, text="/forget@tiny_test_bot"), timeout=20)["text"]
    assert refused == "Only this group's admins can make me forget its photos and history."
    assert any(c.params.get("user_id") == user["id"] for c in tg.calls("getChatMember"))
    assert len(find_answer(tg, tg.send_message(group, user, text="/find@tiny_test_bot x")).keys) == 2
    done = answer_to(tg, tg.send_message(group, admin, text="/forget@tiny_test_bot"), timeout=20)["text"]
    assert "2 indexed photos" in done
    assert (
        "haven't seen any photos" in find_answer(tg, tg.send_message(group, admin, text="/find@tiny_test_bot x")).text
    )


def test_removing_the_bot_from_a_group_deletes_that_groups_photos(tg, user, user_ids, find_bot):
    group = tg.group_chat(-next(user_ids), "Old friends")
    other = tg.group_chat(-next(user_ids), "New friends")
    send_photos(tg, group, user, [320, 321])
    kept = send_photos(tg, other, user, [322])
    assert len(find_answer(tg, tg.send_message(group, user, text="/find@tiny_test_bot x")).keys) == 2
    remove_bot(tg, group, user)
    wait_for_log(find_bot, f"chat {group['id']}; its data was deleted")
    # Added back later, the bot remembers nothing of the group, and the other group is untouched.
    assert "haven't seen any photos" in find_answer(tg, tg.send_message(group, user, text="/find@tiny_test_bot x")).text
    assert find_answer(tg, tg.send_message(other, user, text="/find@tiny_test_bot x")).keys == [unique_id(kept[0])]


def test_a_group_upgraded_to_a_supergroup_keeps_its_photos(tg, user, user_ids):
    group = tg.group_chat(-next(user_ids), "Growing")
    sent = send_photos(tg, group, user, [330, 331])
    supergroup = migrate_group(tg, group, user, -1_000_000_000_000 - next(user_ids))
    answer = find_answer(tg, tg.send_message(supergroup, user, text="/find@tiny_test_bot x"))
    assert sorted(answer.keys) == sorted(unique_id(m) for m in sent)


def test_chinese_clip_finds_photos_by_chinese_words(new_bot, tiny_chinese_clip, user_ids):
    sent: list[dict] = []

    def prepare(telegram):
        user = telegram.user(next(user_ids), "李雷")
        chat = telegram.private_chat(user)
        sent.extend(telegram.send_message(chat, user, photo=photo_bytes(400 + i)) for i in range(3))

    tg, bot = new_bot(prepare, clip_model=tiny_chinese_clip)
    user, chat = sent[0]["from"], sent[0]["chat"]
    answer = find_answer(tg, tg.send_message(chat, user, text="/find 海边的猫"))
    assert sorted(answer.keys) == sorted(unique_id(m) for m in sent)
    assert "ChineseClipEmbedder" in bot.logs()


def test_a_match_telegram_refuses_is_left_out_and_the_rest_still_sent(tg, user, chat):
    sent = send_photos(tg, chat, user, range(340, 343))
    tg.fail_next(
        "sendMediaGroup",
        'Bad Request: failed to send message #2 with the error message "Wrong file identifier/http url specified"',
    )
    tg.fail_next("sendPhoto", "Bad Request: wrong file identifier/HTTP URL specified")
    request = tg.send_message(chat, user, text="/find k=3 x")
    answer = find_answer(tg, request, parts=3)  # two photos sent one by one, and the note
    assert len(answer.matches) == 2 and set(answer.keys) < {unique_id(m) for m in sent}
    assert answer.text == "(1 more match could not be sent: the file is gone.)"


def test_in_a_group_with_privacy_mode_a_photo_a_command_replies_to_is_remembered(tg, user, user_ids):
    group = tg.group_chat(-next(user_ids), "Quiet group")
    seen = send_photos(tg, group, user, [350])  # sent with the bot watching (privacy mode off, or a caption)
    unseen = tg.message(group, user, photo=photo_bytes(351))  # privacy mode on: never delivered to the bot
    answer = find_answer(tg, tg.send_message(group, user, text="/find@tiny_test_bot", reply_to=unseen))
    assert answer.keys == [unique_id(seen[0])]
    everything = find_answer(tg, tg.send_message(group, user, text="/find@tiny_test_bot k=10 x"))
    assert sorted(everything.keys) == sorted([unique_id(seen[0]), unique_id(unseen)])


def test_an_unreachable_chroma_server_makes_find_say_so_and_the_bot_goes_on(new_bot, tiny_clip, user_ids):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nothing listens there once the socket is closed
    requests: list[dict] = []

    def prepare(telegram):
        user = telegram.user(next(user_ids), "Ann")
        chat = telegram.private_chat(user)
        requests.append(telegram.send_message(chat, user, photo=photo_bytes(360)))
        requests.append(telegram.send_message(chat, user, text="/find cats"))
        requests.append(telegram.send_message(chat, user, text="/help"))

    tg, bot = new_bot(prepare, clip_model=tiny_clip, chroma_url=f"http://127.0.0.1:{closed}")
    assert answer_to(tg, requests[1], timeout=60)["text"] == (
        "Photo search isn't available right now. The admin can see why in the logs."
    )
    assert "/find" in answer_to(tg, requests[2], timeout=30)["text"]
    logs = bot.logs()
    assert f"the photo index (Chroma server at http://127.0.0.1:{closed}) can't be opened" in logs
    assert "Traceback" not in logs  # an operator's problem, said in one line, not a crash
    assert bot.alive()
