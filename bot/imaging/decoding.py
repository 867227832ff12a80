"""ImageDecoder: photos decoded on threads of their own, once per file, commands ahead of indexing."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from bot.imaging.decode import decode_for_embedding, decode_image, shrink_for_embedding

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

Source = bytes | Callable[[], Awaitable[bytes]]  # the file, or how to download it (only when needed)
# (chat id, file_unique_id): only readers of the same file in the same chat share a decode, so not even a
# forged update naming another chat's file gets that chat's pixels without downloading its own copy.
Key = tuple[int, str]

# A user waits on each command's photo: a few at once. Indexing decodes one photo at a time on a thread
# of lower priority, so a flood of heavy files posted without a command queues behind itself, never in
# front of anyone's /caption (they used to share asyncio's default pool with every other to_thread call).
COMMAND_THREADS = 2
BACKGROUND_THREADS = 1
# The command and the indexing of one message read the same file: its decoded image is kept this long
# (and at most this many), so the second reader shares the first's download and decode.
KEEP_S = 30.0
KEEP_MAX = 8

COMMAND, EMBEDDING, DOWNLOAD = "command", "embedding", "download"


class ImageDecoder:
    """Downloads and decodes photos off the event loop within bot.imaging.decode' caps; one file, one decode."""

    def __init__(
        self, max_pixels: int, *, threads: int = COMMAND_THREADS, background_threads: int = BACKGROUND_THREADS
    ) -> None:
        self.max_pixels = max_pixels
        self._commands = ThreadPoolExecutor(threads, thread_name_prefix="decode")
        self._background = ThreadPoolExecutor(
            background_threads, thread_name_prefix="decode-background", initializer=_lower_priority
        )
        # What readers of a file share: its download (whichever reader comes first starts it) and its decodes.
        self._recent: OrderedDict[tuple[Key, str], asyncio.Future[Any]] = OrderedDict()
        self.decodes = 0  # how many files were decoded (for tests and /stats-like checks)

    async def for_command(self, key: Key | None, source: Source) -> Image:
        """The photo for a command: RGB, at most bot.imaging.decode.COMMAND_MAX_SIDE a side.

        `key` shares the result with other readers of the same file in the same chat; None shares nothing.
        Raises BadImage with the reason for the user.
        """
        return await self._shared((key, COMMAND), lambda: self._decode(key, source, decode_image, self._commands))

    async def for_embedding(self, key: Key | None, source: Source) -> Image:
        """The photo as indexing and search embed it (bot.imaging.decode.shrink_for_embedding): taken from the
        command's decode of the same file when there is one, else decoded small on the background thread
        (from the same download as the command's, when both read the file)."""
        shared = self._recent.get((key, COMMAND)) if key is not None else None
        if shared is not None:
            image = await asyncio.shield(shared)
            return await self._run(self._background, shrink_for_embedding, image)
        return await self._shared(
            (key, EMBEDDING), lambda: self._decode(key, source, decode_for_embedding, self._background)
        )

    def close(self) -> None:
        self._commands.shutdown(wait=False, cancel_futures=True)
        self._background.shutdown(wait=False, cancel_futures=True)

    async def _shared(self, shared: tuple[Key | None, str], make: Callable[[], Awaitable[Any]]) -> Any:
        key, what = shared
        if key is None:
            return await make()
        slot = (key, what)
        future = self._recent.get(slot)
        if future is None:
            future = asyncio.ensure_future(make())
            self._recent[slot] = future
            future.add_done_callback(lambda f: self._keep(slot, f))
        # Shielded: one reader giving up (a /cancel) doesn't cancel the decode another reader waits for.
        return await asyncio.shield(future)

    def _keep(self, slot: tuple[Key, str], future: asyncio.Future[Any]) -> None:
        if not future.cancelled():
            future.exception()  # retrieved here: a reader that gave up must not leave it "never retrieved"
        asyncio.get_running_loop().call_later(KEEP_S, self._forget, slot, future)
        done = [s for s, f in self._recent.items() if f.done()]
        for old in done[: max(0, len(done) - KEEP_MAX)]:
            del self._recent[old]

    def _forget(self, slot: tuple[Key, str], future: asyncio.Future[Any]) -> None:
        if self._recent.get(slot) is future:
            del self._recent[slot]

    async def _decode(
        self, key: Key | None, source: Source, decode: Callable[[bytes, int], Image], pool: ThreadPoolExecutor
    ) -> Image:
        if isinstance(source, bytes):
            data = source
        else:  # one download per file, even when indexing gets to it before the command does
            download = source
            data = await self._shared((key, DOWNLOAD), lambda: download())
        self.decodes += 1
        return await self._run(pool, decode, data, self.max_pixels)

    @staticmethod
    async def _run(pool: ThreadPoolExecutor, func: Callable, *args) -> Image:
        return await asyncio.get_running_loop().run_in_executor(pool, func, *args)


def _lower_priority() -> None:
    """Run this (indexing) thread at a lower CPU priority than the rest of the bot, where the OS allows."""
    try:
        thread = threading.get_native_id()  # Linux: a thread's own priority
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + 10))
    except (AttributeError, OSError) as exc:  # pragma: no cover - other systems
        log.debug("indexing decodes keep the normal priority: %s", exc)
