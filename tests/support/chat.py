"""Small helpers for end-to-end tests: test photos, and reading the bot's answers off the fake server."""

from __future__ import annotations

import io
import random
import time

from PIL import Image

from tests.support.fake_telegram import FakeTelegram

STATUS_PREFIXES = ("⏳", "⚙️")
STREAMING_CURSOR = "▌"  # a streamed answer still being written ends with it


def photo_bytes(seed: int = 0, size: tuple[int, int] = (96, 64), fmt: str = "JPEG") -> bytes:
    """A small, distinct test photo: random coloured blocks."""
    rng = random.Random(seed)
    img = Image.new("RGB", size)
    for x in range(0, size[0], 16):
        for y in range(0, size[1], 16):
            img.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), (x, y, x + 16, y + 16))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


async def deliver(app, telegram: FakeTelegram, message: dict) -> None:
    """The user's `message` reaches an in-process Application (see the start_app fixture)."""
    from telegram import Update

    update_id = telegram.inject(message)
    await app.process_update(Update.de_json({"update_id": update_id, "message": message}, app.bot))


def is_status(text: str | None) -> bool:
    """A message that is not (yet) an answer: a queue status, or a streamed answer still being written."""
    return bool(text) and (text.startswith(STATUS_PREFIXES) or text.endswith(STREAMING_CURSOR))


def replies_to(telegram: FakeTelegram, request: dict) -> list[dict]:
    """The bot's current messages in the request's chat that reply to it."""
    chat_id = request["chat"]["id"]
    return [
        m
        for m in telegram.bot_messages(chat_id)
        if m.get("reply_to_message", {}).get("message_id") == request["message_id"]
    ]


def answer_to(telegram: FakeTelegram, request: dict, timeout: float = 60.0) -> dict:
    """Wait for the bot's final answer to `request`: a reply to it that is not a status message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        final = [m for m in replies_to(telegram, request) if not is_status(m.get("text"))]
        if final:
            return final[0]
        time.sleep(0.02)
    chat_id = request["chat"]["id"]
    shown = [(m["message_id"], m.get("text") or m.get("caption")) for m in telegram.bot_messages(chat_id)]
    raise AssertionError(
        f"no answer to message {request['message_id']} in chat {chat_id} within {timeout} s; bot messages: {shown}"
    )


def answered_at(telegram: FakeTelegram, answer: dict) -> float:
    """When the answer's final text reached the server (the send, or the edit that set it)."""
    chat_id, message_id, text = answer["chat"]["id"], answer["message_id"], answer.get("text")
    for call in telegram.calls():
        if not call.ok or str(call.params.get("chat_id")) != str(chat_id):
            continue
        sent = call.method == "sendMessage" and isinstance(call.result, dict)
        if sent and call.result.get("message_id") == message_id and call.params.get("text") == text:
            return call.time
        edited = call.method == "editMessageText" and call.params.get("message_id") == message_id
        if edited and call.params.get("text") == text:
            return call.time
    raise AssertionError(f"no call delivered message {message_id}: {text!r}")
