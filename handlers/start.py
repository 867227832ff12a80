"""/start: greet a new user."""

from __future__ import annotations

from bot import texts
from bot.messaging.commands import command
from bot.pipeline import UserRequest


async def start(request: UserRequest) -> None:
    """Say what the bot is and where to look next."""
    await request.reply(texts.START)


COMMAND = command("start", start)
