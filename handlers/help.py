"""/help: every command with an example, built from the registration list."""

from __future__ import annotations

from bot import texts
from bot.i18n import Lang, localize
from bot.messaging.commands import Command, command
from bot.pipeline import UserRequest


def help_text(commands: tuple[Command, ...], lang: Lang = "en", bot_username: str = "") -> str:
    """The /help message for `commands`, in `lang`."""
    lines = [texts.HELP_HEADER.in_(lang), ""]
    for entry in commands:
        example = localize(entry.example, lang)
        line = f"/{entry.name} — {localize(entry.summary, lang)}"
        if example != f"/{entry.name}":
            line += f"\n    {texts.HELP_EXAMPLE.in_(lang)} {example}"
        if entry.admin_only:
            line += texts.HELP_ADMINS.in_(lang)
        if entry.details:
            line += f"\n    {localize(entry.details, lang)}"
        lines.append(line)
    lines += ["", texts.PHOTO_FORMS.in_(lang), "", texts.inline_note(bot_username).in_(lang)]
    lines += ["", texts.PRIVACY_NOTE.in_(lang)]
    return "\n".join(lines)


async def show_help(request: UserRequest) -> None:
    """List every command with an example, in the asker's language."""
    await request.reply(help_text(request.services.commands, request.lang, request.bot.username or ""))


COMMAND = command("help", show_help)
