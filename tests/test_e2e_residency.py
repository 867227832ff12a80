"""Model residency end to end: a memory budget that fits one tiny model, alternating tasks, and /stats."""

from __future__ import annotations

import re

import pytest

from tests.support.chat import answer_to, photo_bytes

pytestmark = pytest.mark.timeout(180)


def test_budget_for_one_model_swaps_models_as_tasks_alternate(new_bot, tiny_blip, tiny_vit, user_ids):
    admin_id = next(user_ids)
    # The tiny BLIP is ~0.2 MB and the tiny ViT ~0.1 MB: 0.25 MB holds either, not both.
    tg, bot = new_bot(
        caption_model=tiny_blip,
        classify_model=tiny_vit,
        model_memory_budget_gb=str(0.25 / 1024),
        admin_user_ids=str(admin_id),
    )
    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)
    admin = tg.user(admin_id, "Root")

    def stats() -> str:
        return answer_to(tg, tg.send_message(tg.private_chat(admin), admin, text="/stats"), timeout=20)["text"]

    for round_ in range(2):
        for command in ("/caption", "/classify"):
            request = tg.send_message(chat, user, photo=photo_bytes(round_), caption=command)
            assert "isn't available" not in answer_to(tg, request)["text"]
            loaded = re.findall(r"^  (\w+): ", stats(), flags=re.M)
            assert loaded == [command.lstrip("/")], loaded  # only the model just used stays
    text = stats()
    assert "Model loads: 4, unloads: 3" in text
    assert "budget 0.2 MB" in text
    assert "Jobs: 4 served, 0 failed" in text
    logs = bot.logs()
    assert logs.count("to stay within the memory budget") == 3


def test_model_too_big_for_the_budget_gets_a_clear_reply_and_the_others_keep_working(
    new_bot, tiny_blip, tiny_qwen2_5_vl, user_ids
):
    from bot import texts

    # 0.25 MB holds the tiny BLIP (0.2 MB); the tiny Qwen2.5-VL (0.43 MB) can never fit.
    tg, bot = new_bot(caption_model=tiny_blip, vlm_model=tiny_qwen2_5_vl, model_memory_budget_gb=str(0.25 / 1024))
    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)
    asked = tg.send_message(chat, user, photo=photo_bytes(1), caption="/ask What is this?")
    assert answer_to(tg, asked)["text"] == texts.MODEL_TOO_BIG.en
    captioned = tg.send_message(chat, user, photo=photo_bytes(2), caption="/caption")
    assert answer_to(tg, captioned)["text"] not in (texts.MODEL_TOO_BIG.en, texts.MODEL_UNAVAILABLE.en)
    logs = bot.logs()
    assert "the ask model" in logs and "raise MODEL_MEMORY_BUDGET_GB" in logs
    assert "loaded ask model" not in logs and "loaded caption model" in logs
