"""The typed callback context: handlers reach the bot's services through `context.services`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from telegram.ext import CallbackContext, ExtBot

if TYPE_CHECKING:
    from bot.backends import Backend
    from bot.commands import Command
    from bot.journal import JobJournal
    from bot.quotas import Quotas
    from bot.generation import GenService
    from bot.history import ChatHistory
    from bot.queue import GpuQueue
    from bot.settings import Settings


@dataclass
class Services:
    """What handlers depend on, built once in build_application()."""

    settings: Settings
    queue: GpuQueue
    backend: Backend
    commands: tuple[Command, ...]
    journal: JobJournal
    quotas: Quotas
    gen: GenService
    history: ChatHistory | None = None  # photo conversations (/ask, /box, /reset)


class BotContext(CallbackContext[ExtBot[None], dict, dict, dict]):
    """CallbackContext plus typed access to the services."""

    @property
    def services(self) -> Services:
        return self.application.bot_data["services"]

