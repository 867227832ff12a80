"""/cancel: withdraw one's own newest waiting (or running) request in this chat."""

from __future__ import annotations

from telegram import Update

from bot import texts
from bot.commands import Command
from bot.context import BotContext
from bot.replies import reply
from bot.requester import requester_id


async def cancel(update: Update, context: BotContext) -> None:
    """Cancel the sender's newest request in this chat."""
    message = update.effective_message
    job = context.services.queue.cancel(requester_id(update), chat_id=message.chat_id)
    await reply(message, texts.cancelled(f"/{job.command or job.task}") if job else texts.NOTHING_TO_CANCEL)


COMMAND = Command("cancel", "Cancel your waiting request", "/cancel", cancel)
