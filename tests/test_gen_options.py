"""/gen's option syntax, the model profile read from the checkpoint, the blocklist, the button store, captions."""

from __future__ import annotations

import json
import sqlite3

import pytest

from bot import texts
from bot.errors import BadInput, ModelUnavailable
from bot.features.gen_options import (
    MAX_NEGATIVE_CHARS,
    MAX_PROMPT_CHARS,
    PROFILES,
    model_kind,
    parse_gen_args,
)
from bot.features.safety import PromptBlocklist
from bot.messaging.access import is_admin, is_allowed
from bot.settings import Settings
from bot.stores.gen_store import GenParams, GenStore
from contract.requests import SEED_LIMIT

TURBO, FULL = PROFILES["turbo"], PROFILES["full"]


# -- the model's kind, without loading it ---------------------------------------------------------


def test_tiny_sdxl_is_turbo_by_its_trailing_scheduler(tiny_sdxl):
    assert model_kind(str(tiny_sdxl)) == "turbo"


def test_a_leading_scheduler_makes_a_full_model_and_the_setting_overrides(tiny_sdxl, tmp_path):
    full = tmp_path / "sdxl-base"
    (full / "scheduler").mkdir(parents=True)
    config = json.loads((tiny_sdxl / "scheduler" / "scheduler_config.json").read_text())
    config.update(_class_name="EulerDiscreteScheduler", timestep_spacing="leading")
    (full / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    assert model_kind(str(full)) == "full"
    assert model_kind(str(full), "turbo") == "turbo"
    config["_class_name"] = "LCMScheduler"
    (full / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    assert model_kind(str(full)) == "turbo"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("stabilityai/sdxl-turbo", "turbo"),
        ("someone/RealVisXL-Lightning-4step", "turbo"),
        ("ByteDance/Hyper-SD", "turbo"),
        ("latent-consistency/lcm-sdxl", "turbo"),
    ],
)
def test_names_of_few_step_models_say_turbo_without_any_download(name, kind):
    assert model_kind(name) == kind


def test_an_unreachable_hub_model_is_unavailable(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable):
        model_kind("nobody/hyperrealism-xl-not-downloaded")  # "hyperrealism" is no "hyper" word: the config decides


# -- option syntax -----------------------------------------------------------------------------


def test_the_documented_example_parses():
    options = parse_gen_args("a red fox --seed 42 --steps 2 --size 768x512 --n 3 --no blurry, text --file", FULL)
    assert options == GenParams(
        "a red fox", seed=42, steps=2, width=768, height=512, count=3, negative_prompt="blurry, text", as_file=True
    )


def test_defaults_come_from_the_profile():
    assert parse_gen_args("a  red\nfox", TURBO) == GenParams("a red fox", None, steps=1, width=512, height=512)
    assert parse_gen_args("a red fox", FULL) == GenParams("a red fox", None, steps=25, width=1024, height=1024)
    seeded = parse_gen_args("a red fox", FULL).seeded()
    assert seeded.seed is not None and 0 <= seeded.seed < SEED_LIMIT
    assert parse_gen_args("a red fox --seed 7", FULL).seeded().seed == 7


def test_params_become_the_workers_request():
    params = GenParams("a red fox", 42, steps=2, width=768, height=512, count=3, negative_prompt="blurry")
    request = params.request(guidance=5.0, check_safety=True)
    assert (
        request.prompt,
        request.seeds,
        request.steps,
        request.width,
        request.height,
        request.guidance,
        request.negative_prompt,
        request.check_safety,
    ) == ("a red fox", (42, 43, 44), 2, 768, 512, 5.0, "blurry", True)


def test_dashes_from_phone_keyboards_and_square_sizes():
    options = parse_gen_args("a fox —seed 7 –size 256 --N 2", TURBO)
    assert (options.seed, options.width, options.height, options.count) == (7, 256, 256, 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("a fox --seed -1", "--seed must be a whole number from 0 to 4294967295."),
        ("a fox --seed 4294967296", "--seed must be a whole number from 0 to 4294967295."),
        ("a fox --seed abc", "--seed must be a whole number from 0 to 4294967295."),
        ("a fox --steps 0", "--steps must be a whole number from 1 to 4."),
        ("a fox --steps 5", "--steps must be a whole number from 1 to 4."),
        ("a fox --steps 2.5", "--steps must be a whole number from 1 to 4."),
        ("a fox --n 5", "--n must be a whole number from 1 to 4."),
        ("a fox --n 0", "--n must be a whole number from 1 to 4."),
        ("a fox --size 100x512", texts.size_range(256, 1024)),
        ("a fox --size 512x2048", texts.size_range(256, 1024)),
        ("a fox --size 192", texts.size_range(256, 1024)),
        ("a fox --size big", texts.size_range(256, 1024)),
        ("a fox --seed", "--seed needs a value, e.g. --seed 42"),
        ("a fox --size --n 2", "--size needs a value, e.g. --size 768x512"),
        ("a fox --ar 16:9", texts.unknown_option("ar")),
        ("a fox --seed 1 --seed 2", "--seed is given twice."),
        ("a fox --seed 1 in the snow", texts.stray_words("in the snow")),
        ("--seed 4 a fox", texts.GEN_PROMPT_FIRST),
        ("a fox --no blurry", texts.NEGATIVE_UNSUPPORTED),
        ("x" * (MAX_PROMPT_CHARS + 1), texts.too_long("prompt", MAX_PROMPT_CHARS + 1, MAX_PROMPT_CHARS)),
    ],
)
def test_each_bad_option_is_named_with_its_range(args, message):
    with pytest.raises(BadInput) as caught:
        parse_gen_args(args, TURBO)
    assert str(caught.value.user_message) == str(message)


def test_full_models_take_more_steps_larger_sizes_and_negative_prompts():
    assert parse_gen_args("a fox --steps 50 --size 1536x640", FULL).steps == 50
    with pytest.raises(BadInput, match="--steps"):
        parse_gen_args("a fox --steps 51", FULL)
    with pytest.raises(BadInput) as caught:
        parse_gen_args("a fox --no --seed 3", FULL)
    assert str(caught.value.user_message) == "--no needs a value, e.g. --no blurry, text"
    with pytest.raises(BadInput) as caught:
        parse_gen_args("a fox --no " + "y" * (MAX_NEGATIVE_CHARS + 1), FULL)
    assert "--no is too long" in str(caught.value.user_message)


def test_profiles_check_settings_saved_under_another_model():
    assert FULL.allows(25, 1024, 1024, 2, "blurry")
    assert not TURBO.allows(25, 512, 512, 1, None)
    assert not TURBO.allows(1, 512, 512, 1, "blurry")
    assert not TURBO.allows(1, 1536, 512, 1, None)


# -- captions ------------------------------------------------------------------------------------


def test_caption_shows_prompt_seeds_and_settings_within_telegrams_limit():
    line = texts.gen_settings_line((42, 43), 2, 768, 512, "blurry").en
    assert line == "🌱 seeds 42–43 · 2 steps · 768×512 · no: blurry"
    assert texts.gen_settings_line((42, 44), 1, 512, 512, None).en == "🌱 seeds 42, 44 · 1 step · 512×512"
    assert (
        texts.gen_settings_line((42, 43), 2, 768, 512, "blurry").zh == "🌱 种子 42–43 · 2 步 · 768×512 · 避免：blurry"
    )
    caption = texts.gen_caption("a red fox", [line])
    assert caption == "a red fox\n" + line
    long = texts.gen_caption("🦊" * 600, [line, texts.rerun_for("Bob").en])
    assert len(long.encode("utf-16-le")) // 2 <= 1024 and long.endswith("🔁 for Bob") and "…" in long


# -- blocklist ----------------------------------------------------------------------------------


def test_blocklist_matches_whole_words_phrases_and_prefixes_in_any_case_or_width():
    blocklist = PromptBlocklist(["gore", "blood bath", "nud*", " "])
    assert len(blocklist) == 3
    assert blocklist.match("Some GORE, please") == "gore"
    assert blocklist.match("a blood   bath") == "blood   bath"
    assert blocklist.match("ｎｕｄｅ figure") == "nud"
    assert blocklist.match("Edward Gorey drawing") is None
    assert blocklist.match("a bloody bathtub") is None
    assert PromptBlocklist([]).match("anything") is None


def test_blocklist_setting_is_comma_separated(monkeypatch):
    monkeypatch.setenv("GEN_PROMPT_BLOCKLIST", "gore, blood bath ,,nud*")
    assert Settings(telegram_bot_token="t").gen_prompt_blocklist == ("gore", "blood bath", "nud*")


# -- access -------------------------------------------------------------------------------------


def _update(user_id: int, chat_id: int):
    from telegram import Update

    chat_type = "private" if chat_id > 0 else "group"
    message = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": chat_id, "type": chat_type},
        "from": {"id": user_id, "is_bot": False, "first_name": "U"},
        "text": "/gen x",
    }
    return Update.de_json({"update_id": 1, "message": message}, None)


def test_access_lists_and_admins():
    open_bot = Settings(telegram_bot_token="t")
    assert is_allowed(_update(1, 1), open_bot) and not is_admin(_update(1, 1), open_bot)  # no admins unless named
    closed = Settings(telegram_bot_token="t", allowed_user_ids="5", allowed_chat_ids="-100", admin_user_ids="9")
    assert is_allowed(_update(5, 1), closed) and is_allowed(_update(6, -100), closed)
    assert is_allowed(_update(9, 1), closed) and is_admin(_update(9, 1), closed)
    assert not is_allowed(_update(6, 1), closed) and not is_admin(_update(5, 1), closed)


# -- the button store ---------------------------------------------------------------------------


def test_button_parameters_outlive_a_reopen_and_stay_in_their_chat(tmp_path):
    path = tmp_path / "bot.sqlite3"
    store = GenStore(path)
    store.open()
    params = GenParams(
        "a red fox", seed=42, steps=2, width=768, height=512, count=3, negative_prompt="blurry", as_file=True
    )
    key = store.remember(params, chat_id=10, user_id=1)
    assert len(f"gen:same:{key}".encode()) <= 64
    store.set_flag("gen_safety", "off", changed_by=9)
    store.close()

    again = GenStore(path)
    again.open()
    assert again.recall(key, chat_id=10) == params
    assert again.recall(key, chat_id=11) is None  # another chat can't replay it
    assert again.recall("nope", chat_id=10) is None
    assert again.flag("gen_safety") == "off" and again.flag("other") is None
    again.close()


def test_expired_buttons_are_forgotten_and_pruned(tmp_path):
    store = GenStore(tmp_path / "bot.sqlite3", ttl_s=60)
    store.open()
    old = store.remember(GenParams("old", 1, 1, 256, 256), chat_id=1, user_id=1)
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        db.execute("UPDATE gen_buttons SET created = created - 120 WHERE key = ?", (old,))
    assert store.recall(old, chat_id=1) is None
    new = store.remember(GenParams("new", 2, 1, 256, 256), chat_id=1, user_id=1)
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        keys = {k for (k,) in db.execute("SELECT key FROM gen_buttons")}
    assert keys == {new}
    store.close()


def test_a_redraws_source_photo_and_strength_are_kept_and_an_older_file_gains_their_columns(tmp_path):
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as db:  # the table as the first release created it
        db.execute(
            "CREATE TABLE gen_buttons (key TEXT PRIMARY KEY, chat_id INTEGER NOT NULL, user_id INTEGER NOT NULL,"
            " created REAL NOT NULL, prompt TEXT NOT NULL, seed INTEGER NOT NULL, steps INTEGER NOT NULL,"
            " width INTEGER NOT NULL, height INTEGER NOT NULL, count INTEGER NOT NULL, negative_prompt TEXT,"
            " as_file INTEGER NOT NULL)"
        )
        db.execute("INSERT INTO gen_buttons VALUES ('old', 1, 1, 9e9, 'a fox', 3, 1, 512, 512, 1, NULL, 0)")
    store = GenStore(path)
    store.open()
    assert store.recall("old", chat_id=1) == GenParams("a fox", 3, 1, 512, 512)
    redraw = GenParams("ink", 5, 2, 512, 384, source_file_id="AgAC-photo", strength=0.6)
    key = store.remember(redraw, chat_id=1, user_id=1)
    assert store.recall(key, chat_id=1) == redraw
    store.close()


@pytest.mark.parametrize(
    ("photo", "size"),
    [((300, 150), (704, 384)), ((150, 300), (384, 704)), ((640, 640), (512, 512)), ((20000, 100), (1024, 256))],
)
def test_a_redraw_without_size_takes_the_photos_shape_at_the_default_pixel_count(photo, size):
    params = parse_gen_args("a fox", TURBO, on_photo=True, photo_size=photo)
    assert (params.width, params.height) == size and params.strength == 0.5 and params.steps == 2
    sized = parse_gen_args("a fox --size 768x512", TURBO, on_photo=True, photo_size=photo)
    assert (sized.width, sized.height) == (768, 512)
    assert parse_gen_args("a fox", TURBO).strength is None  # text-to-image: no strength
