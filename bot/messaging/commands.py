"""The shape of one entry in the command registration list, and the filter for commands in captions."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Message, MessageEntity
from telegram.ext import filters

from bot import texts
from bot.i18n import Say

# A PTB callback: (update, context) -> None, with bot.context.BotContext as the context (not imported here:
# the context's services list the commands).
Callback = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    """One command: how it is listed in the Telegram menu and /help, and what runs it."""

    name: str
    summary: Say  # the menu text (setMyCommands), one short line (a bot.texts Text: in each language)
    example: Say  # shown in /help
    callback: Callback
    on_photo: bool = False  # also accepted as the caption of a photo or image file
    long_running: bool = False  # runs outside the update loop (block=False)
    admin_only: bool = False
    details: Say | None = None  # one more line for /help (options and such)
    on_button: Callback | None = None  # answers presses of inline buttons whose callback_data is "<name>:..."
    on_reply: bool = False  # also runs for a plain text reply to one of the bot's messages
    on_mention: bool = False  # also runs for a message (or photo caption) that mentions the bot: "@bot why?"


def command(name: str, callback: Callback, **options: Any) -> Command:
    """The registration entry for /`name`, with its menu and /help texts from bot.texts."""
    words = texts.COMMANDS[name]
    return Command(name, words.summary, words.example, callback, details=words.details, **options)


_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s|$)")


def parse_command(text: str | None) -> tuple[str, str | None] | None:
    """('caption', 'somebot' or None) for '/caption@somebot ...', None when text isn't a command."""
    if not text:
        return None
    match = _COMMAND.match(text)
    if match is None:
        return None
    return match.group(1).lower(), match.group(2)


def command_args(text: str | None) -> str:
    """What follows the command word: '/caption@bot a dog' -> 'a dog'."""
    if not text:
        return ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def text_mentions(message: Message, args: str) -> list[tuple[int, int, int]]:
    """(start, end, user id) of each text_mention (a mention of someone without a username) in `args`, the
    command's arguments in the message's text or caption, as indices into `args`."""
    text = message.text or message.caption or ""
    entities = message.entities if message.text else message.caption_entities
    if not args or not entities:
        return []
    first = text.split(maxsplit=1)[0] if text.split() else ""
    base = text.find(args, len(first))
    if base < 0:
        return []
    found = []
    for entity in entities:
        if entity.type != MessageEntity.TEXT_MENTION or entity.user is None:
            continue
        # Telegram counts in UTF-16 code units; Python in code points.
        start = len(text.encode("utf-16-le")[: entity.offset * 2].decode("utf-16-le", "ignore"))
        end = len(text.encode("utf-16-le")[: (entity.offset + entity.length) * 2].decode("utf-16-le", "ignore"))
        if start >= base:
            found.append((start - base, end - base, entity.user.id))
    return found


class CaptionCommand(filters.MessageFilter):
    """Matches a media message whose caption starts with /name, or /name@thisbot (never @otherbot).

    PTB's CaptionRegex/CaptionEntity filters would also accept /name@otherbot in groups.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name=f"CaptionCommand({name})")
        self.command = name.lower()

    def filter(self, message: Message) -> bool:
        parsed = parse_command(message.caption)
        if parsed is None or parsed[0] != self.command:
            return False
        addressee = parsed[1]
        return addressee is None or addressee.lower() == (message.get_bot().username or "").lower()


def mentions_bot(message: Message) -> bool:
    """Whether the message's text or caption mentions this bot (@username, or a mention by name)."""
    username = (message.get_bot().username or "").lower()
    for entity, text in {**message.parse_entities(), **message.parse_caption_entities()}.items():
        if entity.type == MessageEntity.MENTION and text[1:].lower() == username:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == message.get_bot().id:
            return True
    return False


def without_mention(text: str, username: str | None) -> str:
    """`text` with the bot's @username taken out: "@bot what is this?" -> "what is this?"."""
    if username:
        text = re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


class MentionsBot(filters.MessageFilter):
    """Matches a message that mentions this bot and is not a command (a command goes to its own handler)."""

    def filter(self, message: Message) -> bool:
        return parse_command(message.text or message.caption) is None and mentions_bot(message)


def replied_message(message: Message) -> Message | None:
    """The message `message` really replies to, or None.

    In a forum topic Telegram marks every message as a reply to the topic's first message (the
    forum_topic_created service message): that is where it was sent, not what it answers, so it is None here.
    """
    replied = message.reply_to_message
    if replied is None:
        return None
    if replied.forum_topic_created is not None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return None  # the topic's root, e.g. when the service message itself wasn't delivered in full
    return replied


def replies_to_bot(message: Message) -> bool:
    """Whether `message` replies to one of this bot's own messages (the topic root never counts)."""
    replied = replied_message(message)
    return replied is not None and replied.from_user is not None and replied.from_user.id == message.get_bot().id


class ReplyToBot(filters.MessageFilter):
    """Matches a message that replies to one of this bot's own messages."""

    def filter(self, message: Message) -> bool:
        return replies_to_bot(message)
