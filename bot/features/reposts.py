"""Repost spotting (/reposts on): a photo already posted in the same chat gets one short reply pointing to the
first post.

It runs after indexing, on what indexing already has: the photo shrunk for embedding (for a perceptual
fingerprint, bot.imaging.fingerprints) and its CLIP vector. A new photo is a repost when an earlier photo of
the *same chat* is near in both: its pHash and dHash within PHASH_MAX and DHASH_MAX bits, and its CLIP vector
within CLIP_MIN cosine. Recompressed, resized and lightly cropped copies pass both; a merely similar photo
(another shot of the same beach) fails the hashes. The same file posted again (a forward: the same
file_unique_id, so never indexed twice) is a repost without any comparing.

Only the chat's own fingerprints (bot.stores.reposts) and its own collection are read, so a reply never
points into another chat. bench/repost_detection.py measures the rates.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from telegram import ReplyParameters
from telegram.error import TelegramError

from bot import texts
from bot.i18n import Lang
from bot.imaging.fingerprints import perceptual_hashes
from bot.stores.reposts import Fingerprint, PrintedPhoto, RepostStore

if TYPE_CHECKING:
    from PIL.Image import Image
    from telegram import Bot

    from bot.stores.photo_index import ModelSpec, PhotoIndex, PhotoRecord

log = logging.getLogger(__name__)

PHASH_MAX = 16  # differing bits of 64 (bench/repost_detection.py)
DHASH_MAX = 14
CLIP_MIN = 0.9  # cosine of the two photos' CLIP vectors


def fingerprint(image: Image) -> Fingerprint:
    """The image's perceptual fingerprint (CPU: run it off the event loop)."""
    return Fingerprint(*perceptual_hashes(image))


def is_near(a: Fingerprint, b: Fingerprint) -> bool:
    """Whether two fingerprints are of the same picture (the hash half of the decision)."""
    d_phash, d_dhash = a.distance(b)
    return d_phash <= PHASH_MAX and d_dhash <= DHASH_MAX


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def first_post_link(chat_id: int, message_id: int) -> str | None:
    """A t.me/c link to a message of a supergroup (its id is -100…); None for other chats."""
    text = str(chat_id)
    return f"https://t.me/c/{text[4:]}/{message_id}" if text.startswith("-100") and message_id else None


class RepostWatcher:
    """Spots reposts in the chats that switched /reposts on (a listener of bot.features.photos.ChatPhotos)."""

    what = texts.REPOST_FINGERPRINTS  # as a ChatStore: what /forget deletes

    def __init__(self, store: RepostStore, index: PhotoIndex) -> None:
        self.store = store
        self.index = index
        self._bot: Bot | None = None
        self._on: dict[int, bool] = {}  # chat -> /reposts on (read from the store once)
        self.spotted = 0

    def start(self, bot: Bot) -> None:
        self._bot = bot

    async def is_on(self, chat_id: int) -> bool:
        if chat_id not in self._on:
            self._on[chat_id] = await self.store.is_on(chat_id)
        return self._on[chat_id]

    async def switch(self, chat_id: int, on: bool) -> None:
        await self.store.switch(chat_id, on)
        self._on[chat_id] = on

    async def forget(self, chat_id: int) -> int:
        self._on.pop(chat_id, None)
        return await self.store.forget(chat_id)

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> int:
        self._on.pop(old_chat_id, None)
        self._on.pop(new_chat_id, None)
        return await self.store.migrate(old_chat_id, new_chat_id)

    # -- the listener ---------------------------------------------------------------------------

    async def indexed(
        self, record: PhotoRecord, image: Image, vector: Sequence[float], spec: ModelSpec, lang: Lang
    ) -> None:
        """A photo new to the chat's index: a repost of an earlier one? Its fingerprint is kept either way."""
        if not await self.is_on(record.chat_id) or self._by_the_bot(record):
            return
        print_ = await asyncio.to_thread(fingerprint, image)
        candidates = await self.store.near(record.chat_id, print_, PHASH_MAX, DHASH_MAX)
        await self.store.add(record.chat_id, PrintedPhoto(record.key, print_, record.message_id, record.date))
        for candidate in candidates:  # oldest first: the reply points to the first post
            if candidate.key == record.key or candidate.message_id == record.message_id:
                continue
            earlier = await asyncio.to_thread(self.index.vector_of, record.chat_id, spec, candidate.key)
            if earlier is None or cosine(earlier, vector) < CLIP_MIN:
                continue
            await self._point_out(record, candidate, lang)
            return

    async def seen_again(self, record: PhotoRecord, lang: Lang) -> None:
        """The very file of an already indexed photo, posted again in the same chat (a forward, a re-send)."""
        if not await self.is_on(record.chat_id) or self._by_the_bot(record):
            return
        first = await self.store.get(record.chat_id, record.key)
        if first is None or first.message_id == record.message_id or not record.message_id:
            return
        await self._point_out(record, first, lang)

    def _by_the_bot(self, record: PhotoRecord) -> bool:
        return self._bot is not None and record.sender_id == self._bot.id

    async def _point_out(self, record: PhotoRecord, first: PrintedPhoto, lang: Lang) -> None:
        """One short reply: in a supergroup to the repost, with a link to the first post; elsewhere (no links
        there) as a reply to the first post itself."""
        bot = self._bot
        if bot is None:
            return
        texts_of = await asyncio.to_thread(self.index.texts.get, record.chat_id, [first.key])
        sender = texts_of.get(first.key, ("", ""))[1]
        link = first_post_link(record.chat_id, first.message_id)
        target = record.message_id if link else first.message_id
        self.spotted += 1
        log.info("photo %s of chat %s is a repost of %s", record.key, record.chat_id, first.key)
        try:
            await bot.send_message(
                record.chat_id,
                texts.repost_seen(sender, first.date, link).in_(lang),
                reply_parameters=ReplyParameters(target, allow_sending_without_reply=True),
                disable_web_page_preview=True,
            )
        except TelegramError as exc:
            log.warning("could not point out a repost in chat %s: %s", record.chat_id, exc)
