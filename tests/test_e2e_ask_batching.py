"""End to end: /ask questions from four users decode together in one batch, in the real bot process.
(A /caption answered while a long /ask decodes is tested in-process in tests/test_lanes.py, where the
answer can be held for as long as the test needs.)"""

from __future__ import annotations

import pytest

from tests.support import tiny_models
from tests.support.chat import answer_to, photo_bytes

pytestmark = pytest.mark.timeout(240)

SCRIPT = {
    "Why?": "Because the sky is blue.",
    "What colour is the square?": "It is red.",
    "How many?": "Three of them.",
    "Anything else in this picture?": "Only a small cat.",
}


def test_four_asks_from_four_users_decode_together(new_bot, tiny_qwen2_5_vl, tmp_path, user_ids):
    scripted = tiny_models.force_answers(tiny_qwen2_5_vl, tmp_path / "qwen", SCRIPT)
    tg, bot = new_bot(
        vlm_model=scripted, vlm_max_new_tokens="64", preload_models="ask", batch_window_ms="1000"
    )  # the four requests below arrive within it
    requests = []
    for seed, question in enumerate(SCRIPT):
        user = tg.user(next(user_ids), f"User{seed}")
        requests.append(
            tg.send_message(tg.private_chat(user), user, photo=photo_bytes(10 + seed), caption=f"/ask {question}")
        )
    answers = [answer_to(tg, request, timeout=90)["text"] for request in requests]
    assert answers == list(SCRIPT.values())
    assert "answered 4 questions together" in bot.logs()
