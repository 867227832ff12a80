"""/safety [on|off]: admins switch /gen's safety filter (prompt blocklist and image checker); it outlives restarts."""

from __future__ import annotations

from bot import texts
from bot.errors import BadInput
from bot.messaging.commands import command, command_args
from bot.pipeline import UserRequest


async def safety(request: UserRequest) -> None:
    """Show the safety state, or switch it on or off (admins only: the registration says admin_only=True)."""
    services = request.services
    choice = command_args(request.text).lower()
    if choice in ("on", "off"):
        await services.gen.set_safety(choice == "on", request.user_id)
        await request.reply(texts.safety_switched(choice == "on"))
    elif choice in ("", "status"):
        on = await services.gen.safety_on()
        checker = services.settings.safety_checker_model
        await request.reply(texts.safety_status(on, checker, len(services.gen.blocklist)))
    else:
        raise BadInput(f"/safety {choice!r}", user_message=texts.SAFETY_USAGE)


COMMAND = command("safety", safety, admin_only=True)
