"""/stats (admins): queue length per task, loaded models, device memory, jobs served and failed."""

from __future__ import annotations

from bot import texts
from bot.messaging.commands import command
from bot.pipeline import UserRequest


async def stats(request: UserRequest) -> None:
    """Show what the bot is doing and holding."""
    services = request.services
    await request.reply(texts.stats_report(services.queue.stats(), services.backend.stats()))


COMMAND = command("stats", stats, admin_only=True)
