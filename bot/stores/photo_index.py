"""PhotoIndex: each chat's photos as CLIP vectors in chromadb, one collection per chat and model.

Isolation is structural: a chat's photos live in collections named after that chat, and every read
takes a chat id and opens only that chat's collection, so no query can reach another chat's photos
(each record also carries its chat id, checked on the way out as a second line of defence).

Model safety: a collection is named after the chat *and* the embedding model (its id and vector
size), and records that model in its metadata. A change of CLIP_MODEL therefore starts new collections
instead of mixing vectors; while a chat still has collections of another model, searching it raises
ReindexNeeded until `python -m bot reindex` has re-embedded them.

Only embeddings go to chromadb, never documents (with documents it tries to download a model).
Everything here is synchronous and thread-safe; the bot calls it from worker threads.

Bounded cost per chat count: the embedded chromadb (1.5.9) keeps every collection it has touched loaded,
with ~4 open files and ~2.6 MB (768-d) each, in a cache sized from the process's file limit (a fifth of
it, split in 64 shards), and its eviction from that cache is broken: a collection loaded again after an
eviction may fail with "Nothing found on disk" until the process restarts. (chromadb's
`chroma_segment_cache_policy` setting only applies to its old Python segment manager, not to the Rust
bindings.) So PhotoIndex makes chromadb's cache too large to ever evict, and bounds the loaded
collections itself: once `max_open` have been touched it closes the client, which closes all their files
and frees their memory, and reopens it (~20 ms); a chat's next search loads its collection from disk
again. New collections save their vector index every SYNC_THRESHOLD photos (chromadb's default is 1000),
so such a load replays at most that many photos from chromadb's log (~0.3 ms each). A Chroma server keeps
its own resources; with one, only the collection handles kept here are bounded.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cachetools import TTLCache

from bot.errors import BotError, IndexUnavailable, ReindexNeeded
from bot.stores.photo_texts import PhotoTexts

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "photos_"
_NAME = re.compile(r"^photos_(-?\d+)_([0-9a-f]{12})$")
SCHEMA = 1
PAGE = 1000
ERROR_LOG_INTERVAL_S = 60.0
MAX_OPEN = 64  # collections loaded at once (embedded store); fewer under a low file limit
SYNC_THRESHOLD = 100  # photos between two saves of a collection's vector index to disk (embedded store)
CHROMA_CACHE_SIZE = 65_536  # chromadb's own cache of loaded collections: never full, as MAX_OPEN bounds it


def canonical_model_id(source: str) -> str:
    """The id a model is recorded under: a local directory as its absolute path, a hub id as given."""
    path = Path(source).expanduser()
    return str(path.resolve()) if path.is_dir() else source.strip()


@dataclass(frozen=True)
class ModelSpec:
    """The embedding model behind a collection: vectors of different specs are never compared."""

    model: str
    dim: int

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.model}\n{self.dim}".encode()).hexdigest()[:12]

    def __str__(self) -> str:
        return f"{self.model} ({self.dim}-d)"


@dataclass(frozen=True)
class Generation:
    """One chat's photos embedded by one model: a chromadb collection."""

    chat_id: int
    spec: ModelSpec
    name: str


@dataclass(frozen=True)
class PhotoRecord:
    """One indexed photo of a chat, keyed by Telegram's file_unique_id (or `sha256:...` for imports)."""

    key: str
    chat_id: int
    file_id: str = ""  # empty for an imported file until it is first sent
    kind: str = "photo"  # "photo" or "document" (an image sent as a file): how to re-send it
    message_id: int = 0  # 0 when there is no message (imported)
    sender_id: int = 0
    sender: str = ""
    username: str = ""  # the sender's @username, lower-case; kept in chromadb only as username_hash()
    date: int = 0  # unix time the photo was sent (or the file's mtime)
    caption: str = ""
    path: str = ""  # the imported file
    sha256: str = ""  # the imported file's content hash

    def metadata(self) -> dict[str, Any]:
        """What chromadb keeps: everything but the texts people wrote (see bot.stores.photo_texts)."""
        meta = asdict(self)
        del meta["key"]
        meta["caption"] = meta["sender"] = ""
        username = meta.pop("username")
        if username:
            meta["username_hash"] = username_hash(username)
        return meta

    @classmethod
    def from_metadata(cls, key: str, meta: dict[str, Any]) -> PhotoRecord:
        fields = {name: meta[name] for name in cls.__dataclass_fields__ if name in meta and name != "key"}
        return cls(key=key, **fields)


@dataclass(frozen=True)
class Match:
    """A search result: the photo and its similarity to the query (cosine, -1..1; None when listed by date)."""

    record: PhotoRecord
    score: float | None


def username_hash(username: str) -> str:
    """How a sender's @username is kept in a chat's collection (for `/find from:@name`): a hash, not the name.

    chromadb keeps deleted metadata in its SQLite file (see bot.stores.photo_texts), so a plain username
    there would outlive /forget. The same for every chat, so a group's photos keep it when it migrates.
    """
    return hashlib.sha256(f"clipbot-username\n{username.lower().lstrip('@')}".encode()).hexdigest()[:16]


def collection_name(chat_id: int, spec: ModelSpec) -> str:
    return f"{PREFIX}{chat_id}_{spec.key}"


def default_max_open() -> int:
    """MAX_OPEN, or fewer so that open collections hold at most a quarter of the file limit (~4 files each)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return MAX_OPEN
    if soft == resource.RLIM_INFINITY:
        return MAX_OPEN
    return max(4, min(MAX_OPEN, soft // 16))


class PhotoIndex:
    """Every chat's photo vectors: an embedded chromadb under DATA_DIR, or a Chroma server (CHROMA_URL)."""

    def __init__(self, data_dir: Path, chroma_url: str = "", *, max_open: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.chroma_url = chroma_url.strip()
        self.max_open = max_open or default_max_open()
        self._lock = threading.RLock()
        self._client: Any = None
        self._lock_file: Any = None
        self._handles: dict[str, Any] = {}
        self._touched: set[str] = set()  # collections used since the client was opened
        self._depth = 0  # nesting of _store(): the client is only reopened between operations
        self._generations: dict[int, dict[str, Generation]] | None = None
        # Set after an error is logged: while the store stays down, one line a minute is enough.
        self._reported: TTLCache[str, bool] = TTLCache(maxsize=1, ttl=ERROR_LOG_INTERVAL_S, timer=time.monotonic)
        self.texts = PhotoTexts(self.data_dir / "bot.sqlite3")  # captions and names, never in chromadb

    @classmethod
    def from_settings(cls, settings: Settings) -> PhotoIndex:
        return cls(settings.data_dir, settings.chroma_url)

    # -- connection ---------------------------------------------------------------------------

    def describe(self) -> str:
        return f"Chroma server at {self.chroma_url}" if self.chroma_url else f"{self.data_dir / 'chroma'}"

    def open(self) -> None:
        """Connect (idempotent). The embedded store is locked to this process: chromadb isn't process-safe."""
        with self._lock:
            if self._client is not None:
                return
            try:
                self._client = self._connect()
            except BotError:
                raise
            except Exception as exc:
                quiet = "open" in self._reported
                if not quiet:
                    self._reported["open"] = True
                log.log(
                    logging.DEBUG if quiet else logging.ERROR,
                    "the photo index (%s) can't be opened: %s",
                    self.describe(),
                    exc,
                )
                raise IndexUnavailable(f"photo index unavailable: {exc}") from None
            log.info("photo index: %s", self.describe())

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.chroma_url:
            url = urlsplit(self.chroma_url if "://" in self.chroma_url else f"http://{self.chroma_url}")
            ssl = url.scheme == "https"
            client = chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if ssl else 8000),
                ssl=ssl,
                settings=chroma_settings,
            )
            client.heartbeat()
            return client
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            return self._embedded_client()
        except BaseException:
            self._release_lock()
            raise

    def _embedded_client(self) -> Any:
        """chromadb.PersistentClient, except that chromadb's own cache of loaded collections never evicts."""
        from chromadb.api import ServerAPI
        from chromadb.api.client import Client
        from chromadb.config import Settings as ChromaSettings
        from chromadb.config import System

        system = System(
            ChromaSettings(
                anonymized_telemetry=False, is_persistent=True, persist_directory=str(self.data_dir / "chroma")
            )
        )
        api = system.instance(ServerAPI)  # type: ignore[type-abstract]  # the configured implementation
        # The Rust bindings size their cache from the file limit and split it in 64 shards: under a limit of
        # 1024 a shard holds 3 collections, so even a few dozen loaded ones get evicted (and then fail).
        if hasattr(api, "hnsw_cache_size"):
            api.hnsw_cache_size = CHROMA_CACHE_SIZE
        system.start()
        return Client.from_system(system)

    def _take_lock(self) -> None:
        import fcntl

        handle = (self.data_dir / "photo-index.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise IndexUnavailable(
                f"the photo index in {self.data_dir} is in use by another process (the bot, or "
                "`python -m bot import`/`reindex`); stop it first, or use a Chroma server (CHROMA_URL)"
            ) from None
        self._lock_file = handle

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file releases the flock
            self._lock_file = None

    def close(self) -> None:
        with self._lock:
            self._handles.clear()
            self._touched.clear()
            self._generations = None
            if self._client is not None:
                _close_client(self._client)
            self._client = None
            self._release_lock()
            self.texts.close()

    def _unload(self) -> None:
        """Let go of every loaded collection (see the module's docstring): their files and memory."""
        count = len(self._touched)
        self._handles.clear()
        self._touched.clear()
        if self.chroma_url:
            return  # the server manages its own memory; the handles were all there was to drop here
        _close_client(self._client)
        self._client = None
        self._client = self._embedded_client()
        log.debug("photo index: unloaded %d collections", count)

    @contextlib.contextmanager
    def _store(self) -> Iterator[Any]:
        """The client, with store failures turned into IndexUnavailable (logged with their cause)."""
        with self._lock:
            self.open()
            if self._depth == 0 and len(self._touched) >= self.max_open:
                try:
                    self._unload()
                except Exception as exc:
                    self.close()  # the next call opens it afresh
                    log.warning("photo index: reopening failed: %s: %s", type(exc).__name__, exc)
                    raise IndexUnavailable(f"photo index reopening failed: {exc}") from None
            self._depth += 1
            try:
                yield self._client
            except BotError:
                raise
            except Exception as exc:
                from chromadb.errors import NotFoundError

                if isinstance(exc, NotFoundError):  # deleted behind our back (another process, a server)
                    self._handles.clear()
                    self._generations = None
                log.warning("photo index operation failed: %s: %s", type(exc).__name__, exc)
                log.debug("photo index failure", exc_info=True)
                raise IndexUnavailable(f"photo index operation failed: {exc}") from None
            finally:
                self._depth -= 1

    # -- generations --------------------------------------------------------------------------

    def _all_generations(self, client: Any) -> dict[int, dict[str, Generation]]:
        if self._generations is None:
            found: dict[int, dict[str, Generation]] = {}
            offset = 0
            while True:
                page = client.list_collections(limit=PAGE, offset=offset)
                for collection in page:
                    generation = _generation_of(collection)
                    if generation is not None:
                        found.setdefault(generation.chat_id, {})[generation.name] = generation
                if len(page) < PAGE:
                    break
                offset += PAGE
            self._generations = found
        return self._generations

    def generations(self, chat_id: int | None = None, *, fresh: bool = False) -> list[Generation]:
        """The chat's collections (every chat's when `chat_id` is None); `fresh` re-reads the store."""
        with self._store() as client:
            if fresh:
                self._generations = None
            every = self._all_generations(client)
            chats = [chat_id] if chat_id is not None else sorted(every)
            return [g for c in chats for g in every.get(c, {}).values()]

    def stale_generations(self, chat_id: int, spec: ModelSpec) -> list[Generation]:
        """The chat's collections made by another model than `spec`, checked against the store."""
        with self._store() as client:
            stale = [g for g in self._all_generations(client).get(chat_id, {}).values() if g.spec != spec]
            if stale and self.chroma_url:
                # Another process (reindex against the same server) may have removed them meanwhile.
                self._generations = None
                stale = [g for g in self._all_generations(client).get(chat_id, {}).values() if g.spec != spec]
            return stale

    def _collection(self, client: Any, chat_id: int, spec: ModelSpec, *, create: bool = False) -> Any | None:
        from chromadb.errors import NotFoundError

        name = collection_name(chat_id, spec)
        handle = self._handles.get(name)
        if handle is not None:
            return handle
        metadata = {"chat_id": chat_id, "clip_model": spec.model, "dim": spec.dim, "schema": SCHEMA}
        if create:
            hnsw: dict[str, Any] = {"space": "ip"}
            if not self.chroma_url:
                hnsw.update(sync_threshold=SYNC_THRESHOLD, batch_size=min(100, SYNC_THRESHOLD))
            self._touched.add(name)
            handle = client.get_or_create_collection(
                name, configuration={"hnsw": hnsw}, metadata=metadata, embedding_function=None
            )
            generation = Generation(chat_id, spec, name)
            if self._generations is not None:
                self._generations.setdefault(chat_id, {})[name] = generation
        else:
            try:
                handle = self._get(client, name)
            except NotFoundError:
                return None
        found = _generation_of(handle)
        if found is None or found.spec != spec or found.chat_id != chat_id:
            raise IndexUnavailable(f"collection {name} holds {found}, not chat {chat_id} with {spec}")
        if not self.chroma_url:
            _save_often(handle)
        self._handles[name] = handle
        return handle

    def _get(self, client: Any, name: str) -> Any:
        self._touched.add(name)
        return client.get_collection(name, embedding_function=None)

    # -- writing ------------------------------------------------------------------------------

    def existing(self, chat_id: int, spec: ModelSpec, keys: Sequence[str]) -> set[str]:
        """Which of `keys` the chat has already indexed with this model."""
        if not keys:
            return set()
        with self._store() as client:
            collection = self._collection(client, chat_id, spec)
            if collection is None:
                return set()
            return set(collection.get(ids=list(dict.fromkeys(keys)), include=[])["ids"])

    def add(
        self, chat_id: int, spec: ModelSpec, records: Sequence[PhotoRecord], vectors: Sequence[Sequence[float]]
    ) -> int:
        """Store photos of one chat with their unit vectors (again = update); returns how many were new."""
        if len(records) != len(vectors):
            raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        if not records:
            return 0
        for record, vector in zip(records, vectors, strict=False):
            if record.chat_id != chat_id:
                raise ValueError(f"record {record.key} of chat {record.chat_id} added to chat {chat_id}")
            if len(vector) != spec.dim:
                raise ValueError(f"a {len(vector)}-d vector for a {spec.dim}-d index ({spec})")
        with self._store() as client:
            collection = self._collection(client, chat_id, spec, create=True)
            assert collection is not None  # create=True makes it
            keys = [r.key for r in records]
            before = set(collection.get(ids=keys, include=[])["ids"])
            collection.upsert(
                ids=keys, embeddings=[list(map(float, v)) for v in vectors], metadatas=[r.metadata() for r in records]
            )
            self.texts.put(chat_id, [(r.key, r.caption, r.sender) for r in records])
            return len(set(keys) - before)

    def set_file_id(self, chat_id: int, spec: ModelSpec, key: str, file_id: str) -> None:
        """Remember the file_id Telegram gave an imported photo when it was first sent."""
        with self._store() as client:
            collection = self._collection(client, chat_id, spec)
            if collection is not None:
                collection.update(ids=[key], metadatas=[{"file_id": file_id}])

    # -- reading ------------------------------------------------------------------------------

    def count(self, chat_id: int) -> int:
        """Photos the chat has indexed, over every model's collection (a photo in two counts once)."""
        with self._store() as client:
            return self._distinct_count(client, self._fresh_generations(client, chat_id))

    def count_generation(self, generation: Generation) -> int:
        with self._store() as client:
            return self._get(client, generation.name).count()

    def vector_of(self, chat_id: int, spec: ModelSpec, key: str) -> tuple[float, ...] | None:
        """The stored vector of one of the chat's photos, if the chat has indexed it with this model."""
        with self._store() as client:
            collection = self._collection(client, chat_id, spec)
            if collection is None:
                return None
            found = collection.get(ids=[key], include=["embeddings"])
            if not found["ids"]:
                return None
            return tuple(float(x) for x in found["embeddings"][0])

    def query(
        self,
        chat_id: int,
        spec: ModelSpec,
        vector: Sequence[float],
        k: int,
        exclude: Sequence[str] = (),
        where: dict[str, Any] | None = None,
    ) -> list[Match]:
        """The chat's `k` photos most similar to `vector`, best first; [] when it has none.

        `where` (a chromadb metadata filter: who sent the photo, when) narrows the search inside the chat's
        own collection. Raises ReindexNeeded while the chat has photos embedded by another model.
        """
        if len(vector) != spec.dim:
            raise ValueError(f"a {len(vector)}-d query for a {spec.dim}-d index")
        stale = self.stale_generations(chat_id, spec)
        if stale:
            raise ReindexNeeded(f"chat {chat_id} has photos indexed with {', '.join(str(g.spec) for g in stale)}")
        with self._store() as client:
            collection = self._collection(client, chat_id, spec)
            if collection is None:
                return []
            found = collection.query(
                query_embeddings=[list(map(float, vector))],
                n_results=k + len(exclude),
                include=["metadatas", "distances"],
                where=where,
            )
        matches = []
        for key, meta, distance in zip(found["ids"][0], found["metadatas"][0], found["distances"][0], strict=False):
            if meta.get("chat_id") != chat_id:  # cannot happen by construction; never let it through
                log.error(
                    "record %s of chat %s found in chat %s's collection; dropped", key, meta.get("chat_id"), chat_id
                )
                continue
            if key not in exclude:
                matches.append(Match(PhotoRecord.from_metadata(key, meta), 1.0 - float(distance)))
        matches = matches[:k]
        texts = self.texts.get(chat_id, [m.record.key for m in matches])
        return [Match(_with_texts(m.record, texts), m.score) for m in matches]

    def newest(self, chat_id: int, spec: ModelSpec, k: int, where: dict[str, Any] | None = None) -> list[Match]:
        """The chat's `k` newest photos that match `where` (a chromadb metadata filter), newest first."""
        stale = self.stale_generations(chat_id, spec)
        if stale:
            raise ReindexNeeded(f"chat {chat_id} has photos indexed with {', '.join(str(g.spec) for g in stale)}")
        found: list[PhotoRecord] = []
        with self._store() as client:
            collection = self._collection(client, chat_id, spec)
            if collection is None:
                return []
            offset = 0
            while True:
                page = collection.get(where=where, limit=PAGE, offset=offset, include=["metadatas"])
                for key, meta in zip(page["ids"], page["metadatas"], strict=False):
                    if meta.get("chat_id") == chat_id:
                        found.append(PhotoRecord.from_metadata(key, meta))
                found = sorted(found, key=lambda r: (r.date, r.message_id), reverse=True)[:k]
                if len(page["ids"]) < PAGE:
                    break
                offset += PAGE
        texts = self.texts.get(chat_id, [r.key for r in found])
        return [Match(_with_texts(r, texts), None) for r in found]

    def records(self, generation: Generation, page: int = 256) -> Iterator[list[PhotoRecord]]:
        """Every record of a collection, a page at a time (for reindex)."""
        offset = 0
        while True:
            with self._store() as client:
                found = self._get(client, generation.name).get(limit=page, offset=offset, include=["metadatas"])
            records = [PhotoRecord.from_metadata(k, m) for k, m in zip(found["ids"], found["metadatas"], strict=False)]
            records = [r for r in records if r.chat_id == generation.chat_id]
            texts = self.texts.get(generation.chat_id, [r.key for r in records])
            records = [_with_texts(r, texts) for r in records]
            if records:
                yield records
            if len(found["ids"]) < page:
                return
            offset += page

    def _distinct_count(self, client: Any, generations: Sequence[Generation]) -> int:
        if len(generations) == 1:
            return self._get(client, generations[0].name).count()
        keys: set[str] = set()
        for generation in generations:
            collection, offset = self._get(client, generation.name), 0
            while True:
                page = collection.get(limit=PAGE, offset=offset, include=[])["ids"]
                keys.update(page)
                if len(page) < PAGE:
                    break
                offset += PAGE
        return len(keys)

    # -- deleting and moving ------------------------------------------------------------------

    def _fresh_generations(self, client: Any, chat_id: int) -> list[Generation]:
        if self.chroma_url:
            self._generations = None  # another process may have added some to a server: ask it
        return list(self._all_generations(client).get(chat_id, {}).values())

    def drop(self, generation: Generation) -> None:
        """Delete one collection (after reindex has copied it)."""
        with self._store() as client:
            with contextlib.suppress(Exception):
                client.delete_collection(generation.name)
            self._handles.pop(generation.name, None)
            if self._generations is not None:
                self._generations.get(generation.chat_id, {}).pop(generation.name, None)

    def forget(self, chat_id: int) -> int:
        """Delete every photo the chat has indexed; returns how many there were."""
        with self._store() as client:
            generations = self._fresh_generations(client, chat_id)
            removed = self._distinct_count(client, generations)
            for generation in generations:
                client.delete_collection(generation.name)
                self._handles.pop(generation.name, None)
            self._generations = None
            self.texts.forget(chat_id)
            if removed:
                log.info("forgot %d photos of chat %s", removed, chat_id)
            return removed

    def migrate(self, old_chat_id: int, new_chat_id: int) -> int:
        """A group became a supergroup (new chat id): its photos move with it. Returns how many moved."""
        with self._store() as client:
            moved = 0
            for generation in self._fresh_generations(client, old_chat_id):
                source = self._get(client, generation.name)
                target = self._collection(client, new_chat_id, generation.spec, create=True)
                assert target is not None  # create=True makes it
                offset = 0
                while True:
                    found = source.get(limit=PAGE, offset=offset, include=["metadatas", "embeddings"])
                    if not len(found["ids"]):
                        break
                    metadatas = [{**m, "chat_id": new_chat_id} for m in found["metadatas"]]
                    target.upsert(ids=found["ids"], embeddings=found["embeddings"], metadatas=metadatas)
                    moved += len(found["ids"])
                    offset += PAGE
                client.delete_collection(generation.name)
                self._handles.pop(generation.name, None)
            self._generations = None
            self.texts.migrate(old_chat_id, new_chat_id)
            if moved:
                log.info("moved %d photos of chat %s to its new id %s", moved, old_chat_id, new_chat_id)
            return moved


def _close_client(client: Any) -> None:
    """Close a chromadb client (the embedded one's files and memory go with it) and hand the memory back."""
    try:
        client.close()
    except Exception as exc:  # closing is best effort: the store's data is safe on disk either way
        log.warning("photo index: closing the client failed: %s: %s", type(exc).__name__, exc)
    # glibc keeps the freed indexes' memory in its arenas otherwise (measured: +700 MB per 1000 chats);
    # other C libraries have no malloc_trim.
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None).malloc_trim(0)


def _with_texts(record: PhotoRecord, texts: dict[str, tuple[str, str]]) -> PhotoRecord:
    """The record with its caption and sender's name from PhotoTexts (records indexed before the texts left
    chromadb keep the ones in their metadata)."""
    if record.key not in texts:
        return record
    caption, sender = texts[record.key]
    return replace(record, caption=caption, sender=sender)


def _get(client: Any, name: str) -> Any:
    return client.get_collection(name, embedding_function=None)


def _save_often(collection: Any) -> None:
    """Collections made before SYNC_THRESHOLD existed save every 1000 photos: make them save as often as new ones."""
    try:
        hnsw = (collection.configuration_json or {}).get("hnsw") or {}
        if int(hnsw.get("sync_threshold") or 0) > SYNC_THRESHOLD:
            collection.modify(
                configuration={"hnsw": {"sync_threshold": SYNC_THRESHOLD, "batch_size": min(100, SYNC_THRESHOLD)}}
            )
    except Exception as exc:  # only a slower first search after a reopen: never a failed one
        log.warning("photo index: can't change how often %s saves: %s: %s", collection.name, type(exc).__name__, exc)


def _generation_of(collection: Any) -> Generation | None:
    match = _NAME.match(collection.name)
    meta = collection.metadata or {}
    if match is None or "clip_model" not in meta or "dim" not in meta:
        return None  # not ours (a Chroma server may be shared with other applications)
    chat_id = int(match.group(1))
    if meta.get("chat_id") != chat_id:
        return None
    spec = ModelSpec(str(meta["clip_model"]), int(meta["dim"]))
    if spec.key != match.group(2):
        return None
    return Generation(chat_id, spec, collection.name)


def wait_for_server(url: str, timeout: float = 30.0) -> None:
    """Block until a Chroma server answers (for tests and scripts that start one)."""
    deadline = time.monotonic() + timeout
    index = PhotoIndex(Path("."), url)
    while True:
        try:
            index.open()
            return
        except IndexUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
