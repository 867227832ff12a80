"""The registration list: every command the bot understands, in the order /help lists them."""

from __future__ import annotations

from bot.commands import Command
from handlers import ask, box, cancel, caption, help, reset, start

COMMANDS: tuple[Command, ...] = (
    start.COMMAND,
    help.COMMAND,
    caption.COMMAND,
    ask.COMMAND,
    box.COMMAND,
    reset.COMMAND,
    cancel.COMMAND,
)
