"""Shared fixtures: tiny checkpoints built once per session, and the real bot process against a fake Bot API."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from tests.support import tiny_models
from tests.support.bot_process import ADMIN, TOKEN, BotProcess
from tests.support.fake_telegram import FakeTelegram

# DTYPE=auto picks bf16 on CPUs that have it: tests pin fp32 so that results don't depend on the machine
# (the bot processes inherit it). Tests of the choice itself set DTYPE themselves.
os.environ.setdefault("DTYPE", "float32")


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> Path:
    """The folder that tiny checkpoints are built into, once per session."""
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture(scope="session")
def tiny_blip(checkpoints) -> Path:
    return tiny_models.build_blip_caption(checkpoints / "blip")


@pytest.fixture(scope="session")
def tiny_sdxl(checkpoints) -> Path:
    return tiny_models.build_sdxl(checkpoints / "sdxl")


@pytest.fixture(scope="session")
def tiny_vit(checkpoints) -> Path:
    return tiny_models.build_vit(checkpoints / "vit")


@pytest.fixture(scope="session")
def flagging_safety_checker(checkpoints) -> Path:
    """A tiny safety checker whose thresholds are below any score: it flags every image."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    path = tiny_models.build_sd_safety_checker(checkpoints / "safety-checker")
    checker = StableDiffusionSafetyChecker.from_pretrained(str(path))
    checker.concept_embeds_weights.data.fill_(-2.0)
    checker.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_clip(checkpoints) -> Path:
    return tiny_models.build_clip(checkpoints / "clip")


@pytest.fixture(scope="session")
def tiny_chinese_clip(checkpoints) -> Path:
    return tiny_models.build_chinese_clip(checkpoints / "chinese-clip")


@pytest.fixture(scope="session")
def user_ids():
    """Fresh Telegram user ids, so tests sharing one bot never see each other's chats."""
    return itertools.count(1000)


@pytest.fixture
def new_bot(tmp_path):
    """Start a fresh bot process (with its own fake Telegram) for tests that need a pristine queue."""
    started: list[tuple[FakeTelegram, BotProcess]] = []

    def start(prepare=None, **settings) -> tuple[FakeTelegram, BotProcess]:
        telegram = FakeTelegram(TOKEN).start()
        bot = BotProcess(telegram, tmp_path / f"bot{len(started)}", **settings)
        started.append((telegram, bot))
        if prepare is not None:
            prepare(telegram)  # e.g. updates waiting before the bot's first getUpdates
        bot.start()
        return telegram, bot

    yield start
    for telegram, bot in started:
        bot.stop()
        telegram.stop()
        assert TOKEN.split(":")[1] not in bot.logs()


@pytest.fixture
def fake_api():
    """A fresh fake Bot API server for one test."""
    server = FakeTelegram(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
async def start_app(fake_api, tmp_path):
    """Builds and starts the whole bot in this process on `fake_api`, with a FakeBackend and the given
    settings (quotas off unless given); everything started is stopped afterwards."""
    from bot.app import build_application
    from bot.settings import Settings
    from tests.support.fake_backend import FakeBackend

    started = []

    async def start(**settings):
        backend = FakeBackend()
        settings = {"quota_per_minute": {"*": 0}, "quota_per_day": {"*": 0}, **settings}
        application = build_application(
            Settings(
                telegram_bot_token=TOKEN,
                telegram_base_url=fake_api.base_url,
                telegram_base_file_url=fake_api.base_file_url,
                data_dir=tmp_path / f"data{len(started)}",
                **settings,
            ),
            backend=backend,
        )
        await application.initialize()
        await application.post_init(application)
        await application.start()
        application.bot_data["backend"] = backend
        started.append(application)
        return application

    yield start
    for application in started:
        await application.stop()
        await application.post_shutdown(application)
        await application.shutdown()


@pytest.fixture(scope="session")
def caption_bot(tmp_path_factory, tiny_blip):
    """One bot process with the tiny BLIP, shared by the end-to-end tests that don't need a fresh one."""
    telegram = FakeTelegram(TOKEN).start()
    # The admin has opened a private chat with the bot: Telegram refuses a menu scope for a chat it never saw.
    telegram.private_chat(telegram.user(ADMIN, "Root"))
    bot = BotProcess(
        telegram, tmp_path_factory.mktemp("caption-bot"), caption_model=tiny_blip, admin_user_ids=str(ADMIN)
    ).start()
    yield bot
    bot.stop()
    telegram.stop()


@pytest.fixture(scope="session")
def full_bot(tmp_path_factory, tiny_blip, tiny_clip, tiny_vit, tiny_sdxl, tiny_qwen2_5_vl):
    """One bot process with every command's tiny model, shared by the bad-input and language suites."""
    telegram = FakeTelegram(TOKEN).start()
    telegram.private_chat(telegram.user(ADMIN, "Root"))  # the admin has talked to the bot (menu scopes)
    bot = BotProcess(
        telegram,
        tmp_path_factory.mktemp("full-bot"),
        caption_model=tiny_blip,
        clip_model=tiny_clip,
        classify_model=tiny_vit,
        gen_model=tiny_sdxl,
        vlm_model=tiny_qwen2_5_vl,
        vlm_max_new_tokens="4",
        admin_user_ids=str(ADMIN),
    ).start()
    yield telegram, bot
    bot.stop()
    telegram.stop()
    assert TOKEN.split(":")[1] not in bot.logs()


# Tiny vision-language checkpoints for /ask and /box, built once per session.


@pytest.fixture(scope="session")
def tiny_qwen2_5_vl(checkpoints) -> Path:
    return tiny_models.build_qwen2_5_vl(checkpoints / "qwen2_5_vl")


@pytest.fixture(scope="session")
def tiny_qwen3_vl(checkpoints) -> Path:
    return tiny_models.build_qwen3_vl(checkpoints / "qwen3_vl")


@pytest.fixture(scope="session")
def tiny_glm4v(checkpoints) -> Path:
    return tiny_models.build_glm4v(checkpoints / "glm4v")


@pytest.fixture(scope="session")
def tiny_blip2(checkpoints) -> Path:
    return tiny_models.build_blip2(checkpoints / "blip2")


@pytest.fixture(scope="session")
def tiny_instructblip(checkpoints) -> Path:
    return tiny_models.build_instructblip(checkpoints / "instructblip")


@pytest.fixture(scope="session")
def tiny_vilt(checkpoints) -> Path:
    return tiny_models.build_vilt(checkpoints / "vilt")


@pytest.fixture(scope="session")
def tiny_qwen2_vl(checkpoints) -> Path:
    return tiny_models.build_qwen2_vl(checkpoints / "qwen2_vl")


@pytest.fixture(scope="session")
def tiny_glm4v_moe(checkpoints) -> Path:
    return tiny_models.build_glm4v_moe(checkpoints / "glm4v_moe")
