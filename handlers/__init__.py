"""The registration list: every command the bot understands, in the order /help lists them."""

from __future__ import annotations

from bot.messaging.commands import Command
from handlers import (
    ask,
    box,
    cancel,
    caption,
    classify,
    find,
    forget,
    gen,
    help,
    reposts,
    reset,
    safety,
    start,
    stats,
)

COMMANDS: tuple[Command, ...] = (
    start.COMMAND,
    help.COMMAND,
    caption.COMMAND,
    classify.COMMAND,
    gen.COMMAND,
    ask.COMMAND,
    box.COMMAND,
    reset.COMMAND,
    find.COMMAND,
    forget.COMMAND,
    cancel.COMMAND,
    stats.COMMAND,
    safety.COMMAND,
    reposts.COMMAND,
)
