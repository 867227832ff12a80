"""A flood of photos in one chat: a bounded share waits in memory for indexing, the rest on disk, taken up
once the flood is over; another chat's photo never queues behind the flood's; nothing is lost."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Message

import bot.features.photos as photos_module
from tests.support.chat import photo_bytes

pytestmark = pytest.mark.timeout(120)


async def test_a_flood_of_photos_waits_on_disk_past_the_chats_bound_and_is_indexed_after(
    start_app, fake_api, monkeypatch
):
    monkeypatch.setattr(photos_module, "CHAT_PENDING_MAX", 3)
    monkeypatch.setattr(photos_module, "DEFERRED_QUIET_S", 0.5)
    app = await start_app()
    services = app.bot_data["services"]
    photos, backend = services.photos, app.bot_data["backend"]
    backend.gate.clear()  # indexing holds: the flood piles up
    tg = fake_api
    flo, ann = tg.user(5, "Flo"), tg.user(6, "Ann")
    flood_chat, other_chat = tg.private_chat(flo), tg.private_chat(ann)

    def message(chat, user, seed) -> Message:
        return Message.de_json(tg.send_message(chat, user, photo=photo_bytes(seed)), app.bot)

    for i in range(12):
        assert await photos.note(message(flood_chat, flo, 100 + i))
    assert photos.being_indexed(flood_chat["id"]) == 3  # in memory: the chat's bound
    assert photos.deferred == 9
    assert len(await photos.backlog.all()) == 12  # every one on disk
    assert await photos.note(message(other_chat, ann, 200))
    assert photos.being_indexed(other_chat["id"]) == 1  # not behind the flood's nine
    backend.gate.set()
    deadline = time.monotonic() + 60
    while await asyncio.to_thread(photos.index.count, flood_chat["id"]) < 12:
        assert time.monotonic() < deadline, await asyncio.to_thread(photos.index.count, flood_chat["id"])
        assert photos.being_indexed(flood_chat["id"]) <= 3
        await asyncio.sleep(0.05)
    assert await asyncio.to_thread(photos.index.count, other_chat["id"]) == 1
    assert await photos.wait_indexed(flood_chat["id"], 10)
    deadline = time.monotonic() + 10
    while await photos.backlog.all():  # the last rows are cleared just after their photos are stored
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_the_flood_is_taken_up_only_once_it_is_over(start_app, fake_api, monkeypatch):
    monkeypatch.setattr(photos_module, "CHAT_PENDING_MAX", 2)
    monkeypatch.setattr(photos_module, "DEFERRED_QUIET_S", 0.6)
    app = await start_app()
    photos, backend = app.bot_data["services"].photos, app.bot_data["backend"]
    backend.gate.clear()  # the first two are still being embedded while the flood goes on
    tg = fake_api
    flo = tg.user(5, "Flo")
    chat = tg.private_chat(flo)
    downloads = len(tg.calls("getFile"))
    for i in range(4):
        await photos.note(Message.de_json(tg.send_message(chat, flo, photo=photo_bytes(300 + i)), app.bot))
    await asyncio.sleep(0.3)  # the flood goes on: a photo every 0.3 s
    for i in range(4, 8):
        await photos.note(Message.de_json(tg.send_message(chat, flo, photo=photo_bytes(300 + i)), app.bot))
    await asyncio.sleep(0.3)
    assert len(tg.calls("getFile")) - downloads == 2  # only the first two, while it lasts
    backend.gate.set()  # the rest once the flood is quiet and the first two are indexed, two at a time
    deadline = time.monotonic() + 30
    while await asyncio.to_thread(photos.index.count, chat["id"]) < 8:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_forget_drops_the_photos_waiting_on_disk(start_app, fake_api, monkeypatch):
    monkeypatch.setattr(photos_module, "CHAT_PENDING_MAX", 1)
    monkeypatch.setattr(photos_module, "DEFERRED_QUIET_S", 0.2)
    app = await start_app()
    services = app.bot_data["services"]
    photos, backend = services.photos, app.bot_data["backend"]
    backend.gate.clear()
    tg = fake_api
    flo = tg.user(5, "Flo")
    chat = tg.private_chat(flo)
    for i in range(5):
        await photos.note(Message.de_json(tg.send_message(chat, flo, photo=photo_bytes(400 + i)), app.bot))
    await services.forget_chat(chat["id"])
    backend.gate.set()
    await asyncio.sleep(1.0)
    assert await asyncio.to_thread(photos.index.count, chat["id"]) == 0
    assert not await photos.backlog.all()
