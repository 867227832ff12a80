"""ChatPhotos in-process: the hook other commands call to index a photo the bot itself sent (/gen, /box)."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import build_application
from bot.settings import Settings
from tests.support.bot_process import TOKEN
from tests.support.chat import photo_bytes
from tests.support.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(120)


async def test_a_photo_the_bot_sends_is_indexed_for_its_chat(tmp_path, tiny_clip):
    telegram = FakeTelegram(TOKEN).start()
    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_base_url=telegram.base_url,
        telegram_base_file_url=telegram.base_file_url,
        data_dir=tmp_path,
        clip_model=str(tiny_clip),
        device="cpu",
    )
    application = build_application(settings)
    try:
        async with application:
            await application.post_init(application)  # what run_polling() does first: queue, worker, index
            user = telegram.user(77, "Ann")
            chat_id = telegram.private_chat(user)["id"]
            sent = await application.bot.send_photo(chat_id, photo_bytes(1), caption="a generated cat")
            photos = application.bot_data["services"].photos
            assert photos.index_message(sent)  # the one call /gen makes for each photo it sends
            assert not photos.index_message(await application.bot.send_message(chat_id, "no photo here"))
            assert await photos.wait_indexed(chat_id, 60)
            vector = await asyncio.to_thread(
                photos.index.vector_of, chat_id, photos.spec, sent.photo[-1].file_unique_id
            )
            [match] = await asyncio.to_thread(photos.index.query, chat_id, photos.spec, vector, 5)
            assert match.record.file_id == sent.photo[-1].file_id
            assert (match.record.sender, match.record.caption) == ("Tiny Test Bot", "a generated cat")
            assert await asyncio.to_thread(photos.index.count, chat_id + 1) == 0
            await application.post_shutdown(application)
    finally:
        telegram.stop()
