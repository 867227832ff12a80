"""Replying to a user's message: quoted, in its forum topic, even if the message was deleted meanwhile."""

from __future__ import annotations

from telegram import Message


async def reply(request: Message, text: str) -> Message:
    """Send `text` as a reply to `request`."""
    return await request.reply_text(text, do_quote=request.build_reply_arguments(allow_sending_without_reply=True))
