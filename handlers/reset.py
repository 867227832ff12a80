"""/reset: forget this chat's (or forum topic's) conversations about photos and start over."""

from __future__ import annotations

from telegram import Update

from bot import texts
from bot.messaging.commands import command
from bot.context import BotContext
from bot.stores.history import scope_of
from bot.messaging.replies import reply


async def reset(update: Update, context: BotContext) -> None:
    """Forget the photo conversations of this chat or topic."""
    message = update.effective_message
    forgotten = await context.services.history.reset(scope_of(message))
    await reply(message, texts.RESET_DONE if forgotten else texts.RESET_NOTHING)


COMMAND = command("reset", reset)
