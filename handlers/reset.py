"""/reset: forget this chat's (or forum topic's) conversations about photos and start over."""

from __future__ import annotations

from bot import texts
from bot.messaging.commands import command
from bot.pipeline import UserRequest
from bot.stores.history import scope_of


async def reset(request: UserRequest) -> None:
    """Forget the photo conversations of this chat or topic."""
    forgotten = await request.services.history.reset(scope_of(request.message))
    await request.reply(texts.RESET_DONE if forgotten else texts.RESET_NOTHING)


COMMAND = command("reset", reset)
