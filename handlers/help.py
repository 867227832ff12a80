"""/help: every command with an example, built from the registration list."""

from __future__ import annotations

from telegram import Update

from bot import texts
from bot.messaging.commands import Command, command
from bot.context import BotContext
from bot.i18n import Lang, language_of_message, localize
from bot.messaging.replies import reply


def help_text(commands: tuple[Command, ...], lang: Lang = "en") -> str:
    """The /help message for `commands`, in `lang`."""
    lines = [texts.HELP_HEADER.in_(lang), ""]
    for command in commands:
        example = localize(command.example, lang)
        line = f"/{command.name} — {localize(command.summary, lang)}"
        if example != f"/{command.name}":
            line += f"\n    {texts.HELP_EXAMPLE.in_(lang)} {example}"
        if command.admin_only:
            line += texts.HELP_ADMINS.in_(lang)
        if command.details:
            line += f"\n    {localize(command.details, lang)}"
        lines.append(line)
    lines += ["", texts.PHOTO_FORMS.in_(lang), "", texts.PRIVACY_NOTE.in_(lang)]
    return "\n".join(lines)


async def show_help(update: Update, context: BotContext) -> None:
    """List every command with an example, in the asker's language."""
    message = update.effective_message
    await reply(message, help_text(context.services.commands, language_of_message(message)))


COMMAND = command("help", show_help)
