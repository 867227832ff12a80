"""Command parsing and the caption-command filter (which PTB's own caption filters get wrong)."""

from __future__ import annotations

import datetime as dt

import pytest
from telegram import Bot, Chat, Message, PhotoSize, User

from bot.messaging.commands import CaptionCommand, command_args, parse_command, without_mention
from handlers import COMMANDS
from handlers.help import help_text


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("/caption", ("caption", None)),
        ("/Caption a dog", ("caption", None)),
        ("/caption@TinyBot more", ("caption", "TinyBot")),
        ("caption", None),
        ("/", None),
        ("/caption-x", None),
        (None, None),
    ],
)
def test_parse_command(text, parsed):
    assert parse_command(text) == parsed


def test_command_args():
    assert command_args("/caption@bot  a photo of ") == "a photo of"
    assert command_args("/caption") == ""


def photo_message(caption: str, bot_username: str = "tiny_test_bot") -> Message:
    bot = Bot("123:abc")
    bot._bot_user = User(1, "Tiny", is_bot=True, username=bot_username)
    message = Message(
        1,
        dt.datetime.now(dt.UTC),
        Chat(-5, "group"),
        from_user=User(7, "Ann", is_bot=False),
        caption=caption,
        photo=[PhotoSize("f", "u", 10, 10)],
    )
    message.set_bot(bot)
    return message


@pytest.mark.parametrize(
    ("caption", "matches"),
    [
        ("/caption", True),
        ("/caption a picture of", True),
        ("/caption@tiny_test_bot", True),
        ("/CAPTION@Tiny_Test_Bot x", True),
        ("/caption@otherbot", False),
        ("/captionx", False),
        ("hello /caption", False),
        ("/ask", False),
    ],
)
def test_caption_command_filter(caption, matches):
    assert CaptionCommand("caption").check_update(_update(photo_message(caption))) is matches


def _update(message: Message):
    from telegram import Update

    return Update(1, message=message)


def test_help_lists_every_registered_command_with_the_privacy_note():
    text = help_text(COMMANDS, "en")
    for command in COMMANDS:
        assert f"/{command.name} — {command.summary.en}" in text
    assert "/caption a picture of" in text
    assert "privacy mode" in text and "admin" in text
    assert len(text) <= 4096


def test_help_in_chinese_lists_every_command_in_chinese():
    text = help_text(COMMANDS, "zh")
    for command in COMMANDS:
        assert f"/{command.name} — {command.summary.zh}" in text
    assert text.startswith("我能做这些：") and "隐私模式" in text and "/setprivacy" in text
    assert "/stats — 队列、模型和内存（仅管理员）" in text
    assert "e.g." not in text and "privacy mode" not in text  # no English left in it
    assert len(text.encode("utf-16-le")) // 2 <= 4096


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("@tiny_test_bot what is this?", "what is this?"),
        ("what is this @Tiny_Test_Bot", "what is this"),
        ("@tiny_test_bot", ""),
        ("ask @tiny_test_botx too", "ask @tiny_test_botx too"),
    ],
)
def test_without_mention_leaves_the_question(text, question):
    assert without_mention(text, "tiny_test_bot") == question
