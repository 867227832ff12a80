"""Replies in each user's language, through the real bot with every tiny model: Simplified Chinese for a
Telegram set to Chinese, English for everyone else, in the same chat too."""

from __future__ import annotations

import re
import sqlite3
import time

import pytest

from bot import texts
from handlers import COMMANDS
from handlers.help import help_text
from tests.support.bot_process import ADMIN
from tests.support.chat import answer_to, photo_bytes

pytestmark = pytest.mark.timeout(300)

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def tg(full_bot):
    return full_bot[0]


@pytest.fixture
def zh_user(tg, user_ids):
    return tg.user(next(user_ids), "小明", language_code="zh-hans")


def text_of(message: dict) -> str:
    return message.get("text") or message.get("caption") or ""


def keyboard(message: dict) -> dict[str, str]:
    """Button text -> callback_data."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def test_the_command_menu_is_in_english_and_chinese(tg):
    public = [c for c in COMMANDS if not c.admin_only]
    assert tg.my_commands() == [{"command": c.name, "description": c.summary.en} for c in public]
    assert tg.my_commands(language_code="zh") == [{"command": c.name, "description": c.summary.zh} for c in public]
    admin_zh = tg.my_commands(scope={"type": "chat", "chat_id": ADMIN}, language_code="zh")
    assert admin_zh == [{"command": c.name, "description": c.summary.zh} for c in COMMANDS]


def test_a_chinese_user_gets_help_usage_and_errors_in_chinese(tg, zh_user):
    chat = tg.private_chat(zh_user)
    corrupt = photo_bytes(1)[:200]
    cases = [
        (dict(text="/help"), help_text(COMMANDS, "zh", "tiny_test_bot")),
        (dict(text="/start"), texts.START.zh),
        (dict(text="/caption"), texts.CAPTION_USAGE.zh),
        (dict(text="/classify"), texts.CLASSIFY_USAGE.zh),
        (dict(text="/ask"), texts.ASK_USAGE.zh),
        (dict(text="/box"), texts.BOX_USAGE.zh),
        (dict(text="/find"), texts.FIND_USAGE.zh),
        (dict(text="/find cats k=99"), texts.bad_k("99", 10).zh),
        (dict(text="/gen a fox --bogus 1"), texts.unknown_option("bogus").zh),
        (dict(text="/gen " + "fox " * 200), texts.too_long("prompt", len(("fox " * 200).strip()), 500).zh),
        (dict(text="/frobnicate"), texts.UNKNOWN_COMMAND.zh),
        (dict(text="/stats"), texts.ADMINS_ONLY.zh),
        (dict(text="/cancel"), texts.NOTHING_TO_CANCEL.zh),
        (dict(text="/reset"), texts.RESET_NOTHING.zh),
        (
            dict(document=corrupt, document_mime="image/jpeg", document_name="a.jpg", caption="/caption"),
            texts.CORRUPT_IMAGE.zh,
        ),
        (
            dict(document=b"", document_mime="image/jpeg", document_name="b.jpg", caption="/classify"),
            texts.EMPTY_FILE.zh,
        ),
    ]
    sent = [(tg.send_message(chat, zh_user, **kwargs), expected) for kwargs, expected in cases]
    for request, expected in sent:
        assert answer_to(tg, request, timeout=60)["text"] == expected
    gen_manual = answer_to(tg, tg.send_message(chat, zh_user, text="/gen"), timeout=60)["text"]
    assert gen_manual.startswith("发送 /gen 加上要画的内容") and "--seed N — 相同的种子" in gen_manual


def test_in_a_group_each_member_is_answered_in_their_own_language(tg, zh_user, user_ids):
    group = tg.group_chat(-1_000_000_000_000 - next(user_ids), "Family")
    ann = tg.user(next(user_ids), "Ann", language_code="en-GB")
    bob = tg.user(next(user_ids), "Bob", language_code=None)  # no language known: English
    english = [tg.send_message(group, u, text="/caption@tiny_test_bot") for u in (ann, bob)]
    chinese = tg.send_message(group, zh_user, text="/caption@tiny_test_bot")
    assert [answer_to(tg, r, timeout=60)["text"] for r in english] == [texts.CAPTION_USAGE.en] * 2
    assert answer_to(tg, chinese, timeout=60)["text"] == texts.CAPTION_USAGE.zh


def test_gen_captions_and_buttons_follow_whoever_asked(tg, zh_user, user_ids):
    group = tg.group_chat(-1_000_000_000_000 - next(user_ids), "Artists")
    request = tg.send_message(group, zh_user, text="/gen a red fox --seed 7 --size 256")
    drawn = answer_to(tg, request, timeout=120)
    assert drawn.get("photo")
    assert re.fullmatch(r"a red fox\n🌱 种子 7 · \d+ 步 · 256×256", drawn["caption"]), drawn["caption"]
    buttons = keyboard(drawn)
    assert set(buttons) == {texts.BUTTON_SAME_SEED.zh, texts.BUTTON_NEW_SEED.zh}

    # An English-speaking member presses 🔁: the rerun is theirs, so it speaks English.
    ann = tg.user(next(user_ids), "Ann", language_code="en")
    query = tg.press_button(drawn, buttons[texts.BUTTON_SAME_SEED.zh], ann)
    call = tg.wait_for_call("answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query["id"])
    assert call.params.get("text") == texts.BUTTON_ACCEPTED.en
    rerun = answer_to(tg, drawn, timeout=120)
    assert re.fullmatch(r"a red fox\n🌱 seed 7 · \d+ steps? · 256×256\n🔁 for Ann", rerun["caption"]), rerun["caption"]
    assert set(keyboard(rerun)) == {texts.BUTTON_SAME_SEED.en, texts.BUTTON_NEW_SEED.en}


def stored_questions(bot) -> set[str]:
    with sqlite3.connect(bot.workdir / "data" / "bot.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT question FROM chat_turns")}


def test_ask_without_a_question_asks_the_model_in_chinese_and_find_dates_in_chinese(tg, zh_user, full_bot):
    from tests.support.find import find_answer

    _, bot = full_bot
    chat = tg.private_chat(zh_user)
    asked = tg.send_message(chat, zh_user, photo=photo_bytes(31), caption="/ask")
    assert answer_to(tg, asked, timeout=120)["text"]
    deadline = time.monotonic() + 20  # the turn is stored right after the answer is sent
    while texts.DEFAULT_QUESTION.zh not in stored_questions(bot) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert texts.DEFAULT_QUESTION.zh in stored_questions(bot)  # so a Qwen-VL answers in Chinese

    found = find_answer(tg, tg.send_message(chat, zh_user, text="/find colourful blocks"))
    (caption,) = found.captions
    assert re.match(r"#1 · -?\d\.\d\d · 小明 · \d{4}年\d{1,2}月\d{1,2}日$", caption.splitlines()[0]), caption


def test_the_admins_stats_are_in_their_language(tg):
    admin = tg.user(ADMIN, "Root", language_code="zh")
    report = answer_to(tg, tg.send_message(tg.private_chat(admin), admin, text="/stats"), timeout=30)["text"]
    assert report.startswith("📊 机器人状态\n队列：") and "任务：已完成" in report
    assert not re.search(r"\b(Queue|Jobs|waiting|served)\b", report)
