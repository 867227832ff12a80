"""The registration list: every command the bot understands, in the order /help lists them."""

from __future__ import annotations

from bot.commands import Command
from handlers import cancel, caption, find, forget, help, start

COMMANDS: tuple[Command, ...] = (
    start.COMMAND,
    help.COMMAND,
    caption.COMMAND,
    find.COMMAND,
    forget.COMMAND,
    cancel.COMMAND,
)
