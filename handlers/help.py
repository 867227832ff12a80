"""/help: every command with an example, built from the registration list."""

from __future__ import annotations

from telegram import Update

from bot import texts
from bot.commands import Command
from bot.context import BotContext
from bot.replies import reply


def help_text(commands: tuple[Command, ...]) -> str:
    """The /help message for `commands`."""
    lines = [texts.HELP_HEADER, ""]
    for command in commands:
        line = f"/{command.name} — {command.summary}"
        if command.example != f"/{command.name}":
            line += f"\n    e.g. {command.example}"
        if command.admin_only:
            line += " (admins)"
        if command.details:
            line += f"\n    {command.details}"
        lines.append(line)
    lines += ["", texts.PHOTO_FORMS, "", texts.PRIVACY_NOTE]
    return "\n".join(lines)


async def show_help(update: Update, context: BotContext) -> None:
    """List every command with an example."""
    await reply(update.effective_message, help_text(context.services.commands))


COMMAND = Command("help", "What I can do, with examples", "/help", show_help)
