"""/start: greet a new user."""

from __future__ import annotations

from telegram import Update

from bot import texts
from bot.commands import Command
from bot.context import BotContext


async def start(update: Update, context: BotContext) -> None:
    """Say what the bot is and where to look next."""
    await update.effective_message.reply_text(texts.START)


COMMAND = Command("start", "Start here", "/start", start)
