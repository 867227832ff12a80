"""The bot's texts: each in English and Simplified Chinese, kept in one place, chosen per user."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from telegram import User

from bot import texts
from bot.i18n import Text, language_of, localize

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")
# What a user types or sees verbatim: commands, options, settings, numbers. A translation keeps them all.
VERBATIM = re.compile(r"(?<![\w/])/[a-z]+|--[a-z]+|\b[A-Z][A-Z_]{3,}\b|\d+")


@pytest.mark.parametrize(
    ("code", "lang"),
    [
        ("zh", "zh"),
        ("zh-hans", "zh"),
        ("zh-CN", "zh"),
        ("zh-hant", "zh"),
        ("zh_TW", "zh"),
        ("en", "en"),
        ("en-US", "en"),
        ("ru", "en"),
        ("", "en"),
        (None, "en"),
        ("zu", "en"),
    ],
)
def test_language_of_a_user_follows_their_telegram_language(code, lang):
    assert language_of(User(1, "A", False, language_code=code)) == lang


def test_nobody_gets_english():
    assert language_of(None) == "en"


def test_localize_picks_the_language_and_passes_model_words_through():
    hello = Text("Hello", "你好")
    assert (localize(hello, "en"), localize(hello, "zh"), str(hello)) == ("Hello", "你好", "Hello")
    assert localize("a dog on a beach", "zh") == "a dog on a beach"  # a model's answer is sent as it is


def every_text() -> list[Text]:
    samples = [
        texts.queued(3),
        texts.cancelled("/gen"),
        texts.internal_error("ab12cd34"),
        texts.too_many_pending(4),
        texts.quota_exceeded(2, "gen", "minute", 40),
        texts.quota_exceeded(5, "caption", "day", 9000),
        texts.model_cannot("box", "blip"),
        texts.image_too_large(40_000_000),
        texts.image_too_large(40_000_000, 8000, 9000),
        texts.too_long("prompt", 600, 500),
        texts.gen_usage(4, 256, 1024, 4, True),
        texts.option_range("steps", 1, 4),
        texts.size_range(256, 1024),
        texts.unknown_option("style"),
        texts.option_twice("seed"),
        texts.option_needs_value("size"),
        texts.stray_words("in the snow"),
        texts.images_withheld(1, 1),
        texts.images_withheld(2, 2),
        texts.images_withheld(1, 3),
        texts.rerun_for("Bob"),
        texts.gen_settings_line((1, 2), 2, 512, 512, "fog"),
        texts.safety_status(True, "", 0),
        texts.safety_status(False, "CompVis/checker", 3),
        texts.safety_switched(True),
        texts.safety_switched(False),
        texts.nothing_found("cat", "no cat here"),
        texts.bad_k("99", 10),
        texts.bad_date_filter("after:2024-13"),
        texts.bad_from_filter("from:ann"),
        texts.reposts_status(True),
        texts.reposts_status(False),
        texts.reposts_switched(True),
        texts.reposts_switched(False),
        texts.repost_seen("Ann", 1_700_000_000, "https://t.me/c/123/4"),
        texts.repost_seen("", 1_700_000_000, None),
        texts.inline_note("tiny_test_bot"),
        texts.no_photos_yet(True),
        texts.no_photos_yet(False),
        texts.matches_missing(2),
        texts.forgotten({}),
        texts.forgotten({texts.INDEXED_PHOTOS: 3, texts.PHOTO_CONVERSATIONS: 1}),
    ]
    samples += [
        texts.too_long(what, 9, 8) for what in ("prompt", "negative", "question", "description", "prefix", "query")
    ]
    return list(texts.all_texts()) + samples


@pytest.mark.parametrize("text", every_text(), ids=lambda t: t.en[:40])
def test_every_text_is_in_both_languages_with_the_same_commands_options_and_numbers(text):
    assert text.en.strip() and text.zh.strip()
    assert not CJK.search(text.en)
    if CJK.search(text.en + text.zh) or len(text.en) > 20:  # not just "/start" or an emoji and a number
        assert CJK.search(text.zh), f"not translated: {text.en!r}"
    assert sorted(VERBATIM.findall(text.en)) == sorted(VERBATIM.findall(text.zh)), (text.en, text.zh)
    assert "{" not in text.en + text.zh  # no placeholder left unfilled


def test_the_texts_module_holds_nothing_in_one_language_only():
    public = {name: value for name, value in vars(texts).items() if not name.startswith("_")}
    one_language = [name for name, value in public.items() if isinstance(value, str)]
    assert one_language == []


def test_no_user_facing_words_are_written_outside_the_texts_module():
    """Replies, answers and error messages name a bot.texts entry; a string literal there would be English only."""
    sending = {
        "reply",
        "reply_text",
        "reply_photo",
        "send_message",
        "edit_text",
        "answer",
        "show",
        "InlineKeyboardButton",
    }
    found = []
    for path in [
        *ROOT.glob("bot/*.py"),
        *ROOT.glob("bot/backends/*.py"),
        *ROOT.glob("handlers/*.py"),
        *ROOT.glob("models/*.py"),
    ]:
        if path.name in ("texts.py", "__main__.py", "maintenance.py"):  # the texts; the owner's command line
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            words = [kw.value for kw in node.keywords if kw.arg in ("user_message", "text", "caption")]
            if name in sending:
                words += node.args[1:] if name in ("reply", "reply_photo", "send_message") else node.args[:1]
            found += [f"{path.relative_to(ROOT)}:{w.lineno}" for word in words for w in literals(word)]
    assert found == []


def literals(expr: ast.AST) -> list[ast.AST]:
    """The string literals in `expr`, except inside a call of a bot.texts function (its values)."""
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and getattr(expr.func.value, "id", "") == "texts"
    ):
        return []
    if isinstance(expr, ast.JoinedStr) or (
        isinstance(expr, ast.Constant) and isinstance(expr.value, str) and any(c.isalpha() for c in expr.value)
    ):
        return [expr]
    return [found for child in ast.iter_child_nodes(expr) for found in literals(child)]
