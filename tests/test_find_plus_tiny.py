"""/find's filters, /reposts and inline search with the real local backend and a tiny CLIP (in-process, fake
Bot API): real vectors, so the CLIP half of the repost decision runs too; and the isolation cases again."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from bot import texts
from tests.support.bot_process import TOKEN
from tests.support.chat import deliver
from tests.test_find_filters import find_in
from tests.test_inline import ask_inline, file_ids
from tests.test_reposts import jpeg, picture, recompressed_and_resized, repost_replies, switch

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def app(fake_api, tmp_path, tiny_clip):
    from bot.app import build_application
    from bot.settings import Settings

    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_base_url=fake_api.base_url,
        telegram_base_file_url=fake_api.base_file_url,
        data_dir=tmp_path / "data",
        clip_model=str(tiny_clip),
        admin_user_ids=frozenset({900}),
    )
    application = build_application(settings)
    await application.initialize()
    await application.post_init(application)
    await application.start()
    yield application
    await application.stop()
    await application.post_shutdown(application)
    await application.shutdown()


async def post(app, tg, chat, user, data: bytes) -> dict:
    message = tg.message(chat, user, photo=data)
    await deliver(app, tg, message)
    assert await app.bot_data["services"].photos.wait_indexed(chat["id"], 60)
    await asyncio.sleep(0.05)
    return message


def flipped(data: bytes) -> bytes:
    """The same picture mirrored: the same colours and CLIP-ish content, a different photo to the hashes."""
    return jpeg(Image.open(io.BytesIO(data)).transpose(Image.Transpose.FLIP_LEFT_RIGHT))


async def test_the_three_features_with_a_tiny_clip(app, fake_api):
    tg = fake_api
    ann, bob, root = tg.user(81, "Ann", username="ann"), tg.user(82, "Bob", username="bob"), tg.user(900, "Root")
    club, other = tg.group_chat(-1008100000001, "Club"), tg.group_chat(-1008100000002, "Other")
    private = tg.private_chat(ann)
    for chat in (club, other):
        await switch(app, tg, chat, root, "on")
    original = picture(11)
    first = await post(app, tg, club, bob, jpeg(original))
    await post(app, tg, other, bob, jpeg(picture(12)))
    await post(app, tg, club, ann, flipped(jpeg(original)))  # similar, not the same picture: nothing
    assert repost_replies(tg, club) == []
    await post(app, tg, club, ann, recompressed_and_resized(original))
    (reply,) = repost_replies(tg, club)
    assert f"https://t.me/c/8100000001/{first['message_id']}" in reply["text"]
    await post(app, tg, other, ann, recompressed_and_resized(original))  # first seen in the other chat
    assert repost_replies(tg, other) == []
    # /find by who, inside the chat only: Bob's photo in the other chat never shows up here.
    club_bob = {first["photo"][-1]["file_id"]}
    assert (await find_in(app, tg, club, ann, "/find@tiny_test_bot a photo from:@bob k=10"))[0] == club_bob
    assert (await find_in(app, tg, club, ann, "/find@tiny_test_bot from:@bob k=10"))[0] == club_bob
    assert (await find_in(app, tg, club, ann, "/find@tiny_test_bot from:@carl"))[1] == texts.NO_FILTER_MATCHES.en
    # Inline: only Ann's private photos, though she posted in both groups.
    mine = await post(app, tg, private, ann, jpeg(picture(13)))
    answer = await ask_inline(app, tg, ann, "a photo")
    assert file_ids(answer) == {mine["photo"][-1]["file_id"]}
    assert (await ask_inline(app, tg, bob, "a photo"))["results"] == []
