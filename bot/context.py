"""The typed callback context: handlers reach the bot's services through `context.services`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from telegram.ext import CallbackContext, ExtBot

from bot.i18n import Text

if TYPE_CHECKING:
    from bot.features.generation import GenService
    from bot.features.photos import ChatPhotos
    from bot.imaging.decoding import ImageDecoder
    from bot.messaging.commands import Command
    from bot.queue.backend import Backend
    from bot.queue.gpu_queue import GpuQueue
    from bot.settings import Settings
    from bot.stores.history import ChatHistory
    from bot.stores.journal import JobJournal
    from bot.stores.quotas import Quotas


class ChatStore(Protocol):
    """Something kept per chat, which /forget and the bot's leaving the chat delete."""

    what: Text  # how the /forget reply names it after a number: "indexed photos" (bot.texts)

    async def forget(self, chat_id: int) -> int:
        """Delete everything kept for the chat; returns how many items there were."""


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
    history: ChatHistory  # photo conversations (/ask, /box, /reset)
    photos: ChatPhotos  # photo memory: `photos.index_message(message)` indexes a sent photo
    chat_stores: list[ChatStore]  # what /forget and the bot's removal delete
    decoder: ImageDecoder  # every photo a command or indexing reads is decoded through it

    async def forget_chat(self, chat_id: int) -> dict[Text, int]:
        """Delete everything every store keeps for the chat: {what: how many}."""
        return {store.what: await store.forget(chat_id) for store in self.chat_stores}


class BotContext(CallbackContext[ExtBot[None], dict, dict, dict]):
    """CallbackContext plus typed access to the services."""

    @property
    def services(self) -> Services:
        return self.application.bot_data["services"]

