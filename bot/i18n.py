"""The languages the bot answers in, and which one each user gets.

Every text the bot says is a `Text` (in `bot.texts`) with an English and a Simplified Chinese form;
it is put into words only when it is sent, in the language of the user it answers: Telegram's
`language_code` of that user (zh, zh-hans, zh-cn, zh-hant... get Chinese; everything else English).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from telegram import Message, User

Lang = Literal["en", "zh"]
LANGUAGES: tuple[Lang, ...] = ("en", "zh")
DEFAULT: Lang = "en"


@dataclass(frozen=True)
class Text:
    """One thing the bot says, in each of its languages. str() is the English form (for logs)."""

    en: str
    zh: str

    def in_(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en

    def __str__(self) -> str:
        return self.en


Say = str | Text  # what a reply may be given: a Text, or words already in one language (a model's answer)


def language_of(user: User | None) -> Lang:
    """The language to answer `user` in, from their Telegram app's language."""
    code = (getattr(user, "language_code", None) or "").lower().replace("_", "-")
    return "zh" if code.split("-")[0] == "zh" else DEFAULT


def language_of_message(message: Message) -> Lang:
    """The language of the person who sent `message` (channel posts have nobody: English)."""
    return language_of(message.from_user)


def localize(text: Say, lang: Lang) -> str:
    """`text` in `lang`; plain strings (model answers, labels) are sent as they are."""
    return text.in_(lang) if isinstance(text, Text) else text
