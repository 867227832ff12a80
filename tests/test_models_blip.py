"""The BLIP caption adapter, loaded from a tiny local checkpoint through the registry and the pool."""

from __future__ import annotations

import json
import time

import pytest
from PIL import Image

from bot.settings import Settings
from contract.errors import ModelUnavailable
from contract.requests import Caption, CaptionRequest, Task
from contract.worker import Interrupt
from models.blip import BlipCaptioner
from models.pool import ModelPool
from models.registry import adapter_for, read_model_type


def settings_for(caption_model, **kw) -> Settings:
    return Settings(telegram_bot_token="t", caption_model=str(caption_model), device="cpu", **kw)


@pytest.fixture(scope="module")
def pool(tiny_blip) -> ModelPool:
    return ModelPool(settings_for(tiny_blip, caption_max_new_tokens=8))


def test_registry_picks_blip_from_the_checkpoint_config(tiny_blip):
    assert read_model_type(str(tiny_blip)) == "blip"
    assert adapter_for(Task.CAPTION, str(tiny_blip)) is BlipCaptioner


def test_batch_of_mixed_prefixes_keeps_order_and_continues_prefixes(pool):
    red, blue = Image.new("RGB", (64, 48), "red"), Image.new("RGB", (20, 90), "blue")
    requests = [CaptionRequest(red), CaptionRequest(blue, "a picture of"), CaptionRequest(red)]
    results = pool.run(Task.CAPTION, requests, Interrupt())
    assert [type(r) for r in results] == [Caption] * 3
    assert results[1].text.startswith("a picture of")
    assert results[0] == results[2]  # greedy decoding: same photo, same caption
    assert all(r.text for r in results)


def test_interrupt_stops_generation(pool):
    interrupt = Interrupt()
    interrupt.set()
    started = time.monotonic()
    (result,) = pool.run(Task.CAPTION, [CaptionRequest(Image.new("RGB", (32, 32)))], interrupt)
    assert isinstance(result, Caption)
    assert len(result.text.split()) <= 2  # stopped after the first token
    assert time.monotonic() - started < 5


def test_missing_model_is_unavailable_with_a_clear_reason(tmp_path, caplog):
    pool = ModelPool(settings_for(tmp_path / "no-such-model"))
    with pytest.raises(ModelUnavailable) as error:
        pool.run(Task.CAPTION, [CaptionRequest(Image.new("RGB", (8, 8)))], Interrupt())
    assert "no-such-model" in str(error.value)
    assert "could not be loaded" in caplog.text


def test_wrong_family_names_what_is_supported(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelUnavailable, match="'gpt2' model; caption supports: blip"):
        adapter_for(Task.CAPTION, str(tmp_path))


def test_budget_and_idle_unload_free_the_model_and_stats_report_it(tiny_blip, caplog):
    import logging

    caplog.set_level(logging.INFO)
    pool = ModelPool(settings_for(tiny_blip, model_memory_budget_gb=1.0, model_idle_unload_s=0.01))
    pool.run(Task.CAPTION, [CaptionRequest(Image.new("RGB", (16, 16)))], Interrupt())
    stats = pool.stats()
    assert list(stats["loaded"]) == ["caption"] and stats["loaded"]["caption"]["mb"] > 0
    assert stats["memory"]["budget_mb"] == 1024
    time.sleep(0.05)
    pool.unload_idle()
    assert pool.stats()["loaded"] == {} and pool.unloads == 1
    pool.run(Task.CAPTION, [CaptionRequest(Image.new("RGB", (16, 16)))], Interrupt())
    assert pool.loads == 2
