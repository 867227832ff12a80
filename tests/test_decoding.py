"""ImageDecoder: one decode per file for a command and its indexing; commands never wait behind indexing."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bot.errors import BadImage
from bot.imaging import decoding
from bot.imaging.decode import EMBED_SHORT_SIDE
from bot.imaging.decoding import ImageDecoder
from tests.support.chat import photo_bytes
from tests.support.hostile_images import many_scan_jpeg

CAP = 40_000_000


@pytest.fixture
def decoder():
    decoder = ImageDecoder(CAP)
    yield decoder
    decoder.close()


def download(data: bytes, log: list[str]):
    async def fetch() -> bytes:
        log.append("download")
        await asyncio.sleep(0.01)
        return data

    return fetch


async def test_a_command_and_the_indexing_of_its_photo_share_one_download_and_decode(decoder):
    data = photo_bytes(1, size=(1600, 1200))
    downloads: list[str] = []
    command, embedded = await asyncio.gather(
        decoder.for_command((1, "unique-1"), download(data, downloads)),
        decoder.for_embedding((1, "unique-1"), download(data, downloads)),
    )
    assert downloads == ["download"] and decoder.decodes == 1
    assert command.size == (1600, 1200)
    assert min(embedded.size) == EMBED_SHORT_SIDE
    # Indexing that comes a little later still finds it.
    again = await decoder.for_embedding((1, "unique-1"), download(data, downloads))
    assert again.size == embedded.size and decoder.decodes == 1


async def test_other_files_and_unkeyed_reads_decode_on_their_own(decoder):
    downloads: list[str] = []
    await decoder.for_command((1, "a"), download(photo_bytes(1), downloads))
    await decoder.for_command((1, "b"), download(photo_bytes(2), downloads))
    await decoder.for_command(None, photo_bytes(3))
    await decoder.for_command(None, photo_bytes(3))
    # The same file in another chat is that chat's own download and decode.
    await decoder.for_embedding((2, "a"), download(photo_bytes(1), downloads))
    assert downloads == ["download"] * 3 and decoder.decodes == 5


async def test_a_refused_file_is_refused_once_for_both_readers(decoder):
    downloads: list[str] = []
    data = many_scan_jpeg(500, (64, 64))
    for read in (decoder.for_command, decoder.for_embedding):
        with pytest.raises(BadImage):
            await read((1, "hostile"), download(data, downloads))
    assert downloads == ["download"] and decoder.decodes == 1


async def test_decoded_photos_are_kept_only_a_while(decoder, monkeypatch):
    monkeypatch.setattr(decoding, "KEEP_S", 0.05)
    await decoder.for_command((1, "x"), photo_bytes(1))
    await asyncio.sleep(0.2)
    await decoder.for_command((1, "x"), photo_bytes(1))
    assert decoder.decodes == 2
    for i in range(decoding.KEEP_MAX + 5):
        await decoder.for_command((1, f"k{i}"), photo_bytes(i))
    assert len(decoder._recent) <= decoding.KEEP_MAX


async def test_a_command_never_waits_behind_heavy_indexing(decoder, monkeypatch):
    """Six heavy photos being indexed (decodes that take as long as a test allows) leave a command's
    photo to decode at once: indexing has its own thread, commands theirs."""
    release = threading.Event()
    heavy_started = threading.Event()
    real = decoding.decode_for_embedding

    def heavy_decode(data, max_pixels):
        heavy_started.set()
        release.wait(30)
        return real(data, max_pixels)

    monkeypatch.setattr(decoding, "decode_for_embedding", heavy_decode)
    indexing = [asyncio.ensure_future(decoder.for_embedding((1, f"heavy{i}"), photo_bytes(i))) for i in range(6)]
    try:
        await asyncio.to_thread(heavy_started.wait, 10)
        started = time.monotonic()
        image = await asyncio.wait_for(decoder.for_command((1, "mine"), photo_bytes(99)), 10)
        assert image.size == (96, 64) and time.monotonic() - started < 5
        assert not any(task.done() for task in indexing)
    finally:
        release.set()
    assert len(await asyncio.gather(*indexing)) == 6


async def test_indexing_decodes_run_at_a_lower_priority(decoder):
    import os

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop = asyncio.get_running_loop()
    ours = await loop.run_in_executor(decoder._commands, niceness)
    background = await loop.run_in_executor(decoder._background, niceness)
    assert background > ours or background == 19
