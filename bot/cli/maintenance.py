"""`python -m bot import` and `python -m bot reindex`: filling and re-embedding the photo index from the shell.

Both load the CLIP model in this process (they are the worker here) and write to the same PhotoIndex as
the bot. The embedded store is locked to one process, so with it they run while the bot is stopped; with
a Chroma server (CHROMA_URL) they may run beside the bot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from telegram.error import InvalidToken, TelegramError

from bot.errors import BadImage, BotError
from bot.imaging.decode import decode_for_embedding
from bot.stores.photo_index import (
    Generation,
    ModelSpec,
    PhotoIndex,
    PhotoRecord,
    canonical_model_id,
)
from contract.errors import WorkerError
from contract.requests import Embedding, EmbedImageRequest, Task

if TYPE_CHECKING:
    from PIL.Image import Image

    from bot.settings import Settings

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
DOWNLOADS_AT_ONCE = 8


class Embedder:
    """The configured CLIP model in this process, embedding batches of images."""

    def __init__(self, settings: Settings) -> None:
        from models.clip import ClipEmbedder
        from models.pool import ModelPool

        self._pool = ModelPool(settings)
        adapter = self._pool.get(Task.EMBED)  # raises ModelUnavailable with the reason logged
        assert isinstance(adapter, ClipEmbedder)
        self.spec: ModelSpec = ModelSpec(canonical_model_id(settings.clip_model), adapter.dim)

    def embed(self, images: Sequence[Image]) -> list[tuple[float, ...]]:
        from contract.worker import Interrupt

        embeddings = self._pool.run(Task.EMBED, [EmbedImageRequest(i) for i in images], Interrupt())
        return [e.vector for e in embeddings if isinstance(e, Embedding)]


def _progress(total: int, description: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", desc=description, file=sys.stderr, dynamic_ncols=True)


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- import -------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    imported: int = 0
    already: int = 0
    unreadable: list[Path] = field(default_factory=list)
    ignored: int = 0

    def summary(self, chat_id: int) -> str:
        lines = [f"Imported {self.imported} new photo{'s' * (self.imported != 1)} into chat {chat_id}."]
        if self.already:
            lines.append(f"Skipped {self.already} already indexed (same content).")
        if self.unreadable:
            names = ", ".join(str(p) for p in self.unreadable[:10]) + (" …" if len(self.unreadable) > 10 else "")
            lines.append(f"Skipped {len(self.unreadable)} unreadable file{'s' * (len(self.unreadable) != 1)}: {names}")
        if self.ignored:
            lines.append(
                f"Ignored {self.ignored} file{'s' * (self.ignored != 1)} that "
                f"{'is not an image' if self.ignored == 1 else 'are not images'}."
            )
        return "\n".join(lines)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_folder(settings: Settings, folder: Path, chat_id: int, batch_size: int) -> int:
    """Index every readable image under `folder` for /find in `chat_id`; returns an exit code."""
    folder = folder.expanduser()
    if not folder.is_dir():
        print(f"{folder} is not a folder.", file=sys.stderr)
        return 2
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    report = ImportReport(ignored=len(files) - len(images))
    index = PhotoIndex.from_settings(settings)
    try:
        index.open()
        hashes: dict[str, Path] = {}
        for path in images:
            try:
                hashes.setdefault(_sha256(path), path)
            except OSError:
                report.unreadable.append(path.relative_to(folder))
        report.already = len(images) - len(report.unreadable) - len(hashes)  # the same content twice
        keys = [f"sha256:{h}" for h in hashes]
        # The chat's collection for this model tells the vector size, so a folder imported before is
        # checked without loading the model at all.
        model_id = canonical_model_id(settings.clip_model)
        dims = {g.spec.dim for g in index.generations(chat_id, fresh=True) if g.spec.model == model_id}
        spec = ModelSpec(model_id, dims.pop()) if len(dims) == 1 else None
        known = index.existing(chat_id, spec, keys) if spec is not None else set()
        report.already += len(known)
        embedder: Embedder | None = None  # loaded once there is something readable to embed
        todo = [(h, p) for h, p in hashes.items() if f"sha256:{h}" not in known]
        with _progress(len(todo), "Importing") as progress:
            for chunk in _chunks(todo, batch_size):
                records, pictures = [], []
                for digest, path in chunk:
                    try:
                        picture = decode_for_embedding(path.read_bytes(), settings.max_image_pixels)
                    except (OSError, BadImage) as exc:
                        log.debug("%s is unreadable: %s", path, exc)
                        report.unreadable.append(path.relative_to(folder))
                        continue
                    pictures.append(picture)
                    records.append(
                        PhotoRecord(
                            key=f"sha256:{digest}",
                            chat_id=chat_id,
                            date=int(path.stat().st_mtime),
                            caption=str(path.relative_to(folder)),
                            path=str(path.resolve()),
                            sha256=digest,
                        )
                    )
                if records:
                    embedder = embedder or Embedder(settings)
                    spec = embedder.spec
                    report.imported += index.add(chat_id, spec, records, embedder.embed(pictures))
                progress.update(len(chunk))
    except (BotError, WorkerError) as exc:
        print(f"Import failed: {exc}", file=sys.stderr)
        return 1
    finally:
        index.close()
    print(report.summary(chat_id))
    return 0


# -- reindex ------------------------------------------------------------------------------------


class Transient(Exception):
    """A download failed in a way that may pass (network, flood control): keep the old vectors, try later."""


@dataclass
class ReindexReport:
    chats: set[int] = field(default_factory=set)
    reembedded: int = 0
    dropped: list[str] = field(default_factory=list)
    unfinished: dict[int, str] = field(default_factory=dict)

    def summary(self, spec: ModelSpec) -> str:
        lines = [
            f"Re-indexed {self.reembedded} photo{'s' * (self.reembedded != 1)} of {len(self.chats)} "
            f"chat{'s' * (len(self.chats) != 1)} with {spec}."
        ]
        if self.dropped:
            one = len(self.dropped) == 1
            lines.append(
                f"Dropped {len(self.dropped)} photo{'' if one else 's'} that no longer "
                f"exist{'s' if one else ''} (deleted from Telegram, or moved on disk)."
            )
        for chat_id, reason in self.unfinished.items():
            lines.append(f"Chat {chat_id} is not finished ({reason}); run reindex again.")
        return "\n".join(lines)


def reindex(settings: Settings, chat_id: int | None, batch_size: int) -> int:
    """Re-embed every photo indexed with another model than CLIP_MODEL; returns an exit code."""
    index = PhotoIndex.from_settings(settings)
    try:
        index.open()
        embedder = Embedder(settings)
        stale = [g for g in index.generations(chat_id, fresh=True) if g.spec != embedder.spec]
        if not stale:
            where = f"chat {chat_id}'s" if chat_id is not None else "every chat's"
            print(f"Nothing to re-index: {where} photos are indexed with {embedder.spec}.")
            return 0
        total = sum(index.count_generation(g) for g in stale)
        report = ReindexReport()
        with _progress(total, "Re-indexing") as progress:
            asyncio.run(_reindex(settings, index, embedder, stale, batch_size, report, progress))
    except (BotError, WorkerError) as exc:
        print(f"Re-index failed: {exc}", file=sys.stderr)
        return 1
    except InvalidToken:  # its message holds the token: never print it
        print("Re-index failed: Telegram rejected the bot token; check TELEGRAM_BOT_TOKEN.", file=sys.stderr)
        return 1
    except TelegramError as exc:
        print(f"Re-index failed: Telegram refused: {exc}", file=sys.stderr)
        return 1
    finally:
        index.close()
    print(report.summary(embedder.spec))
    return 1 if report.unfinished else 0


async def _reindex(
    settings: Settings,
    index: PhotoIndex,
    embedder: Embedder,
    stale: list[Generation],
    batch_size: int,
    report: ReindexReport,
    progress,
) -> None:
    from telegram import Bot

    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_base_url,
        base_file_url=settings.telegram_base_file_url,
    )
    async with bot:
        for generation in stale:
            report.chats.add(generation.chat_id)
            try:
                for page in index.records(generation):
                    done = index.existing(generation.chat_id, embedder.spec, [r.key for r in page])
                    todo = [r for r in page if r.key not in done]
                    for chunk in _chunks(todo, batch_size):
                        await _reembed(bot, settings, index, embedder, chunk, report)
                    progress.update(len(page))
            except Transient as exc:
                report.unfinished[generation.chat_id] = str(exc)
                log.warning("chat %s keeps its old index for now: %s", generation.chat_id, exc)
                continue
            index.drop(generation)


async def _reembed(
    bot,
    settings: Settings,
    index: PhotoIndex,
    embedder: Embedder,
    records: Sequence[PhotoRecord],
    report: ReindexReport,
) -> None:
    gate = asyncio.Semaphore(DOWNLOADS_AT_ONCE)

    async def load(record: PhotoRecord) -> Image | None:
        async with gate:
            data = await _photo_bytes(bot, record)
        if data is None:
            return None
        try:
            return await asyncio.to_thread(decode_for_embedding, data, settings.max_image_pixels)
        except BadImage:
            return None

    pictures = await asyncio.gather(*(load(r) for r in records))
    kept = [(r, p) for r, p in zip(records, pictures, strict=False) if p is not None]
    report.dropped += [r.key for r, p in zip(records, pictures, strict=False) if p is None]
    if kept:
        vectors = await asyncio.to_thread(embedder.embed, [p for _, p in kept])
        index.add(kept[0][0].chat_id, embedder.spec, [r for r, _ in kept], vectors)
        report.reembedded += len(kept)


async def _photo_bytes(bot, record: PhotoRecord) -> bytes | None:
    """The photo's bytes: the imported file if it is still there, else from Telegram by file_id.

    None when it is gone for good; raises Transient when it may come back.
    """
    from telegram.error import BadRequest, InvalidToken, RetryAfter, TelegramError

    if record.path and Path(record.path).is_file():
        return await asyncio.to_thread(Path(record.path).read_bytes)
    if not record.file_id:
        return None
    for _ in range(3):
        try:
            file = await bot.get_file(record.file_id)
            try:
                return bytes(await file.download_as_bytearray())
            except InvalidToken:  # the download URL answered 404: the file is gone
                return None
        except BadRequest as exc:  # wrong file identifier, file too big: it won't get better
            log.info("photo %s of chat %s is gone: %s", record.key, record.chat_id, exc)
            return None
        except RetryAfter as exc:
            await asyncio.sleep(_seconds(exc.retry_after))
        except TelegramError as exc:
            raise Transient(f"download failed: {exc}") from None
    raise Transient("flood control: Telegram asked to slow down")


def _seconds(value: float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
