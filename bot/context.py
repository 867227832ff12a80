"""The typed callback context: handlers reach the bot's services through `context.services`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from telegram.ext import CallbackContext, ExtBot

if TYPE_CHECKING:
    from bot.commands import Command
    from bot.history import ChatHistory
    from bot.queue import GpuQueue
    from bot.settings import Settings


@dataclass
class Services:
    """What handlers depend on, built once in build_application()."""

    settings: Settings
    queue: GpuQueue
    commands: tuple[Command, ...]
    history: ChatHistory | None = None  # photo conversations (/ask, /box, /reset)


class BotContext(CallbackContext[ExtBot[None], dict, dict, dict]):
    """CallbackContext plus typed access to the services."""

    @property
    def services(self) -> Services:
        return self.application.bot_data["services"]

