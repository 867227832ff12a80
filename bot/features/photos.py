"""ChatPhotos: the bot's memory of each chat's photos, indexed as they are seen and searched on request.

Indexing runs beside the conversation, never in its way: `index_message()` only notes the photo; a few
worker tasks download it, shrink it and hand it to the GpuQueue's background lane, where photos that
arrive together share one forward pass; the vector is then stored in the chat's own collection of the
PhotoIndex. Nothing about indexing is ever said to the chat.

An album reaches the bot as one message per photo with a shared `media_group_id`, often spread over a
second or so: its photos are gathered until no more arrive (or all ten have), downloaded together and
embedded in one batch (up to the embedding task's batch size), and stored with one write.

With a PendingPhotos store, a noted photo is also written to disk (`note()`) until it is indexed, and the
ones a kill or a stop left behind are indexed after the start.

A flood of photos in one chat is bounded: at most CHAT_PENDING_MAX of a chat's photos wait in memory (so
another chat's photo never queues behind more than that many of the flood's, and memory doesn't grow with
it); the chat's further photos wait only on disk, in the backlog, and are taken up CHAT_PENDING_MAX at a time
once the flood is over (no photo past the bound for DEFERRED_QUIET_S) and the chat's earlier ones are
indexed. They are kept, not dropped, because every photo of a chat is meant to be searchable, a large
legitimate upload too; the backlog's own per-chat bound (bot.stores.pending_photos) is where a flood stops
being recorded (logged). Without a backlog, photos past the bound are dropped with a log line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cachetools import TTLCache

from bot import texts
from bot.errors import BadImage, BotError, ModelUnavailable, ReindexNeeded
from bot.i18n import Lang, language_of_message
from bot.imaging.decoding import ImageDecoder
from bot.messaging.media import download_file, photo_in
from bot.queue.jobs import Job, Lane
from bot.stores.photo_index import Match, ModelSpec, PhotoIndex, PhotoRecord, canonical_model_id
from contract.requests import Embedding, EmbedImageRequest

if TYPE_CHECKING:
    from PIL.Image import Image
    from telegram import Bot, Message

    from bot.messaging.media import PhotoRef
    from bot.queue.gpu_queue import GpuQueue
    from bot.settings import Settings
    from bot.stores.pending_photos import PendingPhotos

log = logging.getLogger(__name__)

BACKLOG = 10_000  # photos noted but not yet indexed; past this, new ones are dropped (and logged)
MIGRATE_WAIT_S = 60.0  # a group's photos still being indexed when it becomes a supergroup move along
MODEL_DOWN_PAUSE_S = 60.0  # after "the CLIP model can't be loaded", don't download photos for it a while
ALBUM_QUIET_S = 1.0  # an album is complete once no part of it arrived for this long...
ALBUM_MAX = 10  # ...or once it has as many photos as Telegram allows in one
NOTE_WAIT_S = 0.5  # how long noting a photo on disk may hold up the update that brought it
CHAT_PENDING_MAX = 32  # a chat's photos waiting in memory for indexing; more wait on disk (see above)
DEFERRED_QUIET_S = 30.0  # a chat's photos left on disk are taken up once none was left there for this long


def _log_failed_note(write: asyncio.Future[None]) -> None:
    if not write.cancelled() and write.exception() is not None:
        log.warning("a photo was not journaled: %s", write.exception())


class PhotoListener(Protocol):
    """Told about each photo indexing sees (bot.features.reposts.RepostWatcher); its failures are logged."""

    async def indexed(
        self, record: PhotoRecord, image: Image, vector: Sequence[float], spec: ModelSpec, lang: Lang
    ) -> None:
        """A photo new to its chat's index: the image shrunk for embedding, its vector."""

    async def seen_again(self, record: PhotoRecord, lang: Lang) -> None:
        """A photo its chat has already indexed (the same file_unique_id), in a new message."""


@dataclass(frozen=True)
class _Pending:
    record: PhotoRecord
    file_size: int | None
    epoch: int


def photo_record(message: Message) -> tuple[PhotoRecord, int | None] | None:
    """The index record for the photo (largest size) or image file in `message`, with its file size."""
    photo = photo_in(message)
    if photo is None:
        return None
    if message.photo:  # Telegram lists sizes small to large; take the largest whatever the order
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        file_id, key, size = largest.file_id, largest.file_unique_id, largest.file_size
    else:
        file_id, key, size = photo.file_id, photo.file_unique_id, photo.file_size
    if message.from_user is not None:
        sender_id, sender = message.from_user.id, message.from_user.full_name
        username = message.from_user.username or ""
    elif message.sender_chat is not None:
        sender_id, sender = message.sender_chat.id, message.sender_chat.title or ""
        username = message.sender_chat.username or ""
    else:
        sender_id, sender, username = 0, "", ""
    record = PhotoRecord(
        key=key,
        chat_id=message.chat_id,
        file_id=file_id,
        kind=photo.kind,
        message_id=message.message_id,
        sender_id=sender_id,
        sender=sender,
        username=username.lower(),
        date=int(message.date.timestamp()),
        caption=message.caption or "",
    )
    return record, size


class ChatPhotos:
    """Indexes every photo the bot sees or sends, per chat, and searches one chat's photos."""

    what = texts.INDEXED_PHOTOS  # as a ChatStore: what /forget deletes

    def __init__(
        self,
        index: PhotoIndex,
        queue: GpuQueue,
        settings: Settings,
        *,
        workers: int | None = None,
        decoder: ImageDecoder | None = None,
        pending: PendingPhotos | None = None,
    ) -> None:
        self.index = index
        self.backlog = pending  # the photos not yet indexed, on disk
        self._queue = queue
        self.max_pixels = settings.max_image_pixels
        self.decoder = decoder or ImageDecoder(settings.max_image_pixels)
        self.model_id = canonical_model_id(settings.clip_model)
        self.spec: ModelSpec | None = None  # the current model's spec, once its vector size is known
        # Enough downloads in flight to fill two batches: one runs while the next gathers.
        self._workers_count = workers or 2 * settings.max_batch_size
        self._pending: asyncio.Queue[list[_Pending]] = asyncio.Queue(BACKLOG)  # one photo, or an album's
        self._albums: dict[tuple[int, str], list[_Pending]] = {}  # (chat, media_group_id) -> parts so far
        self._album_timers: dict[tuple[int, str], asyncio.TimerHandle] = {}
        self._dropping: set[asyncio.Task[None]] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._bot: Bot | None = None
        self._epochs: dict[int, int] = {}
        self._in_flight: dict[int, int] = {}
        self._keys_in_flight: set[tuple[int, str]] = set()
        self._settled = asyncio.Condition()
        self._writes = asyncio.Lock()  # an add never lands after a /forget that came before it
        # Set while the CLIP model can't be loaded: photos aren't downloaded for it meanwhile.
        self._model_down: TTLCache[str, bool] = TTLCache(maxsize=1, ttl=MODEL_DOWN_PAUSE_S, timer=time.monotonic)
        self.indexed = 0
        # Chats with photos waiting only on disk (past CHAT_PENDING_MAX), and how far each has been taken up.
        self._deferred: set[int] = set()
        self._deferred_timers: dict[int, asyncio.TimerHandle] = {}
        self._taken_up_to: dict[int, float] = {}  # chat -> `created` of the last backlog row taken up
        self._refills: dict[int, asyncio.Task[None]] = {}
        self.deferred = 0  # photos left on disk for later (counted, for tests and /stats-like checks)
        self.listeners: list[PhotoListener] = []
        self._langs: dict[tuple[int, str], Lang] = {}  # (chat, key) -> the sender's language, while in flight

    async def start(self, bot: Bot) -> None:
        """Open the index (a failure is logged; /find then says search is unavailable) and start indexing."""
        self._bot = bot
        try:
            await asyncio.to_thread(self.index.open)
            self._learn_spec(await asyncio.to_thread(self.index.generations))
        except BotError as exc:
            log.error("photo indexing and /find are unavailable until the index can be opened: %s", exc)
        self._workers = [
            asyncio.create_task(self._work(), name=f"photo-indexer-{i}") for i in range(self._workers_count)
        ]
        if self.backlog is not None:
            left = await self.backlog.all()
            for record, size in left:
                self._note(record, size, None, on_disk=True, quiet=False)
            if left:
                log.info("indexing %d photo(s) left over from before the restart", len(left))

    async def close(self) -> None:
        for timer in [*self._album_timers.values(), *self._deferred_timers.values()]:
            timer.cancel()
        for task in [*self._workers, *self._refills.values()]:
            task.cancel()
        await asyncio.gather(*self._workers, *self._refills.values(), return_exceptions=True)
        await asyncio.to_thread(self.index.close)

    def _learn_spec(self, generations: Sequence) -> None:
        """After a restart, the current model's vector size is known from its collections (for dedupe)."""
        dims = {g.spec.dim for g in generations if g.spec.model == self.model_id}
        if self.spec is None and len(dims) == 1:
            self.spec = ModelSpec(self.model_id, dims.pop())

    def _spec_of(self, embedding: Embedding) -> ModelSpec:
        spec = ModelSpec(canonical_model_id(embedding.model), embedding.dim)
        self.spec = spec
        return spec

    # -- indexing -----------------------------------------------------------------------------

    def index_message(self, message: Message) -> bool:
        """Remember the photo in `message` for /find in its chat; returns whether there was one to index.

        Call it for every photo message the bot receives and every one it sends (generated or returned
        images: pass the Message that send_photo / send_media_group gave back). It returns at once;
        the photo is downloaded and embedded in the background, once per chat (by file_unique_id).
        """
        found = photo_record(message)
        if found is None:
            return False
        self._langs.setdefault((found[0].chat_id, found[0].key), language_of_message(message))
        noted = self._note(*found, message.media_group_id, on_disk=False)
        if not noted:
            self._langs.pop((found[0].chat_id, found[0].key), None)
        return noted

    async def note(self, message: Message) -> bool:
        """`index_message()`, with the photo also written to the backlog on disk, so no kill loses it."""
        found = photo_record(message)
        if found is None:
            return False
        record, size = found
        new = (record.chat_id, record.key) not in self._keys_in_flight
        self._langs.setdefault((record.chat_id, record.key), language_of_message(message))
        # In memory first, so a /find that came with it already waits for it; the row is written next,
        # long before a download and a forward pass end and delete it.
        noted = self._note(record, size, message.media_group_id, on_disk=self.backlog is not None)
        if not noted:
            self._langs.pop((record.chat_id, record.key), None)
        if noted and new and self.backlog is not None:
            write = asyncio.ensure_future(self.backlog.add(record, size))
            try:  # a locked file must not hold up the updates behind this one: the write goes on meanwhile
                await asyncio.wait_for(asyncio.shield(write), NOTE_WAIT_S)
            except TimeoutError:
                write.add_done_callback(_log_failed_note)
            except Exception as exc:  # the disk is busy: indexed anyway, only not crash-safely
                log.warning("photo %s of chat %s not journaled: %s", record.key, record.chat_id, exc)
        return noted

    def _note(
        self, record: PhotoRecord, size: int | None, media_group_id: str | None, *, on_disk: bool, quiet: bool = True
    ) -> bool:
        """Queue the photo for indexing; past the chat's CHAT_PENDING_MAX, leave it on disk for later
        (`on_disk`: it is, or is being, written to the backlog), or drop it. With `quiet`, the chat's photos
        on disk are taken up only after DEFERRED_QUIET_S without another one past the bound (a flood)."""
        slot = (record.chat_id, record.key)
        if slot in self._keys_in_flight:
            return True
        if self._in_flight.get(record.chat_id, 0) >= CHAT_PENDING_MAX:
            return self._defer(record, on_disk, quiet)
        pending = _Pending(record, size, self._epochs.get(record.chat_id, 0))
        if media_group_id:
            album = (record.chat_id, media_group_id)
            parts = self._albums.setdefault(album, [])
            parts.append(pending)
            timer = self._album_timers.pop(album, None)
            if timer is not None:
                timer.cancel()
            if len(parts) >= ALBUM_MAX:
                self._album_complete(album)
            else:
                self._album_timers[album] = asyncio.get_running_loop().call_later(
                    ALBUM_QUIET_S, self._album_complete, album
                )
        elif not self._enqueue([pending]):
            return False
        self._keys_in_flight.add(slot)
        self._in_flight[record.chat_id] = self._in_flight.get(record.chat_id, 0) + 1
        return True

    def _defer(self, record: PhotoRecord, on_disk: bool, quiet: bool) -> bool:
        chat_id = record.chat_id
        if not on_disk:
            log.warning(
                "chat %s has %d photos waiting to be indexed: photo %s not indexed",
                chat_id,
                self._in_flight.get(chat_id, 0),
                record.key,
            )
            return False
        log.debug("photo %s of chat %s waits on disk: the chat has enough being indexed", record.key, chat_id)
        self.deferred += 1
        self._deferred.add(chat_id)
        if quiet:  # a flood: take its photos up once it is over
            timer = self._deferred_timers.pop(chat_id, None)
            if timer is not None:
                timer.cancel()
            loop = asyncio.get_running_loop()
            self._deferred_timers[chat_id] = loop.call_later(DEFERRED_QUIET_S, self._quiet, chat_id)
        return True

    def _quiet(self, chat_id: int) -> None:
        self._deferred_timers.pop(chat_id, None)
        if not self._in_flight.get(chat_id):  # else once they are indexed (`_finished`)
            self._refill(chat_id)

    def _refill(self, chat_id: int) -> None:
        """Take up the chat's next photos waiting on disk (a task: reading the backlog is a disk read)."""
        if chat_id in self._refills or chat_id not in self._deferred or chat_id in self._deferred_timers:
            return
        task = asyncio.get_running_loop().create_task(self._take_up(chat_id), name=f"photo-backlog-{chat_id}")
        self._refills[chat_id] = task
        task.add_done_callback(lambda _: self._refills.pop(chat_id, None))

    async def _take_up(self, chat_id: int) -> None:
        assert self.backlog is not None
        limit = 2 * CHAT_PENDING_MAX
        try:
            rows = await self.backlog.of_chat(chat_id, self._taken_up_to.get(chat_id, 0.0), limit)
        except Exception as exc:  # taken up again once the chat's next photos are indexed, or after a restart
            log.warning("photos of chat %s waiting on disk not taken up: %s", chat_id, exc)
            return
        for record, size, created in rows:
            if record.chat_id != chat_id or chat_id not in self._deferred:
                return  # forgotten meanwhile
            if (chat_id, record.key) not in self._keys_in_flight:
                if self._in_flight.get(chat_id, 0) >= CHAT_PENDING_MAX:
                    return  # the rest when these are indexed
                self._note(record, size, None, on_disk=True, quiet=False)
            self._taken_up_to[chat_id] = created
        if len(rows) < limit:
            self._deferred.discard(chat_id)

    def _drop_deferred(self, chat_id: int) -> None:
        """The chat's backlog is gone (/forget, a move to a supergroup): nothing of it is left to take up."""
        self._deferred.discard(chat_id)
        self._taken_up_to.pop(chat_id, None)
        timer = self._deferred_timers.pop(chat_id, None)
        if timer is not None:
            timer.cancel()

    def _enqueue(self, group: list[_Pending]) -> bool:
        try:
            self._pending.put_nowait(group)
        except asyncio.QueueFull:
            for pending in group:
                log.warning(
                    "indexing backlog full: photo %s of chat %s not indexed", pending.record.key, pending.record.chat_id
                )
            return False
        return True

    def _album_complete(self, album: tuple[int, str]) -> None:
        self._album_timers.pop(album, None)
        parts = self._albums.pop(album, [])
        if parts and not self._enqueue(parts):
            # Noted as in flight when they arrived: no longer (a task holds itself in _dropping till done).
            task = asyncio.get_running_loop().create_task(self._finish_all(parts))
            self._dropping.add(task)
            task.add_done_callback(self._dropping.discard)

    async def _finish_all(self, group: list[_Pending]) -> None:
        for pending in group:
            await self._finished(pending.record)

    def being_indexed(self, chat_id: int) -> int:
        """How many of the chat's photos are noted but not yet indexed."""
        return self._in_flight.get(chat_id, 0)

    async def wait_indexed(self, chat_id: int, timeout: float) -> bool:
        """Wait (up to `timeout` s) until the chat's photos noted so far are indexed; False on timeout."""
        async with self._settled:
            try:
                await asyncio.wait_for(self._settled.wait_for(lambda: not self._in_flight.get(chat_id)), timeout)
            except TimeoutError:
                return False
        return True

    async def _work(self) -> None:
        while True:
            group = await self._pending.get()
            retry: set[str] = set()
            try:
                retry = await self._index(group)
            except asyncio.CancelledError:
                raise  # stopping: the backlog on disk keeps them for the next start
            except Exception:
                log.exception(
                    "indexing photos %s of chat %s failed",
                    ", ".join(p.record.key for p in group),
                    group[0].record.chat_id,
                )
            finally:
                await self._finish_all(group)
            settled = [p.record.key for p in group if p.record.key not in retry]
            if self.backlog is not None and settled:
                try:
                    await self.backlog.remove(group[0].record.chat_id, settled)
                except Exception as exc:  # indexed again after a restart: harmless
                    log.warning("could not clear indexed photos from the backlog: %s", exc)

    async def _finished(self, record: PhotoRecord) -> None:
        self._keys_in_flight.discard((record.chat_id, record.key))
        self._langs.pop((record.chat_id, record.key), None)
        left = self._in_flight.get(record.chat_id, 1) - 1
        if left > 0:
            self._in_flight[record.chat_id] = left
        else:
            self._in_flight.pop(record.chat_id, None)
            if record.chat_id in self._deferred:
                self._refill(record.chat_id)
        async with self._settled:
            self._settled.notify_all()

    def _wanted(self, pending: _Pending) -> bool:
        return self._epochs.get(pending.record.chat_id, 0) == pending.epoch

    async def _index(self, group: list[_Pending]) -> set[str]:
        """Index one photo, or an album's photos together: downloaded at once, embedded in one batch.

        Returns the keys that may be indexed later (the model or the index was unavailable)."""
        chat_id = group[0].record.chat_id
        retry: set[str] = set()
        if "clip" in self._model_down:
            log.debug(
                "photos %s of chat %s not indexed: the CLIP model is unavailable",
                ", ".join(p.record.key for p in group),
                chat_id,
            )
            return {p.record.key for p in group}
        images = await asyncio.gather(*(self._prepare(pending, retry) for pending in group))
        ready = [(pending, image) for pending, image in zip(group, images, strict=False) if image is not None]
        # Submitted together, so the background lane runs them as one batch.
        results = await asyncio.gather(
            *(self.embed(image, chat_id, pending.record.sender_id) for pending, image in ready), return_exceptions=True
        )
        embedded: list[tuple[_Pending, Embedding]] = []
        for (pending, _), result in zip(ready, results, strict=False):
            if isinstance(result, BotError):  # model or queue unavailable: logged, never told to the chat
                log.warning("photo %s of chat %s not indexed: %s", pending.record.key, chat_id, result)
                retry.add(pending.record.key)
                if isinstance(result, ModelUnavailable):
                    self._model_down["clip"] = True
            elif isinstance(result, BaseException):
                raise result
            else:
                embedded.append((pending, result))
        if not embedded:
            return retry
        spec = self._spec_of(embedded[0][1])
        try:
            async with self._writes:
                # The chat may have been forgotten (or moved) while its photos were being embedded.
                kept = [(pending, embedding) for pending, embedding in embedded if self._wanted(pending)]
                if not kept:
                    return retry
                new = await asyncio.to_thread(
                    self.index.add, chat_id, spec, [p.record for p, _ in kept], [e.vector for _, e in kept]
                )
        except BotError as exc:  # the index can't be reached
            log.warning(
                "photos %s of chat %s not indexed: %s", ", ".join(p.record.key for p, _ in embedded), chat_id, exc
            )
            return retry | {p.record.key for p, _ in embedded}
        self.indexed += new
        for pending, _ in kept:
            log.info("indexed photo %s of chat %s%s", pending.record.key, chat_id, "" if new else " (again)")
        if self.listeners:
            shrunk = {id(pending): image for pending, image in ready}
            for pending, embedding in kept:
                await self._tell(
                    "indexed",
                    pending.record,
                    shrunk[id(pending)],
                    embedding.vector,
                    spec,
                    self._lang_of(pending.record),
                )
        return retry

    def _lang_of(self, record: PhotoRecord) -> Lang:
        return self._langs.get((record.chat_id, record.key), "en")

    async def _tell(self, event: str, record: PhotoRecord, *args: Any) -> None:
        for listener in self.listeners:
            try:
                await getattr(listener, event)(record, *args)
            except Exception:  # a listener's failure never costs the photo its place in the index
                log.exception("%s of photo %s of chat %s failed in %s", event, record.key, record.chat_id, listener)

    async def _prepare(self, pending: _Pending, retry: set[str]) -> Image | None:
        """The photo downloaded and shrunk for embedding; None when it needn't or can't be indexed (its key
        added to `retry` when it may be later)."""
        record = pending.record
        if not self._wanted(pending):
            return None
        try:
            spec = self.spec
            known: set[str] = set()
            if spec is not None:
                known = await asyncio.to_thread(self.index.existing, record.chat_id, spec, [record.key])
            if known:
                log.debug("photo %s of chat %s is already indexed", record.key, record.chat_id)
                await self._tell("seen_again", record, self._lang_of(record))
                return None
            assert self._bot is not None
            bot = self._bot
            return await self.decoder.for_embedding(
                (record.chat_id, record.key), lambda: download_file(bot, record.file_id, pending.file_size)
            )
        except BadImage as exc:
            log.info("photo %s of chat %s not indexed: %s", record.key, record.chat_id, exc)
        except BotError as exc:  # the index can't be reached
            log.warning("photo %s of chat %s not indexed: %s", record.key, record.chat_id, exc)
            retry.add(record.key)
        return None

    async def embed(self, image: Image, chat_id: int, user_id: int) -> Embedding:
        """The image's embedding from the background lane (indexing: never counts against a user's cap)."""
        job = Job(EmbedImageRequest(image), user_id=user_id or chat_id, chat_id=chat_id, lane=Lane.BACKGROUND)
        result = await self._queue.submit(job).result()
        assert isinstance(result, Embedding)
        return result

    # -- searching ----------------------------------------------------------------------------

    async def check_searchable(self, chat_id: int) -> bool:
        """Before spending a forward pass on a query: False when the chat has no photos yet.

        Raises ReindexNeeded when its photos were embedded by another model, IndexUnavailable when the
        index can't be reached.
        """
        generations = await asyncio.to_thread(self.index.generations, chat_id)
        if not generations and self.index.chroma_url:
            # Another process (an import) may have added some to the server: ask it, not our cache.
            generations = await asyncio.to_thread(self.index.generations, chat_id, fresh=True)
        stale = [g for g in generations if g.spec.model != self.model_id or (self.spec and g.spec != self.spec)]
        if stale:
            raise ReindexNeeded(f"chat {chat_id} has photos indexed with {stale[0].spec}, not {self.model_id}")
        return bool(generations)

    async def search(
        self,
        chat_id: int,
        query: Embedding,
        k: int,
        exclude: Sequence[str] = (),
        where: dict[str, Any] | None = None,
    ) -> list[Match]:
        """The chat's `k` photos most similar to `query`, best first (only ever this chat's), among those
        matching `where` (who sent them, when: bot.features.find_filters)."""
        return await asyncio.to_thread(self.index.query, chat_id, self._spec_of(query), query.vector, k, exclude, where)

    async def newest(self, chat_id: int, k: int, where: dict[str, Any] | None) -> list[Match]:
        """The chat's `k` newest photos matching `where` (a /find with filters and no words)."""
        spec = self.spec
        if spec is None:
            generations = await asyncio.to_thread(self.index.generations, chat_id)
            current = [g.spec for g in generations if g.spec.model == self.model_id]
            if not current:
                return []
            spec = current[0]
        return await asyncio.to_thread(self.index.newest, chat_id, spec, k, where)

    async def stored_embedding(self, chat_id: int, key: str) -> Embedding | None:
        """The embedding this chat already has for one of its photos (saves a download and a forward pass)."""
        if self.spec is None:
            return None
        vector = await asyncio.to_thread(self.index.vector_of, chat_id, self.spec, key)
        return Embedding(vector, self.spec.model) if vector is not None else None

    async def example_image(self, photo: PhotoRef) -> Image:
        """An example photo for image-to-image search, downloaded and shrunk exactly as indexed photos are."""
        bot = self._bot
        assert bot is not None
        return await self.decoder.for_embedding(
            (photo.message.chat_id, photo.file_unique_id), lambda: download_file(bot, photo.file_id, photo.file_size)
        )

    async def remember_file_id(self, record: PhotoRecord, file_id: str) -> None:
        """An imported photo was sent for the first time: re-send it by this file_id from now on."""
        if self.spec is not None:
            await asyncio.to_thread(self.index.set_file_id, record.chat_id, self.spec, record.key, file_id)

    # -- forgetting ---------------------------------------------------------------------------

    async def forget(self, chat_id: int) -> int:
        """Delete the chat's photo index, including photos still being indexed; returns how many it had."""
        async with self._writes:
            self._epochs[chat_id] = self._epochs.get(chat_id, 0) + 1
            self._drop_deferred(chat_id)
            if self.backlog is not None:
                await self.backlog.forget(chat_id)
            return await asyncio.to_thread(self.index.forget, chat_id)

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> int:
        """The group became a supergroup with a new id: move its photos there, the ones in flight too."""
        await self.wait_indexed(old_chat_id, MIGRATE_WAIT_S)
        async with self._writes:
            self._epochs[old_chat_id] = self._epochs.get(old_chat_id, 0) + 1
            if old_chat_id in self._deferred:  # a flood just before the move: those photos stay unindexed
                log.warning("chat %s moved with photos still waiting on disk; they are not indexed", old_chat_id)
            self._drop_deferred(old_chat_id)
            if self.backlog is not None:
                await self.backlog.forget(old_chat_id)
            return await asyncio.to_thread(self.index.migrate, old_chat_id, new_chat_id)
