"""/stats (admins): queue length per task, loaded models, device memory, jobs served and failed."""

from __future__ import annotations

from telegram import Update

from bot import texts
from bot.messaging.commands import command
from bot.context import BotContext
from bot.messaging.replies import reply


async def stats(update: Update, context: BotContext) -> None:
    """Show what the bot is doing and holding."""
    services = context.services
    await reply(update.effective_message, texts.stats_report(services.queue.stats(), services.backend.stats()))


COMMAND = command("stats", stats, admin_only=True)
