"""Inline search (`@bot beach sunset` in any chat): the best matches among the photos *you* sent the bot.

Only ever the photos of the asker's private chat with the bot (its chat id is the user's id): an inline
query says who typed it but never where, and the bot searches no other collection for it, so a group's
photos, or another user's, can't come back. The same filters as /find apply (bot.features.find_filters).
A text query costs one CLIP text embedding, counted like /find's (quota, the queue's fair order and caps);
answers are kept a short while per user and query, so the keystrokes of one query don't each cost one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cachetools import TTLCache

from bot.errors import BadInput
from bot.features.find_filters import parse_filters
from bot.queue.jobs import Job
from contract.requests import Embedding, EmbedTextRequest

if TYPE_CHECKING:
    from bot.features.photos import ChatPhotos
    from bot.queue.gpu_queue import GpuQueue
    from bot.stores.photo_index import Match
    from bot.stores.quotas import Quotas

MAX_RESULTS = 20  # Telegram shows up to 50; a grid of 20 is plenty to pick from
MAX_QUERY_CHARS = 256  # Telegram's own limit for an inline query
CACHE_S = 30.0  # server-side, per user and query (Telegram's cache_time is set to the same)


class InlineSearch:
    """Answers inline queries from the asker's own private-chat photos, with a small per-user cache."""

    def __init__(self, photos: ChatPhotos, queue: GpuQueue, quotas: Quotas, admins: frozenset[int]) -> None:
        self.photos = photos
        self.queue = queue
        self.quotas = quotas
        self.admins = admins
        self._cache: TTLCache[tuple[int, str], list[Match]] = TTLCache(maxsize=4096, ttl=CACHE_S, timer=time.monotonic)

    async def search(self, user_id: int, text: str) -> list[Match]:
        """The user's own photos for `text` (words and filters), best (or with filters only, newest) first.

        Raises BadInput for a bad filter, and the queue's or quota's BotError when the embedding can't run.
        """
        text = " ".join(text.split())[:MAX_QUERY_CHARS]
        slot = (user_id, text)
        if slot in self._cache:
            return self._cache[slot]
        parsed = parse_filters(text, user_id)
        if len(parsed.words) > MAX_QUERY_CHARS:
            raise BadInput("inline query too long")
        chat_id = user_id  # the user's private chat with the bot, and nothing else
        if not await self.photos.check_searchable(chat_id):
            matches: list[Match] = []
        elif not parsed.words:
            matches = await self.photos.newest(chat_id, MAX_RESULTS, parsed.filters.where())
        else:
            query = await self._embed(user_id, parsed.words)
            matches = await self.photos.search(chat_id, query, MAX_RESULTS, (), parsed.filters.where())
        matches = [m for m in matches if m.record.chat_id == chat_id and m.record.file_id and m.record.kind == "photo"]
        self._cache[slot] = matches
        return matches

    async def _embed(self, user_id: int, words: str) -> Embedding:
        job = Job(EmbedTextRequest(words), user_id=user_id, chat_id=user_id, command="find")
        counted = user_id not in self.admins
        taken = await self.quotas.take(user_id, str(job.task)) if counted else None
        try:
            ticket = self.queue.submit(job)
        except Exception:
            if taken is not None:
                await self.quotas.refund(user_id, str(job.task), taken)
            raise
        result = await ticket.result()
        assert isinstance(result, Embedding)
        return result

    async def forget(self, chat_id: int) -> int:
        """A forgotten private chat's cached answers go too (its photos are gone from the index)."""
        for slot in [s for s in list(self._cache) if s[0] == chat_id]:
            self._cache.pop(slot, None)
        return 0
