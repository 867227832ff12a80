"""Model residency end to end: a memory budget that fits one tiny model, alternating tasks, and /stats."""

from __future__ import annotations

import re

import pytest

from tests.support.chat import answer_to, photo_bytes

pytestmark = pytest.mark.timeout(180)


def test_budget_for_one_model_swaps_models_as_tasks_alternate(new_bot, tiny_blip, tiny_vit, user_ids):
    admin_id = next(user_ids)
    # The tiny BLIP is ~0.2 MB and the tiny ViT ~0.1 MB: 0.25 MB holds either, not both.
    tg, bot = new_bot(caption_model=tiny_blip, classify_model=tiny_vit, model_memory_budget_gb=str(0.25 / 1024),
                      admin_user_ids=str(admin_id))
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
