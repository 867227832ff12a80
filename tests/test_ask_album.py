"""/ask about an album, in-process against the fake Bot API with a FakeBackend: one answer per album with every
photo passed to the model, follow-ups that keep them all, replies to any photo of the album, a single-image model's
note, and /forget deleting the album lists."""

from __future__ import annotations

import asyncio

import pytest

from bot import texts
from contract.requests import AskRequest
from tests.support.chat import deliver, is_status, photo_bytes
from tests.test_handlers import answer


@pytest.fixture
def tg(fake_api):
    return fake_api


async def started(start_app):
    app = await start_app()
    app.bot_data["services"].albums.quiet_s = 0.3  # an album is complete after this long without a new part
    return app


def asked(app) -> list[AskRequest]:
    return [r for r in app.bot_data["backend"].requests if isinstance(r, AskRequest)]


def tags(request: AskRequest) -> list[tuple[int, int]]:
    return [image.size for image in request.images]


async def send_album(app, tg, chat, user, caption: str | None, group: str, count: int = 3) -> list[dict]:
    """An album as Telegram delivers it: one message per photo, the caption on the first, a moment apart."""
    album = [
        tg.message(
            chat,
            user,
            photo=photo_bytes(i, size=(96 + 16 * i, 64)),
            caption=caption if i == 0 else None,
            media_group_id=group,
        )
        for i in range(count)
    ]
    for message in album:
        await deliver(app, tg, message)
        await asyncio.sleep(0.05)
    return album


SIZES = [(96, 64), (112, 64), (128, 64)]  # the album's photos, first sent first


async def test_an_album_captioned_ask_gets_one_answer_about_all_its_photos_and_follow_ups_keep_them(start_app, tg):
    app = await started(start_app)
    ann = tg.user(1, "Ann")
    chat = tg.private_chat(ann)
    album = await send_album(app, tg, chat, ann, "/ask which of these is sharpest?", "g1")
    reply = await answer(tg, album[0])
    assert reply["text"] == "answer to which of these is sharpest?"
    (work,) = asked(app)  # one question to the model, with every photo
    assert tags(work) == SIZES
    await asyncio.sleep(0.3)  # time for any further answer (there must be none), and for the answer to be linked
    answers = [m for m in tg.bot_messages(chat["id"]) if not is_status(m.get("text"))]
    assert len(answers) == 1  # one answer per album, not one per photo

    follow_up = tg.message(chat, ann, text="and the blurriest?", reply_to=reply)
    await deliver(app, tg, follow_up)
    assert (await answer(tg, follow_up))["text"] == "answer to and the blurriest?"
    again = tg.message(chat, ann, text="/ask how many are there?")
    await deliver(app, tg, again)
    await answer(tg, again)
    for work in asked(app)[1:]:
        assert tags(work) == SIZES
    assert [len(w.history) for w in asked(app)] == [0, 1, 2]


async def test_ask_replying_to_any_photo_of_an_album_asks_about_all_of_it(start_app, tg):
    app = await started(start_app)
    bo = tg.user(2, "Bo")
    group = tg.group_chat(-202, "Photos")
    album = await send_album(app, tg, group, bo, None, "g2")
    await asyncio.sleep(0.4)
    question = tg.message(group, bo, text="/ask which is sharpest?", reply_to=album[2])
    await deliver(app, tg, question)
    assert (await answer(tg, question))["text"] == "answer to which is sharpest?"
    again = tg.message(group, bo, text="/ask and the darkest?", reply_to=album[1])
    await deliver(app, tg, again)
    await answer(tg, again)
    first, second = asked(app)
    assert tags(first) == tags(second) == SIZES
    assert [t.question for t in second.history] == ["which is sharpest?"]  # the album's conversation went on


async def test_a_single_image_model_answers_about_the_first_photo_and_says_so(start_app, tg):
    app = await started(start_app)
    app.bot_data["backend"].single_image = True
    cy = tg.user(3, "Cy")
    li = tg.user(4, "Li", language_code="zh-hans")
    album = await send_album(app, tg, tg.private_chat(cy), cy, "/ask what are these?", "g3")
    assert (await answer(tg, album[0]))["text"].endswith(texts.album_first_photo_only(3).en)
    album = await send_album(app, tg, tg.private_chat(li), li, "/ask", "g4", count=2)
    text = (await answer(tg, album[0]))["text"]
    assert text.endswith(texts.album_first_photo_only(2).zh)
    assert asked(app)[-1].question == texts.DEFAULT_ALBUM_QUESTION.zh
    single = tg.message(tg.private_chat(cy), cy, photo=photo_bytes(9), caption="/ask and this?")
    await deliver(app, tg, single)
    assert "ℹ️" not in (await answer(tg, single))["text"]  # one photo: nothing to note


async def test_forget_deletes_the_albums_and_their_conversations(start_app, tg):
    app = await started(start_app)
    services = app.bot_data["services"]
    di = tg.user(5, "Di")
    chat = tg.private_chat(di)
    album = await send_album(app, tg, chat, di, "/ask which is best?", "g5")
    await answer(tg, album[0])
    assert len(await services.albums.store.photos(chat["id"], "g5")) == 3
    forget = tg.message(chat, di, text="/forget")
    await deliver(app, tg, forget)
    await answer(tg, forget)
    assert await services.albums.store.photos(chat["id"], "g5") == []
    db = services.history._db
    assert db.execute("SELECT COUNT(*) FROM chat_conversation_photos").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM album_photos WHERE chat_id = ?", (chat["id"],)).fetchone() == (0,)


async def test_through_vlm_url_the_server_gets_every_photo_of_the_album_in_one_request(fake_api, tmp_path):
    """The whole bot in-process with VLM_URL at the fake OpenAI-compatible server: one request per question,
    every photo of the album an image_url part of its first user message, follow-ups too."""
    from bot.app import build_application
    from bot.queue.remote import RemoteVlmBackend
    from bot.settings import Settings
    from tests.support.bot_process import TOKEN
    from tests.support.fake_backend import FakeBackend
    from tests.support.fake_openai import MODEL, FakeChatServer

    tg = fake_api
    with FakeChatServer(lambda request: f"You asked: {request.question}") as server:
        settings = Settings(
            telegram_bot_token=TOKEN,
            telegram_base_url=tg.base_url,
            telegram_base_file_url=tg.base_file_url,
            data_dir=tmp_path,
            vlm_url=server.url,
            vlm_model=MODEL,
            quota_per_minute={"*": 0},
            quota_per_day={"*": 0},
        )
        app = build_application(settings, backend=RemoteVlmBackend(FakeBackend(), settings))
        await app.initialize()
        await app.post_init(app)
        await app.start()
        try:
            app.bot_data["services"].albums.quiet_s = 0.3
            ed = tg.user(6, "Ed")
            chat = tg.private_chat(ed)
            album = await send_album(app, tg, chat, ed, "/ask which is sharpest?", "g6", count=4)
            reply = await answer(tg, album[0], timeout=15)
            assert reply["text"] == "You asked: which is sharpest?"
            await asyncio.sleep(0.3)  # the answer is linked to its conversation right after it is sent
            follow_up = tg.message(chat, ed, text="why?", reply_to=reply)
            await deliver(app, tg, follow_up)
            assert (await answer(tg, follow_up, timeout=15))["text"] == "You asked: why?"
        finally:
            await app.stop()
            await app.post_shutdown(app)
            await app.shutdown()
        assert len(server.requests) == 2  # one per question, not one per photo
        for request in server.requests:
            first = request.messages[0]["content"]
            assert [p["type"] for p in first] == ["image_url"] * 4 + ["text"]
            assert len(request.images) == 4
        assert [m["role"] for m in server.requests[1].messages] == ["user", "assistant", "user"]


@pytest.mark.timeout(180)
async def test_with_the_tiny_qwen2_5_vl_one_answer_comes_from_one_prompt_with_every_photo(
    fake_api, tmp_path, tiny_qwen2_5_vl, tiny_clip, monkeypatch
):
    """End to end with the real adapter and the LocalBackend: the model's processor gets the album's 3 photos in
    one call, and a follow-up gets them again."""
    from transformers import Qwen2_5_VLProcessor

    from tests.test_gen_img2img import real_app, stop

    seen: list[int] = []
    original = Qwen2_5_VLProcessor.__call__

    def spy(self, *args, **kwargs):
        inputs = original(self, *args, **kwargs)
        seen.append(len(inputs["image_grid_thw"]))
        return inputs

    monkeypatch.setattr(Qwen2_5_VLProcessor, "__call__", spy)
    tg = fake_api
    app = await real_app(tg, tmp_path, vlm_model=str(tiny_qwen2_5_vl), vlm_max_new_tokens=4, clip_model=str(tiny_clip))
    try:
        app.bot_data["services"].albums.quiet_s = 0.3
        gus = tg.user(8, "Gus")
        chat = tg.private_chat(gus)
        album = await send_album(app, tg, chat, gus, "/ask which is sharpest?", "g8")
        reply = await answer(tg, album[0], timeout=60)
        assert seen == [3]
        await asyncio.sleep(0.3)  # the answer is linked to its conversation right after it is sent
        follow_up = tg.message(chat, gus, text="why?", reply_to=reply)
        await deliver(app, tg, follow_up)
        await answer(tg, follow_up, timeout=60)
        assert seen == [3, 3]
        await asyncio.sleep(0.3)
        answers = [m for m in tg.bot_messages(chat["id"]) if not is_status(m.get("text"))]
        assert len(answers) == 2  # one per question, none per photo
    finally:
        await stop(app)


async def test_the_album_store_keeps_albums_per_chat_moves_them_with_the_chat_and_drops_old_ones(tmp_path):
    import sqlite3

    from bot.stores.albums import AlbumPhoto, AlbumStore

    path = tmp_path / "bot.sqlite3"
    store = AlbumStore(path)
    store.open()
    photos = [AlbumPhoto(f"file{i}", f"key{i}", 100 + i, 10 + i) for i in (2, 0, 1)]
    for photo in photos + photos[:1]:  # seen twice: still one row
        await store.add(-5, "g", photo)
    await store.add(-6, "g", AlbumPhoto("other", "key9", None, 1))
    assert [p.file_unique_id for p in await store.photos(-5, "g")] == ["key0", "key1", "key2"]  # in sent order
    assert [p.file_id for p in await store.photos(-6, "g")] == ["other"]  # the same album id in another chat
    assert await store.migrate(-5, -1005) == 3
    assert await store.photos(-5, "g") == [] and len(await store.photos(-1005, "g")) == 3
    assert await store.forget(-1005) == 3 and await store.photos(-1005, "g") == []
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE album_photos SET created = created - 31 * 86400")
    store.open()  # rows past KEEP_S go on open
    assert await store.photos(-6, "g") == []
    store.close()
