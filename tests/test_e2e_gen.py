"""End to end: /gen, its rerun buttons, /safety and /classify in the real bot process with the tiny SDXL and ViT."""

from __future__ import annotations

import io
import re
import sqlite3
import time

import numpy as np
import pytest
from PIL import Image

from bot import texts
from bot.imaging.decode import decode_image
from bot.settings import Settings
from contract.requests import ClassifyRequest, GenerateRequest, Task
from contract.worker import Interrupt
from tests.support.bot_process import TOKEN, BotProcess
from tests.support.chat import answer_to, is_status, photo_bytes, replies_to
from tests.support.fake_telegram import FakeTelegram
from tests.support.tiny_models import VIT_LABELS

pytestmark = pytest.mark.timeout(120)

ADMIN = 9000
ALLOWED = range(9001, 9100)  # ALLOWED_USER_IDS of the shared bot
STRANGER = 9999  # on no list
SIZE = "--size 256"  # the smallest size users may ask for; keeps the tiny pipeline fast


@pytest.fixture(scope="module")
def gen_bot(tmp_path_factory, tiny_sdxl, tiny_vit):
    """One bot with the tiny SDXL and ViT, a prompt blocklist, an admin and an allow-list of users."""
    telegram = FakeTelegram(TOKEN).start()
    bot = BotProcess(
        telegram,
        tmp_path_factory.mktemp("gen-bot"),
        gen_model=tiny_sdxl,
        classify_model=tiny_vit,
        gen_prompt_blocklist="forbiddenword, blood bath",
        admin_user_ids=str(ADMIN),
        allowed_user_ids=",".join(map(str, ALLOWED)),
    ).start()
    yield bot
    bot.stop()
    telegram.stop()
    assert TOKEN.split(":")[1] not in bot.logs()


@pytest.fixture(scope="module")
def ids():
    return iter(ALLOWED)


@pytest.fixture
def tg(gen_bot):
    return gen_bot.telegram


@pytest.fixture
def user(tg, ids):
    return tg.user(next(ids), "Ann")


@pytest.fixture
def chat(tg, user):
    return tg.private_chat(user)


@pytest.fixture(scope="module")
def reference(tiny_sdxl, tiny_vit):
    """The same models in this process, to know what the bot must send."""
    from models.pool import ModelPool

    pool = ModelPool(
        Settings(telegram_bot_token="t", gen_model=str(tiny_sdxl), classify_model=str(tiny_vit), device="cpu")
    )

    class Reference:
        @staticmethod
        def png(prompt: str, seed: int, size: int = 256) -> bytes:
            request = GenerateRequest(prompt, seed, steps=1, width=size, height=size, guidance=0.0)
            return pool.run(Task.GENERATE, [request], Interrupt())[0].images[0].png

        @staticmethod
        def labels(data: bytes) -> tuple[tuple[str, float], ...]:
            request = ClassifyRequest(decode_image(data, 40_000_000))
            return pool.run(Task.CLASSIFY, [request], Interrupt())[0].labels

    return Reference()


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def same_picture(a: bytes, b: bytes) -> bool:
    """Equal up to float rounding (the bot runs torch on one thread, this process on more)."""
    x, y = pixels(a), pixels(b)
    return x.shape == y.shape and np.abs(x - y).max() <= 1 and (x != y).mean() < 0.001


def photo_png(tg: FakeTelegram, message: dict) -> bytes:
    return tg.file_bytes(message["photo"][-1]["file_id"])


def keyboard(message: dict) -> dict[str, str]:
    """Button text -> callback_data."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def callback_answer(tg: FakeTelegram, query: dict) -> dict:
    call = tg.wait_for_call("answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query["id"])
    assert call.ok, call.result
    return call.params


def new_reply(tg: FakeTelegram, to: dict, timeout: float = 60.0) -> dict:
    """The bot's final answer to `to` (a user's request or a bot message whose button was pressed)."""
    return answer_to(tg, to, timeout=timeout)


# -- one image, an album, a file ------------------------------------------------------------------


def test_one_image_is_a_photo_with_prompt_seed_and_settings_and_buttons(tg, user, chat, reference):
    request = tg.send_message(chat, user, text=f"/gen a red fox in the snow --seed 42 {SIZE}")
    answer = new_reply(tg, request)
    assert answer["caption"] == "a red fox in the snow\n🌱 seed 42 · 1 step · 256×256"
    assert set(keyboard(answer)) == {texts.BUTTON_SAME_SEED.en, texts.BUTTON_NEW_SEED.en}
    assert all(len(data.encode()) <= 64 for data in keyboard(answer).values())
    png = photo_png(tg, answer)
    assert Image.open(io.BytesIO(png)).size == (256, 256)
    assert same_picture(png, reference.png("a red fox in the snow", 42))
    assert "upload_photo" in tg.chat_actions(chat["id"])
    assert [m["message_id"] for m in tg.bot_messages(chat["id"])] == [answer["message_id"]]  # no status left over


def test_two_images_are_an_album_with_the_buttons_under_it(tg, user, chat):
    request = tg.send_message(chat, user, text=f"/gen two cats --n 2 --seed 5 {SIZE}")
    first = new_reply(tg, request)
    album = [m for m in replies_to(tg, request) if m.get("media_group_id")]
    assert len(album) == 2 and {m["media_group_id"] for m in album} == {first["media_group_id"]}
    assert album[0]["caption"] == "two cats\n🌱 seeds 5–6 · 1 step · 256×256" and "caption" not in album[1]
    more = new_reply(tg, album[0], timeout=20)
    assert more["text"] == texts.GEN_MORE.en and set(keyboard(more)) == {
        texts.BUTTON_SAME_SEED.en,
        texts.BUTTON_NEW_SEED.en,
    }
    assert photo_png(tg, album[0]) != photo_png(tg, album[1])


def test_file_option_sends_a_full_quality_png_document(tg, user, chat, reference):
    request = tg.send_message(chat, user, text=f"/gen a lighthouse at dusk --seed 3 {SIZE} --file")
    answer = new_reply(tg, request)
    document = answer["document"]
    assert document["file_name"] == "gen-3.png" and document["mime_type"] == "image/png"
    data = tg.file_bytes(document["file_id"])
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (256, 256)
    assert "Seed: 3" in image.info["parameters"]
    assert same_picture(data, reference.png("a lighthouse at dusk", 3))
    assert set(keyboard(answer)) == {texts.BUTTON_SAME_SEED.en, texts.BUTTON_NEW_SEED.en}

    two = tg.send_message(chat, user, text=f"/gen a lighthouse at dusk --seed 3 {SIZE} --file --n 2")
    new_reply(tg, two)
    files = [m for m in replies_to(tg, two) if m.get("media_group_id")]
    assert [m["document"]["file_name"] for m in files] == ["gen-3.png", "gen-4.png"]
    assert all(tg.file_bytes(m["document"]["file_id"]).startswith(b"\x89PNG") for m in files)
    assert new_reply(tg, files[0], timeout=20)["text"] == texts.GEN_MORE.en


def test_the_same_seed_gives_identical_bytes_and_a_new_seed_other_ones(tg, user, chat):
    # One after the other: requests waiting together are batched, and a batched image may differ from a
    # lone one by float rounding (test_models_sdxl bounds that); on its own, a seed gives the same bytes.
    first, again, other = (
        photo_png(tg, new_reply(tg, tg.send_message(chat, user, text=f"/gen a blue bird --seed {seed} {SIZE}")))
        for seed in (9, 9, 10)
    )
    assert first == again
    assert first != other and not same_picture(first, other)


# -- options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("a fox --seed 99999999999", "--seed must be a whole number from 0 to 4294967295."),
        ("a fox --steps 9", "--steps must be a whole number from 1 to 4."),
        ("a fox --size 300x256", texts.size_range(256, 1024).en),
        ("a fox --n 7", "--n must be a whole number from 1 to 4."),
        ("a fox --no blurry", texts.NEGATIVE_UNSUPPORTED.en),
        ("a fox --style anime", texts.unknown_option("style").en),
        ("a fox --n 2 --n 3", "--n is given twice."),
        ("a fox --steps", "--steps needs a value, e.g. --steps 2"),
        ("a fox --seed 1 at night", texts.stray_words("at night").en),
        ("--n 2", texts.GEN_PROMPT_FIRST.en),
        ("y" * 501, texts.too_long("prompt", 501, 500).en),
    ],
)
def test_every_invalid_option_gets_its_message(tg, user, chat, args, message):
    request = tg.send_message(chat, user, text=f"/gen {args}")
    assert new_reply(tg, request, timeout=20)["text"] == message


def test_gen_alone_explains_the_options_with_the_models_ranges(tg, user, chat):
    text = new_reply(tg, tg.send_message(chat, user, text="/gen"), timeout=20)["text"]
    assert "--steps N — more steps, more detail (1–4)" in text and "from 256 to 1024" in text
    assert "--no" not in text  # a turbo model takes no negative prompt
    help_text = new_reply(tg, tg.send_message(chat, user, text="/help"), timeout=20)["text"]
    assert texts.COMMANDS["gen"].details.en in help_text and "/safety — " in help_text and "(admins)" in help_text


# -- rerun buttons ---------------------------------------------------------------------------------


def test_rerun_with_the_same_seed_and_with_a_new_seed(tg, user, chat):
    original = new_reply(tg, tg.send_message(chat, user, text=f"/gen a paper boat --seed 77 {SIZE}"))
    buttons = keyboard(original)

    same = tg.press_button(original, buttons[texts.BUTTON_SAME_SEED.en], user)
    assert callback_answer(tg, same).get("text") == texts.BUTTON_ACCEPTED.en
    rerun = new_reply(tg, original)
    assert rerun["caption"] == original["caption"]
    assert photo_png(tg, rerun) == photo_png(tg, original)

    fresh = tg.press_button(original, buttons[texts.BUTTON_NEW_SEED.en], user)
    callback_answer(tg, fresh)
    deadline = time.monotonic() + 60
    while len([m for m in replies_to(tg, original) if "photo" in m]) < 2:
        assert time.monotonic() < deadline, "no rerun with a new seed"
        time.sleep(0.05)
    newer = [m for m in replies_to(tg, original) if "photo" in m][-1]
    seed = int(re.search(r"seed (\d+)", newer["caption"]).group(1))
    assert seed != 77 and newer["caption"].startswith("a paper boat\n")
    assert photo_png(tg, newer) != photo_png(tg, original)
    assert set(keyboard(newer)) == {texts.BUTTON_SAME_SEED.en, texts.BUTTON_NEW_SEED.en}  # reruns can be rerun


def test_in_a_group_a_rerun_runs_for_whoever_pressed_and_strangers_are_refused(tg, ids, gen_bot):
    ann, bob = tg.user(next(ids), "Ann"), tg.user(next(ids), "Bob")
    stranger = tg.user(STRANGER, "Eve")
    group = tg.group_chat(-next(ids), "Friends")
    original = new_reply(tg, tg.send_message(group, ann, text=f"/gen a tiny robot --seed 8 {SIZE}"))

    refused = tg.press_button(original, keyboard(original)[texts.BUTTON_SAME_SEED.en], stranger)
    answer = callback_answer(tg, refused)
    assert answer.get("text") == texts.NOT_ALLOWED.en and answer.get("show_alert") is True

    pressed = tg.press_button(original, keyboard(original)[texts.BUTTON_SAME_SEED.en], bob)
    callback_answer(tg, pressed)
    rerun = new_reply(tg, original)
    assert rerun["caption"] == "a tiny robot\n🌱 seed 8 · 1 step · 256×256\n🔁 for Bob"
    assert photo_png(tg, rerun) == photo_png(tg, original)
    time.sleep(0.5)  # the stranger's press must not have queued anything meanwhile
    assert len([m for m in replies_to(tg, original) if "photo" in m]) == 1
    # The rerun was Bob's job (his caps, his /cancel), not Ann's, and the stranger queued nothing.
    assert f"queued: gen for user {bob['id']} " in gen_bot.logs()
    assert f"for user {STRANGER} " not in gen_bot.logs()


def test_an_expired_button_says_so(tg, user, chat, gen_bot):
    original = new_reply(tg, tg.send_message(chat, user, text=f"/gen an old map --seed 4 {SIZE}"))
    with sqlite3.connect(gen_bot.workdir / "data" / "bot.sqlite3") as db:
        db.execute("DELETE FROM gen_buttons WHERE prompt = 'an old map'")
    query = tg.press_button(original, keyboard(original)[texts.BUTTON_NEW_SEED.en], user)
    answer = callback_answer(tg, query)
    assert answer.get("text") == texts.BUTTON_EXPIRED.en and answer.get("show_alert") is True
    time.sleep(0.5)
    assert replies_to(tg, original) == []


def test_a_button_the_bot_does_not_know_is_answered(tg, user, chat):
    message = tg.message(chat, None)
    query = {"id": "77", "from": user, "message": message, "chat_instance": "1", "data": "old:thing"}
    tg.inject(query, "callback_query")
    assert callback_answer(tg, query).get("text") == texts.BUTTON_UNKNOWN.en


# -- safety ----------------------------------------------------------------------------------------


def test_a_blocked_prompt_is_not_drawn(tg, user, chat):
    before = len(tg.calls("sendPhoto"))
    request = tg.send_message(chat, user, text=f"/gen a Blood  Bath on a hill {SIZE}")
    assert new_reply(tg, request, timeout=20)["text"] == texts.PROMPT_BLOCKED.en
    assert len(tg.calls("sendPhoto")) == before and len(replies_to(tg, request)) == 1


def test_safety_switch_is_for_admins(tg, user, chat):
    refused = tg.send_message(chat, user, text="/safety off")
    assert new_reply(tg, refused, timeout=20)["text"] == texts.ADMINS_ONLY.en
    admin = tg.user(ADMIN, "Root")
    status = new_reply(tg, tg.send_message(tg.private_chat(admin), admin, text="/safety"), timeout=20)["text"]
    assert status == texts.safety_status(True, "", 2).en
    wrong = new_reply(tg, tg.send_message(tg.private_chat(admin), admin, text="/safety maybe"), timeout=20)
    assert wrong["text"] == texts.SAFETY_USAGE.en


# -- /classify ---------------------------------------------------------------------------------------


def test_classify_gives_five_labels_whose_probabilities_sum_to_at_most_one(tg, user, chat, reference):
    data = photo_bytes(21)
    for request in (
        tg.send_message(chat, user, photo=data, caption="/classify"),
        tg.send_message(chat, user, text="/classify", reply_to=tg.send_message(chat, user, photo=data)),
    ):
        text = new_reply(tg, request)["text"]
        lines = text.splitlines()
        assert len(lines) == 5
        parsed = [re.fullmatch(r"(\d)\. (.+) — ([\d.]+)%", line).groups() for line in lines]
        assert [int(rank) for rank, _, _ in parsed] == [1, 2, 3, 4, 5]
        assert {label for _, label, _ in parsed} <= set(VIT_LABELS)
        probabilities = [float(p) / 100 for _, _, p in parsed]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
        assert text == texts.classification(reference.labels(data))


def test_classify_without_a_photo_says_how(tg, user, chat):
    assert new_reply(tg, tg.send_message(chat, user, text="/classify"), timeout=20)["text"] == texts.CLASSIFY_USAGE.en


# -- the safety checker, and the switch surviving a restart ------------------------------------------


def test_checker_withholds_pictures_and_the_admins_switch_outlives_a_restart(
    new_bot, tiny_sdxl, flagging_safety_checker
):
    tg, bot = new_bot(gen_model=tiny_sdxl, safety_checker_model=flagging_safety_checker, admin_user_ids=str(ADMIN))
    user, admin = tg.user(ADMIN + 1, "Ann"), tg.user(ADMIN, "Root")
    chat, admin_chat = tg.private_chat(user), tg.private_chat(admin)

    def gen(seed: int) -> dict:
        return new_reply(tg, tg.send_message(chat, user, text=f"/gen a sunny meadow --seed {seed} --n 2 {SIZE}"))

    withheld = gen(1)
    assert withheld["text"] == texts.images_withheld(2, 2).en
    assert set(keyboard(withheld)) == {texts.BUTTON_NEW_SEED.en}  # the same seed would be withheld again
    assert tg.calls("sendPhoto") == [] and tg.calls("sendMediaGroup") == []
    assert "safety checker withheld 2 of 2 images" in bot.logs()

    refused = new_reply(tg, tg.send_message(chat, user, text="/safety off"), timeout=20)
    assert refused["text"] == texts.ADMINS_ONLY.en
    assert (
        new_reply(tg, tg.send_message(admin_chat, admin, text="/safety off"), timeout=20)["text"]
        == texts.safety_switched(False).en
    )
    album = gen(2)
    assert album.get("media_group_id")
    buttons_message = new_reply(tg, album, timeout=20)

    bot.stop()
    bot.start()
    status = new_reply(tg, tg.send_message(admin_chat, admin, text="/safety"), timeout=20)["text"]
    assert status == texts.safety_status(False, str(flagging_safety_checker), 0).en
    # Buttons sent before the restart still work: their parameters are in SQLite.
    query = tg.press_button(buttons_message, keyboard(buttons_message)[texts.BUTTON_SAME_SEED.en], user)
    assert callback_answer(tg, query).get("text") == texts.BUTTON_ACCEPTED.en
    rerun = new_reply(tg, buttons_message)
    assert rerun.get("media_group_id") and rerun["caption"] == album["caption"]
    assert photo_png(tg, rerun) == photo_png(tg, album)
    assert gen(3).get("media_group_id")
    assert (
        new_reply(tg, tg.send_message(admin_chat, admin, text="/safety on"), timeout=20)["text"]
        == texts.safety_switched(True).en
    )
    assert gen(4)["text"] == texts.images_withheld(2, 2).en
    assert not any(is_status(m.get("text")) for m in tg.bot_messages(chat["id"]))
