"""/reposts in-process against the fake Bot API: near-duplicates of a chat's earlier photos get one reply
pointing to the first post, merely similar ones nothing, and nothing ever points into another chat.

The FakeBackend gives every photo the same CLIP vector, so here the perceptual hashes decide (the CLIP gate
is tested on its own below); bench/repost_detection.py measures the rates on thousands of photos.
"""

from __future__ import annotations

import asyncio
import io
import random

import pytest
from PIL import Image, ImageDraw

from bot.features.reposts import CLIP_MIN, RepostWatcher, fingerprint, first_post_link
from tests.support.chat import deliver
from tests.test_handlers import answer

SETTINGS = dict(admin_user_ids=frozenset({900}))
SUPERGROUP = -1001234500001


@pytest.fixture
def tg(fake_api):
    return fake_api


def picture(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like picture: random blobs of colour on a gradient, distinct for each seed."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y, radius = rng.randrange(size[0]), rng.randrange(size[1]), rng.randrange(15, 70)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return image.resize((size[0] * 2, size[1] * 2)).resize(size, Image.BILINEAR)


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def recompressed_and_resized(image: Image.Image) -> bytes:
    return jpeg(image.resize((image.width * 3 // 4, image.height * 3 // 4)), quality=40)


def cropped(image: Image.Image) -> bytes:
    return jpeg(image.crop((8, 6, image.width - 8, image.height - 6)), quality=80)


async def post(app, tg, chat, user, data: bytes) -> dict:
    """The user posts a photo; returns its message once the bot has indexed it (and spotted any repost)."""
    message = tg.message(chat, user, photo=data)
    await deliver(app, tg, message)
    photos = app.bot_data["services"].photos
    assert await photos.wait_indexed(chat["id"], 10)
    await asyncio.sleep(0.05)
    return message


def repost_replies(tg, chat) -> list[dict]:
    return [m for m in tg.bot_messages(chat["id"]) if "text" in m and m["text"].startswith("🔁")]


async def switch(app, tg, chat, user, choice: str) -> str:
    command = tg.message(chat, user, text=f"/reposts {choice}".strip())
    await deliver(app, tg, command)
    return (await answer(tg, command))["text"]


async def test_a_repost_in_a_supergroup_gets_one_reply_linking_to_the_first_post(start_app, tg):
    app = await start_app(**SETTINGS)
    bob, ann, root = tg.user(51, "Bob"), tg.user(52, "Ann"), tg.user(900, "Root")
    group = tg.group_chat(SUPERGROUP, "Club")
    assert "off" in await switch(app, tg, group, ann, "")
    tg.set_member(group["id"], ann["id"], "member")
    assert "admins" in await switch(app, tg, group, ann, "on")  # not an admin
    assert "is on" in await switch(app, tg, group, root, "on")
    original = picture(1)
    first = await post(app, tg, group, bob, jpeg(original))
    assert repost_replies(tg, group) == []
    again = await post(app, tg, group, ann, recompressed_and_resized(original))
    (reply,) = repost_replies(tg, group)
    assert reply["reply_to_message"]["message_id"] == again["message_id"]
    assert f"https://t.me/c/1234500001/{first['message_id']}" in reply["text"]
    assert "Bob" in reply["text"]
    await post(app, tg, group, ann, cropped(original))
    assert len(repost_replies(tg, group)) == 2
    await post(app, tg, group, ann, jpeg(picture(2)))  # another picture: nothing
    await post(app, tg, group, ann, jpeg(picture(3)))
    assert len(repost_replies(tg, group)) == 2
    # The very same file again (a forward): a repost too, pointing at the first post.
    await post(app, tg, group, ann, jpeg(original))
    replies = repost_replies(tg, group)
    assert len(replies) == 3 and f"/{first['message_id']}" in replies[-1]["text"]


async def test_in_a_basic_group_the_reply_quotes_the_first_post_and_chinese_users_get_chinese(start_app, tg):
    app = await start_app(**SETTINGS)
    bob, li = tg.user(53, "Bob"), tg.user(54, "Li", language_code="zh-hans")
    group = tg.group_chat(-5300, "Family")
    tg.set_member(group["id"], bob["id"], "administrator")
    await switch(app, tg, group, bob, "on")
    original = picture(4)
    first = await post(app, tg, group, bob, jpeg(original))
    await post(app, tg, group, li, recompressed_and_resized(original))
    (reply,) = repost_replies(tg, group)
    assert reply["reply_to_message"]["message_id"] == first["message_id"]
    assert "t.me" not in reply["text"] and "重复发布" in reply["text"]


async def test_reposts_stay_off_unless_switched_on_and_off_deletes_the_fingerprints(start_app, tg):
    app = await start_app(**SETTINGS)
    ann = tg.user(55, "Ann")
    chat = tg.private_chat(ann)
    original = picture(5)
    await post(app, tg, chat, ann, jpeg(original))
    await post(app, tg, chat, ann, recompressed_and_resized(original))
    assert repost_replies(tg, chat) == []  # off by default
    await switch(app, tg, chat, ann, "on")  # a private chat: its user decides
    await post(app, tg, chat, ann, cropped(original))
    await post(app, tg, chat, ann, jpeg(original.resize((280, 210)), quality=60))
    assert len(repost_replies(tg, chat)) == 1  # the first one seen while on is the first post
    store = app.bot_data["services"].reposts.store
    assert await store.near(chat["id"], fingerprint(original), 64, 64)
    assert "deleted" in await switch(app, tg, chat, ann, "off")
    assert await store.near(chat["id"], fingerprint(original), 64, 64) == []
    assert "/reposts on" in await switch(app, tg, chat, ann, "maybe")


async def test_a_repost_never_points_into_another_chat(start_app, tg):
    app = await start_app(**SETTINGS)
    bob, ann = tg.user(56, "Bob"), tg.user(57, "Ann")
    one, two = tg.group_chat(-1001234500002, "One"), tg.group_chat(-1001234500003, "Two")
    for chat in (one, two):
        tg.set_member(chat["id"], bob["id"], "creator")
        await switch(app, tg, chat, bob, "on")
    original = picture(6)
    await post(app, tg, one, bob, jpeg(original))
    await post(app, tg, two, ann, recompressed_and_resized(original))  # first in chat two
    await post(app, tg, two, ann, jpeg(original))  # the same file as chat one's, first in chat two's index too
    (reply,) = repost_replies(tg, two)  # the file is a repost of chat two's own first post
    assert "1234500003" in reply["text"]
    assert repost_replies(tg, one) == []


async def test_forget_deletes_the_setting_and_the_fingerprints(start_app, tg):
    app = await start_app(**SETTINGS)
    ann = tg.user(58, "Ann")
    chat = tg.private_chat(ann)
    await switch(app, tg, chat, ann, "on")
    await post(app, tg, chat, ann, jpeg(picture(7)))
    forget = tg.message(chat, ann, text="/forget")
    await deliver(app, tg, forget)
    text = (await answer(tg, forget))["text"]
    assert "1 photo fingerprints for /reposts" in text
    watcher = app.bot_data["services"].reposts
    assert not await watcher.is_on(chat["id"])
    assert await watcher.store.near(chat["id"], fingerprint(picture(7)), 64, 64) == []


async def test_the_clip_vectors_must_agree_too():
    """Two photos whose hashes match but whose CLIP vectors don't are not a repost."""
    from bot.stores.photo_index import ModelSpec, PhotoRecord
    from bot.stores.reposts import Fingerprint, PrintedPhoto

    class Store:
        async def is_on(self, chat_id):
            return True

        async def near(self, *args):
            return [PrintedPhoto("old", Fingerprint(0, 0), 1, 0)]

        async def add(self, *args):
            pass

    class Index:
        vector = (1.0, 0.0)

        def vector_of(self, chat_id, spec, key):
            return self.vector

    index = Index()
    watcher = RepostWatcher(Store(), index)  # type: ignore[arg-type]
    told = []

    async def point_out(record, first, lang):
        told.append(first.key)

    watcher._point_out = point_out  # type: ignore[method-assign]
    record = PhotoRecord("new", 1, message_id=2)
    spec = ModelSpec("m", 2)
    unlike = (CLIP_MIN - 0.2, (1 - (CLIP_MIN - 0.2) ** 2) ** 0.5)
    await watcher.indexed(record, picture(8), unlike, spec, "en")
    assert told == []
    await watcher.indexed(record, picture(8), (1.0, 0.01), spec, "en")
    assert told == ["old"]


def test_links_only_for_supergroups():
    assert first_post_link(-1001234567890, 5) == "https://t.me/c/1234567890/5"
    assert first_post_link(-5300, 5) is None
    assert first_post_link(42, 5) is None


async def test_reposts_and_inline_search_are_in_the_menus_and_help_in_both_languages(start_app, tg):
    app = await start_app(**SETTINGS)
    for code, summary in (("", "Point out photos posted here before"), ("zh", "指出以前在这里发过的照片")):
        assert {"command": "reposts", "description": summary} in tg.my_commands(language_code=code)
    for user, words in (
        (tg.user(59, "Ann"), ("/reposts on", "@tiny_test_bot", "from:me")),
        (
            tg.user(60, "Li", language_code="zh"),
            ("/reposts on", "@tiny_test_bot", "from:me", "指出以前在这里发过的照片"),
        ),
    ):
        request = tg.message(tg.private_chat(user), user, text="/help")
        await deliver(app, tg, request)
        text = (await answer(tg, request))["text"]
        assert all(word in text for word in words), text
