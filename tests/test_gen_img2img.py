"""/gen on a photo (image-to-image), in-process against the fake Bot API with a FakeBackend: the source photo
reaches the worker with the size to fit it to, the caption and the rerun buttons keep it, and bad strengths are
refused with a clear reply."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image
from telegram import Update

from bot import texts
from contract.requests import GenerateRequest
from tests.support.chat import deliver, photo_bytes
from tests.test_handlers import answer


@pytest.fixture
def tg(fake_api):
    return fake_api


def keyboard(message: dict) -> dict[str, str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def drawn(app) -> list[GenerateRequest]:
    return [r for r in app.bot_data["backend"].requests if isinstance(r, GenerateRequest)]


async def press(app, tg, message: dict, data: str, user: dict) -> None:
    query = tg.press_button(message, data, user)
    update_id = tg.pending_updates()[-1]["update_id"]
    await app.process_update(Update.de_json({"update_id": update_id, "callback_query": query}, app.bot))


async def wait_for(predicate, timeout: float = 5.0):
    for _ in range(int(timeout / 0.01)):
        if found := predicate():
            return found
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_gen_as_a_photos_caption_redraws_it_and_a_rerun_redraws_the_same_photo(start_app, tg):
    app = await start_app(gen_model_kind="turbo")
    ann = tg.user(1, "Ann")
    chat = tg.private_chat(ann)
    source = photo_bytes(3, size=(300, 150))
    request = tg.message(chat, ann, photo=source, caption="/gen a watercolour painting --seed 7 --steps 2")
    await deliver(app, tg, request)
    result = await answer(tg, request)
    # the photo's shape (2:1) at the model's default pixel count (512x512), sides multiples of 64
    assert result["caption"] == (
        "a watercolour painting\n🌱 seed 7 · 2 steps · 704×384 · 🖼 from the photo, strength 0.5"
    )
    (work,) = drawn(app)
    assert work.source is not None and work.source.size == (300, 150) and work.strength == 0.5
    assert (work.width, work.height, work.steps, work.denoising_steps) == (704, 384, 2, 1)
    original = work.source.tobytes()

    buttons = keyboard(result)
    await press(app, tg, result, buttons[texts.BUTTON_SAME_SEED.en], ann)
    await wait_for(lambda: len(drawn(app)) == 2)
    await press(app, tg, result, buttons[texts.BUTTON_NEW_SEED.en], ann)
    await wait_for(lambda: len(drawn(app)) == 3)
    same, fresh = drawn(app)[1:]
    for rerun in (same, fresh):  # the same photo, downloaded again by its file_id
        assert rerun.source is not None and rerun.source.tobytes() == original
        assert (rerun.prompt, rerun.strength, rerun.width, rerun.height) == ("a watercolour painting", 0.5, 704, 384)
    assert same.seed == 7 and fresh.seed != 7
    reruns = await wait_for(
        lambda: (
            [m for m in tg.bot_messages(chat["id"]) if m.get("photo") and m["message_id"] != result["message_id"]]
            if len([m for m in tg.bot_messages(chat["id"]) if m.get("photo")]) == 3
            else None
        )
    )
    assert all("🖼 from the photo, strength 0.5" in m["caption"] for m in reruns)


async def test_gen_replying_to_a_photo_redraws_it_at_the_given_strength_and_size(start_app, tg):
    app = await start_app(gen_model_kind="turbo")
    bo = tg.user(2, "Bo")
    chat = tg.private_chat(bo)
    photo = tg.message(chat, bo, photo=photo_bytes(4))
    await deliver(app, tg, photo)
    request = tg.message(chat, bo, text="/gen an oil painting --strength 0.75 --steps 4 --size 256", reply_to=photo)
    await deliver(app, tg, request)
    result = await answer(tg, request)
    assert result["caption"].endswith("4 steps · 256×256 · 🖼 from the photo, strength 0.75")
    (work,) = drawn(app)
    assert work.source is not None and (work.width, work.height, work.strength, work.denoising_steps) == (
        256,
        256,
        0.75,
        3,
    )
    png = tg.file_bytes(result["photo"][-1]["file_id"])
    assert Image.open(io.BytesIO(png)).format == "PNG"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("--steps 1", texts.no_step_to_run(1, 0.5)),  # 1 step × the default 0.5 runs nothing
        ("--steps 2 --strength 0.4", texts.no_step_to_run(2, 0.4)),
        ("--strength 0.2", texts.no_step_to_run(4, 0.2)),  # even turbo's 4 steps run none at 0.2
        ("--strength 1.5", texts.strength_range(0.1, 1.0)),
        ("--strength 0.05 --steps 4", texts.strength_range(0.1, 1.0)),
        ("--strength lots", texts.strength_range(0.1, 1.0)),
    ],
)
async def test_bad_strengths_are_refused_before_anything_is_drawn(start_app, tg, options, expected):
    app = await start_app(gen_model_kind="turbo")
    cy = tg.user(3, "Cy")
    request = tg.message(tg.private_chat(cy), cy, photo=photo_bytes(5), caption=f"/gen a fox {options}")
    await deliver(app, tg, request)
    assert (await answer(tg, request))["text"] == expected.en
    assert not drawn(app)


@pytest.mark.parametrize(
    ("options", "steps", "strength"), [("", 2, 0.5), ("--strength 0.3", 4, 0.3), ("--strength 1", 1, 1.0)]
)
async def test_without_steps_a_redraw_takes_the_fewest_steps_that_run_one(start_app, tg, options, steps, strength):
    app = await start_app(gen_model_kind="turbo")
    ed = tg.user(5, "Ed")
    request = tg.message(tg.private_chat(ed), ed, photo=photo_bytes(6), caption=f"/gen a fox {options}")
    await deliver(app, tg, request)
    await answer(tg, request)
    (work,) = drawn(app)
    assert (work.steps, work.strength, work.denoising_steps) == (steps, strength, 1)


async def test_strength_without_a_photo_is_refused_and_plain_gen_stays_text_to_image(start_app, tg):
    app = await start_app(gen_model_kind="turbo")
    di = tg.user(4, "Di")
    chat = tg.private_chat(di)
    refused = tg.message(chat, di, text="/gen a fox --strength 0.5 --steps 2")
    await deliver(app, tg, refused)
    assert (await answer(tg, refused))["text"] == texts.STRENGTH_NEEDS_PHOTO.en
    plain = tg.message(chat, di, text="/gen a fox --steps 2")
    await deliver(app, tg, plain)
    assert "🖼" not in (await answer(tg, plain))["caption"]
    (work,) = drawn(app)
    assert work.source is None and (work.width, work.height) == (512, 512)


async def real_app(fake_api, tmp_path, **models):
    """The whole bot in this process with its real LocalBackend and tiny models (no FakeBackend)."""
    from bot.app import build_application
    from bot.settings import Settings
    from tests.support.bot_process import TOKEN

    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_base_url=fake_api.base_url,
        telegram_base_file_url=fake_api.base_file_url,
        data_dir=tmp_path,
        device="cpu",
        quota_per_minute={"*": 0},
        quota_per_day={"*": 0},
        **models,
    )
    app = build_application(settings)
    await app.initialize()
    await app.post_init(app)
    await app.start()
    return app


async def stop(app) -> None:
    await app.stop()
    await app.post_shutdown(app)
    await app.shutdown()


@pytest.mark.timeout(180)
async def test_with_the_tiny_sdxl_a_redraw_and_its_same_seed_rerun_are_the_same_picture(
    fake_api, tmp_path, tiny_sdxl, tiny_clip
):
    """End to end with the real adapter: the photo is redrawn at the asked size, 🔁 downloads the same photo again
    and draws the very same PNG, 🎲 another one."""
    tg = fake_api
    app = await real_app(tg, tmp_path, gen_model=str(tiny_sdxl), gen_model_kind="turbo", clip_model=str(tiny_clip))
    try:
        fay = tg.user(7, "Fay")
        chat = tg.private_chat(fay)
        request = tg.message(chat, fay, photo=photo_bytes(8, size=(320, 200)), caption="/gen ink --seed 3 --size 256")
        await deliver(app, tg, request)
        result = await answer(tg, request, timeout=60)
        assert result["caption"] == "ink\n🌱 seed 3 · 2 steps · 256×256 · 🖼 from the photo, strength 0.5"
        png = tg.file_bytes(result["photo"][-1]["file_id"])
        assert Image.open(io.BytesIO(png)).size == (256, 256)
        assert b"Denoising strength: 0.5" in png

        def photos() -> list[dict]:
            return [m for m in tg.bot_messages(chat["id"]) if m.get("photo")]

        await press(app, tg, result, keyboard(result)[texts.BUTTON_SAME_SEED.en], fay)
        await wait_for(lambda: len(photos()) == 2, timeout=60)
        await press(app, tg, result, keyboard(result)[texts.BUTTON_NEW_SEED.en], fay)
        await wait_for(lambda: len(photos()) == 3, timeout=60)
        same, fresh = (tg.file_bytes(m["photo"][-1]["file_id"]) for m in photos()[1:])
        assert same == png  # the same seed redrawing the same source photo
        assert fresh != png
    finally:
        await stop(app)
