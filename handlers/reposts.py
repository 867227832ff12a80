"""/reposts [on|off]: a chat's admins switch repost spotting (a photo posted here before gets a reply)."""

from __future__ import annotations

from bot import texts
from bot.errors import BadInput
from bot.messaging.admins import is_chat_admin
from bot.messaging.commands import command, command_args
from bot.pipeline import UserRequest


async def reposts(request: UserRequest) -> None:
    """Show whether repost spotting is on in this chat, or switch it (in groups: the chat's admins only)."""
    watcher = request.services.reposts
    choice = command_args(request.text).lower()
    if choice in ("", "status"):
        await request.reply(texts.reposts_status(await watcher.is_on(request.chat_id)))
        return
    if choice not in ("on", "off"):
        raise BadInput(f"/reposts {choice!r}", user_message=texts.REPOSTS_USAGE)
    if not await is_chat_admin(request.update, request.bot, request.services.settings.admin_user_ids):
        await request.reply(texts.REPOSTS_ADMINS_ONLY)
        return
    await watcher.switch(request.chat_id, choice == "on")
    await request.reply(texts.reposts_switched(choice == "on"))


COMMAND = command("reposts", reposts)
