"""The bad-input suite: every case through the real bot process with every tiny model configured.

Each case gets a clear, short reply (or, where Telegram etiquette says so, none), the bot stays up,
and what is stored (the photo index, a photo conversation) is unchanged afterwards.
"""

from __future__ import annotations

import io
import re
import sqlite3
import time

import pytest
from PIL import Image

from tests.support.bot_process import ADMIN, TOKEN
from tests.support.chat import answer_to, photo_bytes, replies_to

pytestmark = pytest.mark.timeout(600)

Case = tuple[str, dict, str | None]


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def gif_bytes() -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ((200, 0, 0), (0, 0, 200))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=40)
    return out.getvalue()


def text_of(message: dict) -> str:
    return message.get("text") or message.get("caption") or ""


def findable(tg, user, chat) -> set[str]:
    """The photos (up to ten) /find returns for words, as their unique ids."""
    from tests.support.find import find_answer

    answer = find_answer(tg, tg.send_message(chat, user, text="/find colourful blocks k=10"))
    return {m["photo"][-1]["file_unique_id"] for m in answer.matches if m.get("photo")}


def stored_turns(bot, chat_id: int, at_least: int = 0) -> int:
    """Turns of the chat's photo conversations in the bot's SQLite file (read alongside the bot, as WAL
    allows), waiting a little for `at_least` of them: a turn is stored just after its answer is sent."""
    deadline = time.monotonic() + 20
    while True:
        with sqlite3.connect(bot.workdir / "data" / "bot.sqlite3") as db:
            turns = db.execute(
                "SELECT COUNT(*) FROM chat_turns t JOIN chat_conversations c ON c.id = t.conversation_id "
                "WHERE c.chat_id = ?",
                (chat_id,),
            ).fetchone()[0]
        if turns >= at_least or time.monotonic() > deadline:
            return turns
        time.sleep(0.05)


def test_bad_inputs_get_clear_replies_and_change_nothing(full_bot, user_ids):
    tg, bot = full_bot
    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)

    # Seed what must survive: an indexed photo and a photo conversation.
    seed = tg.send_message(chat, user, photo=photo_bytes(1), caption="/ask what is this?")
    assert answer_to(tg, seed, timeout=120)["text"]
    found_before, turns_before = findable(tg, user, chat), stored_turns(bot, chat["id"], at_least=1)
    assert found_before and turns_before == 1  # the seeded photo is findable, its conversation stored

    big = tg.add_file(photo_bytes(2), file_size=25 * 1024 * 1024)
    broken_download = tg.add_file(photo_bytes(3), fail_download=True)
    jpeg = photo_bytes(4)
    png = encode(Image.effect_noise((120, 120), 40).convert("RGB"), "PNG")
    bomb = encode(Image.new("1", (12_000, 12_000)), "PNG")
    video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64

    def doc(data, mime, name, caption):
        return dict(document=data, document_mime=mime, document_name=name, caption=caption)

    cases: list[Case] = [
        ("corrupt JPEG", doc(jpeg[: len(jpeg) // 3], "image/jpeg", "a.jpg", "/caption"), "corrupt or truncated"),
        ("truncated PNG", doc(png[: len(png) // 2], "image/png", "b.png", "/classify"), "corrupt or truncated"),
        ("zero-byte file", doc(b"", "image/jpeg", "c.jpg", "/caption"), "empty"),
        ("decompression bomb", doc(bomb, "image/png", "d.png", "/caption"), "too large"),
        ("animated GIF", doc(gif_bytes(), "image/gif", "e.gif", "/classify"), "%"),
        ("WebP", doc(encode(Image.new("RGB", (40, 40), "green"), "WEBP"), "image/webp", "f.webp", "/classify"), "%"),
        ("TIFF", doc(encode(Image.new("RGB", (40, 40), "blue"), "TIFF"), "image/tiff", "g.tiff", "/classify"), "%"),
        ("image sent as a document", doc(jpeg, "image/jpeg", "h.jpg", "/classify"), "%"),
        ("non-image document", doc(b"%PDF-1.4 hello", "application/pdf", "i.pdf", "/caption"), "caption of a photo"),
        ("video", doc(video, "video/mp4", "j.mp4", "/classify"), "/classify"),
        ("non-image sent as image", doc(b"%PDF-1.4 hi", "image/jpeg", "k.jpg", "/caption"), "isn't an image"),
        ("file over 20 MB", doc(big, "image/jpeg", "l.jpg", "/caption"), "over 20 MB"),
        ("failed download", doc(broken_download, "image/jpeg", "m.jpg", "/caption"), "couldn't download"),
        ("empty prompt", dict(text="/gen"), "Send /gen and what to draw"),
        ("5,000-character prompt", dict(text="/gen " + "fox " * 1250), "too long"),
        ("emoji and right-to-left prompt", dict(text="/gen 🦊🌙 مرحبا بالعالم --size 256"), None),
        ("/gen bad steps", dict(text="/gen a fox --steps 99"), "--steps"),
        ("/gen bad size", dict(text="/gen a fox --size 100x100"), "--size"),
        ("/gen bad count", dict(text="/gen a fox --n 9"), "--n"),
        ("/gen bad seed", dict(text="/gen a fox --seed -5"), "--seed"),
        ("/gen unknown option", dict(text="/gen a fox --bogus 1"), "--bogus"),
        ("/ask 5,000-character question", dict(text="/ask " + "why " * 1250), "too long"),
        ("/box without an object", dict(text="/box"), "/box"),
        ("/find bad k", dict(text="/find cats k=99"), "k"),
        ("/classify without a photo", dict(text="/classify"), "/classify"),
        ("/caption prefix too long", dict(photo=jpeg, caption="/caption " + "x" * 300), "too long"),
        ("unknown command", dict(text="/frobnicate"), "/help"),
        ("command for another bot", dict(text="/caption@otherbot"), None),
        ("/safety from a non-admin", dict(text="/safety off"), "admins"),
    ]
    sent = []
    for name, kwargs, expected in cases:
        sent.append((name, tg.send_message(chat, user, **kwargs), expected))
    for name, request, expected in sent:
        if expected is None:
            continue
        answer = answer_to(tg, request, timeout=180)
        text = text_of(answer)
        assert expected.lower() in text.lower(), f"{name}: {text!r}"
        assert "Traceback" not in text and "Error:" not in text, name
    # The same cases from someone whose Telegram is in Chinese: every reply is in Chinese.
    li = tg.user(next(user_ids), "李", language_code="zh-hans")
    li_chat = tg.private_chat(li)
    in_chinese = [
        (name, tg.send_message(li_chat, li, **kwargs))
        for name, kwargs, expected in cases
        if expected not in (None, "%")
    ]  # (not the ones answered by a model's own words)
    for name, request in in_chinese:
        text = answer_to(tg, request, timeout=180)["text"]
        assert re.search(r"[\u4e00-\u9fff]", text) and not re.search(
            r"\b(I|Please|That|You|must|isn't|couldn't)\b", text
        ), (name, text)
    # The emoji prompt draws; the other bot's command gets nothing.
    emoji = next(r for n, r, _ in sent if n.startswith("emoji"))
    assert answer_to(tg, emoji, timeout=180).get("photo"), "the emoji prompt was not drawn"
    other_bot = next(r for n, r, _ in sent if n == "command for another bot")
    assert replies_to(tg, other_bot) == []

    # A sticker, an edited message and a channel post: no reply, no crash.
    sticker = tg.message(chat, user, document=encode(Image.new("RGBA", (64, 64)), "WEBP"), document_mime="image/webp")
    file = sticker.pop("document")
    sticker["sticker"] = {
        "file_id": file["file_id"],
        "file_unique_id": file["file_unique_id"],
        "type": "regular",
        "width": 64,
        "height": 64,
        "is_animated": False,
        "is_video": False,
    }
    tg.inject(sticker)
    on_sticker = tg.message(chat, user, text="/caption")
    on_sticker["reply_to_message"] = sticker
    tg.inject(on_sticker)
    assert "caption of a photo" in answer_to(tg, on_sticker, timeout=60)["text"]
    edited = dict(tg.send_message(chat, user, text="/start"), text="/help", edit_date=int(time.time()))
    tg.inject(edited, kind="edited_message")
    channel = tg.group_chat(-100_000_000_000 - next(user_ids), "News")
    channel["type"] = "channel"
    tg.inject(tg.message(channel, None, text="/caption"), kind="channel_post")

    # A burst of 200 updates from 50 users: every one answered, nothing lost.
    burst = []
    for i in range(50):
        member = tg.user(next(user_ids), f"U{i}")
        member_chat = tg.private_chat(member)
        burst += [tg.send_message(member_chat, member, text=t) for t in ("/help", "/start", "/cancel", "/help")]
    for request in burst:
        assert answer_to(tg, request, timeout=120)["text"]

    assert tg.bot_messages(channel["id"]) == []
    assert bot.alive()
    # Nothing indexed was lost (the valid photos sent meanwhile were indexed too, as every photo is).
    assert found_before <= findable(tg, user, chat)
    assert stored_turns(bot, chat["id"]) == turns_before  # no refused question was stored
    follow_up = tg.send_message(chat, user, text="/ask and now?")
    assert answer_to(tg, follow_up, timeout=120)["text"]  # the conversation is still there
    assert stored_turns(bot, chat["id"], at_least=turns_before + 1) == turns_before + 1

    # The commands not used above, so every one has run before the logs are checked for the token: the
    # admin's /stats and /safety, and /box, /reset and /forget in a chat of their own.
    admin = tg.user(ADMIN, "Root")
    admin_chat = tg.private_chat(admin)
    for command in ("/stats", "/safety", "/safety off", "/safety on", "/safety maybe"):
        assert answer_to(tg, tg.send_message(admin_chat, admin, text=command), timeout=60)["text"], command
    boxed = tg.send_message(admin_chat, admin, photo=photo_bytes(5), caption="/box cat")
    assert text_of(answer_to(tg, boxed, timeout=120))
    for command in ("/reset", "/forget"):
        assert answer_to(tg, tg.send_message(admin_chat, admin, text=command), timeout=60)["text"], command
    assert TOKEN.split(":")[1] not in bot.logs() and TOKEN not in bot.logs()
