"""/start: greet a new user."""

from __future__ import annotations

from telegram import Update

from bot import texts
from bot.messaging.commands import command
from bot.context import BotContext
from bot.messaging.replies import reply


async def start(update: Update, context: BotContext) -> None:
    """Say what the bot is and where to look next."""
    await reply(update.effective_message, texts.START)


COMMAND = command("start", start)
