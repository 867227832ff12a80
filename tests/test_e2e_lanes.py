"""End to end: /ask runs on its own lane, so another user's /caption is answered while a long answer decodes,
and /ask questions from several users decode together in one batch."""

from __future__ import annotations

import time

import pytest

from tests.support import tiny_models
from tests.support.bot_process import TOKEN, BotProcess
from tests.support.chat import answer_to, is_status, photo_bytes, replies_to
from tests.support.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(240)

LONG_QUESTION = "Tell me a long story about this photo."
LONG_ANSWER = ("Once upon a time there was a photo of coloured blocks, and every block had a story of its own. " * 4).strip()
SHORT = {
    "Why?": "Because the sky is blue.",
    "What colour is the square?": "It is red.",
    "How many?": "Three of them.",
    "Anything else in this picture?": "Only a small cat.",
}


@pytest.fixture(scope="module")
def lanes_bot(tmp_path_factory, tiny_blip, tiny_qwen2_5_vl):
    scripted = tiny_models.force_answers(tiny_qwen2_5_vl, tmp_path_factory.mktemp("lanes-vlm") / "qwen",
                                         {LONG_QUESTION: LONG_ANSWER, **SHORT})
    telegram = FakeTelegram(TOKEN).start()
    bot = BotProcess(
        telegram, tmp_path_factory.mktemp("lanes-bot"), caption_model=tiny_blip, vlm_model=scripted,
        vlm_max_new_tokens="512", preload_models="caption,ask",
        batch_window_ms="1000",  # the four /ask requests below arrive within it
    ).start()
    yield telegram, bot
    bot.stop()
    telegram.stop()


def test_a_caption_is_answered_while_another_users_long_ask_decodes(lanes_bot, user_ids):
    tg, _ = lanes_bot
    asker, captioner = tg.user(next(user_ids), "Ann"), tg.user(next(user_ids), "Bob")
    asked = tg.send_message(tg.private_chat(asker), asker, photo=photo_bytes(1), caption=f"/ask {LONG_QUESTION}")
    deadline = time.monotonic() + 60
    while not any(is_status(m.get("text")) and len(m.get("text", "")) > 20 for m in replies_to(tg, asked)):
        assert time.monotonic() < deadline, "the long answer never started streaming"
        time.sleep(0.05)
    captioned = tg.send_message(tg.private_chat(captioner), captioner, photo=photo_bytes(2), caption="/caption")
    caption = answer_to(tg, captioned, timeout=30)
    assert caption["text"]
    still_writing = [m["text"] for m in replies_to(tg, asked)]
    assert still_writing and all(is_status(text) for text in still_writing), still_writing  # the /ask runs on
    assert answer_to(tg, asked, timeout=90)["text"] == LONG_ANSWER


def test_four_asks_from_four_users_decode_together(lanes_bot, user_ids):
    tg, bot = lanes_bot
    requests = []
    for seed, question in enumerate(SHORT):
        user = tg.user(next(user_ids), f"User{seed}")
        requests.append(tg.send_message(tg.private_chat(user), user, photo=photo_bytes(10 + seed),
                                        caption=f"/ask {question}"))
    answers = [answer_to(tg, request, timeout=90)["text"] for request in requests]
    assert answers == list(SHORT.values())
    assert "answered 4 questions together" in bot.logs()
