"""The typed callback context: handlers reach the bot's services through `context.services`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from telegram.ext import CallbackContext, ExtBot

from bot.features.flood import RefusalBursts
from bot.i18n import Text

if TYPE_CHECKING:
    from bot.features.albums import ChatAlbums
    from bot.features.generation import GenService
    from bot.features.inline_search import InlineSearch
    from bot.features.photos import ChatPhotos
    from bot.features.reposts import RepostWatcher
    from bot.imaging.decoding import ImageDecoder
    from bot.messaging.commands import Command
    from bot.queue.backend import Backend
    from bot.queue.gpu_queue import GpuQueue
    from bot.settings import Settings
    from bot.stores.history import ChatHistory
    from bot.stores.journal import JobJournal
    from bot.stores.quotas import Quotas


log = logging.getLogger(__name__)


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
    albums: ChatAlbums  # which photos make up each album a chat shared (/ask on an album)
    reposts: RepostWatcher  # /reposts: near-duplicates of a chat's earlier photos pointed out
    inline: InlineSearch  # inline mode: a user's own private-chat photos, searched from any chat
    refusals: RefusalBursts = field(default_factory=RefusalBursts)  # a flood's refusals: answered once per burst

    async def forget_chat(self, chat_id: int) -> dict[Text, int]:
        """Delete everything kept for the chat, leaving no byte of its texts on disk: {what: how many}.

        Besides the stores the /forget reply counts: the prompts behind rerun buttons, the journal's copies
        of the chat's requests, and in a private chat (its id is the user's) what the user's quota counted.
        Then the SQLite WAL, which still holds the deleted rows' old pages, is emptied.
        """
        counts = {store.what: await store.forget(chat_id) for store in self.chat_stores}
        await self.gen.forget(chat_id)
        await self.albums.forget(chat_id)
        await self.journal.forget(chat_id)
        await self.inline.forget(chat_id)
        if chat_id > 0:  # a private chat: Telegram gives groups and channels negative ids
            await self.quotas.forget_user(chat_id)
        await self.history.erase_leftovers()
        return counts

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup (a new chat id): its photos, conversations and rerun buttons move along.
        Safe to call twice (Telegram announces the move in both chats): the second finds nothing left to move."""
        photos = await self.photos.migrate(old_chat_id, new_chat_id)
        conversations = await self.history.migrate(old_chat_id, new_chat_id)
        buttons = await self.gen.migrate(old_chat_id, new_chat_id)
        await self.albums.migrate(old_chat_id, new_chat_id)
        await self.reposts.migrate(old_chat_id, new_chat_id)
        if photos or conversations or buttons:
            log.info(
                "chat %s became %s: moved %d photos, %d conversations, %d rerun prompts",
                old_chat_id,
                new_chat_id,
                photos,
                conversations,
                buttons,
            )


class BotContext(CallbackContext[ExtBot[None], dict, dict, dict]):
    """CallbackContext plus typed access to the services."""

    @property
    def services(self) -> Services:
        return self.application.bot_data["services"]
