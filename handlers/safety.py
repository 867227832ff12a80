"""/safety [on|off]: admins switch /gen's safety filter (prompt blocklist and image checker); it outlives restarts."""

from __future__ import annotations

from telegram import Update

from bot import texts
from bot.messaging.commands import command, command_args
from bot.context import BotContext
from bot.errors import BadInput
from bot.messaging.replies import reply


async def safety(update: Update, context: BotContext) -> None:
    """Show the safety state, or switch it on or off (admins only)."""
    message = update.effective_message
    services = context.services
    user = update.effective_user  # admins only: the registration wraps this command (admin_only=True)
    choice = command_args(message.text).lower()
    if choice in ("on", "off"):
        await services.gen.set_safety(choice == "on", user.id)
        await reply(message, texts.safety_switched(choice == "on"))
    elif choice in ("", "status"):
        on = await services.gen.safety_on()
        checker = services.settings.safety_checker_model
        await reply(message, texts.safety_status(on, checker, len(services.gen.blocklist)))
    else:
        raise BadInput(f"/safety {choice!r}", user_message=texts.SAFETY_USAGE)


COMMAND = command("safety", safety, admin_only=True)
