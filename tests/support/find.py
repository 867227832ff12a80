"""Helpers for /find end-to-end tests: reading the matches the bot sent back, and which photo each one is."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

from PIL import Image

from tests.support.chat import is_status, photo_bytes
from tests.support.fake_telegram import FakeTelegram


@dataclass
class FindAnswer:
    """What the bot sent for one /find: its matches (photo or file messages) and any text reply."""

    matches: list[dict] = field(default_factory=list)
    text: str | None = None

    @property
    def keys(self) -> list[str]:
        """The file_unique_id of each match, best first (the one the chat's photo had)."""
        return [unique_id(m) for m in self.matches]

    @property
    def captions(self) -> list[str]:
        return [m.get("caption", "") for m in self.matches]


def unique_id(message: dict) -> str:
    """The file_unique_id of a message's largest photo size, or of its document."""
    if "photo" in message:
        return message["photo"][-1]["file_unique_id"]
    return message["document"]["file_unique_id"]


def find_answer(telegram: FakeTelegram, request: dict, timeout: float = 60.0, *, parts: int = 1) -> FindAnswer:
    """Wait for the answer to a /find: the media the bot sent after it, or its text reply.

    An album is one sendMediaGroup call, so its messages appear together. `parts` is how many pieces the
    answer has (an album of photos, one of image files, a note about matches that could not be sent).
    """
    chat_id, request_id = request["chat"]["id"], request["message_id"]
    deadline = time.monotonic() + timeout

    def current() -> FindAnswer:
        later = [m for m in telegram.bot_messages(chat_id) if m["message_id"] > request_id]
        media = [m for m in later if "photo" in m or "document" in m]
        texts = [
            m["text"]
            for m in later
            if "text" in m
            and not is_status(m["text"])
            and m.get("reply_to_message", {}).get("message_id") == request_id
        ]
        return FindAnswer(media, texts[0] if texts else None)

    while time.monotonic() < deadline:
        answer = current()
        pieces = len({m.get("media_group_id", m["message_id"]) for m in answer.matches}) + bool(answer.text)
        if pieces >= parts:
            time.sleep(0.05)  # a straggler would be a bug: let it show up in the assertions
            return current()
        time.sleep(0.02)
    shown = [(m["message_id"], m.get("text") or m.get("caption")) for m in telegram.bot_messages(chat_id)]
    raise AssertionError(
        f"no answer to /find {request.get('text') or request.get('caption')!r} in chat {chat_id} within {timeout} s; "
        f"bot messages: {shown}"
    )


def wait_for_log(bot, needle: str, count: int = 1, timeout: float = 60.0) -> str:
    """Wait until the bot's log holds `needle` at least `count` times; returns the log."""
    deadline = time.monotonic() + timeout
    while True:
        logs = bot.logs()
        if logs.count(needle) >= count:
            return logs
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} appeared {logs.count(needle)} times, not {count}:\n{logs[-3000:]}")
        time.sleep(0.05)


def remove_bot(telegram: FakeTelegram, chat: dict, by: dict, status: str = "kicked") -> int:
    """Inject the my_chat_member update Telegram sends when the bot is removed from (or leaves) a chat."""
    new_member = {"status": status, "user": telegram.bot_user}
    if status == "kicked":
        new_member["until_date"] = 0
    update = {
        "chat": chat,
        "from": by,
        "date": int(time.time()),
        "old_chat_member": {"status": "member", "user": telegram.bot_user},
        "new_chat_member": new_member,
    }
    return telegram.inject(update, "my_chat_member")


def migrate_group(telegram: FakeTelegram, group: dict, by: dict, supergroup_id: int) -> dict:
    """The group becomes a supergroup: Telegram's service message in the old group; returns the new chat."""
    supergroup = telegram.group_chat(supergroup_id, group.get("title", "Group"))
    message = telegram.message(group, by)
    message["migrate_to_chat_id"] = supergroup_id
    telegram.inject(message)
    return supergroup


def near_copy(seed: int, fmt: str = "JPEG") -> bytes:
    """Nearly the photo `photo_bytes(seed)`: one corner block a little brighter (another file, same picture)."""
    image = Image.open(io.BytesIO(photo_bytes(seed))).convert("RGB")
    corner = image.crop((0, 0, 16, 16)).point(lambda v: min(255, v + 12))
    image.paste(corner, (0, 0))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()
