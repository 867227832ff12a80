"""ChatAlbums: the photos of each album a chat shares, so one command can be about all of them (`/ask` on an album).

An album arrives as one message per photo with a shared `media_group_id`, spread over a second or so, and
its caption (the command) is on one of them only. Every album photo the bot sees is noted (in memory, when it
arrived; on disk, which album it belongs to); a command on an album waits until no part of it arrived for
ALBUM_QUIET_S (or all ten have), then reads the whole album back. A later reply to any photo of the album finds
the others on disk.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from bot.features.photos import ALBUM_QUIET_S, photo_record
from bot.stores.albums import ALBUM_MAX, AlbumPhoto, AlbumStore

if TYPE_CHECKING:
    from telegram import Message

# Arrival times of albums are kept in memory this long (a command waits ALBUM_QUIET_S at most).
_ARRIVALS_KEPT_S = 60.0


class ChatAlbums:
    """Album membership per chat: noted as photos arrive, read back complete."""

    def __init__(self, store: AlbumStore, quiet_s: float = ALBUM_QUIET_S) -> None:
        self.store = store
        self.quiet_s = quiet_s
        # album -> (when its last new part arrived, the parts seen so far)
        self._arrived: dict[tuple[int, str], tuple[float, frozenset[str]]] = {}

    async def note(self, message: Message) -> None:
        """Remember the album `message`'s photo belongs to (nothing for a photo outside an album)."""
        found = photo_record(message)
        if not message.media_group_id or found is None:
            return
        record, size = found
        key = (message.chat_id, message.media_group_id)
        now = time.monotonic()
        _, seen = self._arrived.get(key, (now, frozenset()))
        if record.key not in seen:
            self._arrived[key] = (now, seen | {record.key})
        if len(self._arrived) > 1000:  # only recent arrivals matter
            self._arrived = {k: v for k, v in self._arrived.items() if now - v[0] < _ARRIVALS_KEPT_S}
        photo = AlbumPhoto(record.file_id, record.key, size, message.message_id)
        await self.store.add(message.chat_id, message.media_group_id, photo)

    async def photos_of(self, message: Message) -> list[AlbumPhoto]:
        """Every photo of the album `message` is part of, first sent first ([] outside an album).

        While the album is still arriving, waits until it is complete (quiet for ALBUM_QUIET_S, or ten parts).
        """
        if not message.media_group_id:
            return []
        await self.note(message)
        key = (message.chat_id, message.media_group_id)
        while True:
            last, seen = self._arrived.get(key, (0.0, frozenset()))
            left = last + self.quiet_s - time.monotonic()
            if left <= 0 or len(seen) >= ALBUM_MAX:
                break
            await asyncio.sleep(left)
        return await self.store.photos(message.chat_id, message.media_group_id)

    async def forget(self, chat_id: int) -> int:
        """Delete the chat's album lists."""
        return await self.store.forget(chat_id)

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> int:
        return await self.store.migrate(old_chat_id, new_chat_id)
