"""End to end: the other /ask families in the real bot process: GLM-4V (multi-turn, with /box) and the
single-turn VQA models of the tutorial (BLIP-2, InstructBLIP, ViLT)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot import texts
from bot.imaging.boxes import colour, display_scale
from models.glm4v import grounding_prompt
from tests.support import tiny_models
from tests.support.chat import answer_to, photo_bytes, replies_to

pytestmark = pytest.mark.timeout(180)

PHOTO_SIZE = (320, 240)


def test_glm4v_holds_a_two_turn_conversation_and_draws_its_boxes(new_bot, tiny_glm4v, user_ids, tmp_path):
    q1, a1 = "What is on the photo?", "Coloured blocks in a grid."
    q2, a2 = "How many colours?", "Many, maybe twenty."
    # GLM-4.5V thinks first and wraps its answer; users see only the answer.
    script = {
        q1: a1,
        q2: f"<think>The user wants a count. I see many blocks.</think><answer>{a2}</answer>",
        grounding_prompt("block"): "<|begin_of_box|>[[100,200,500,800],[600,100,900,400]]<|end_of_box|>",
    }
    checkpoint = tiny_models.force_answers(tiny_glm4v, tmp_path / "glm4v", script)
    tg, bot = new_bot(vlm_model=checkpoint)
    user = tg.user(next(user_ids), "Gil")
    chat = tg.private_chat(user)

    first = tg.send_message(chat, user, photo=photo_bytes(1, PHOTO_SIZE), caption=f"/ask {q1}")
    assert answer_to(tg, first)["text"] == a1
    second = tg.send_message(chat, user, text=f"/ask {q2}")
    assert answer_to(tg, second)["text"] == a2
    prompt = next(line for line in bot.logs().splitlines() if "ask prompt (1 of 1 earlier turns)" in line)
    assert prompt.index(q1) < prompt.index(a1) < prompt.index(q2)

    boxes = tg.send_message(chat, user, text="/box block")  # the conversation's photo
    answer = answer_to(tg, boxes)
    assert len(replies_to(tg, boxes)) == 1  # the photo alone: its status message was removed
    assert answer["caption"].splitlines()[1:] == ["1. block: 32,48 – 160,192", "2. block: 192,24 – 288,96"]
    drawn = Image.open(io.BytesIO(tg.file_bytes(answer["photo"][-1]["file_id"]))).convert("RGB")
    scale = display_scale(PHOTO_SIZE)
    for index, (x1, y1, y2) in enumerate(((32, 48, 192), (192, 24, 96))):
        edge = drawn.getpixel((round(x1 * scale) + 1, round((y1 + y2) / 2 * scale)))
        assert all(abs(a - b) < 40 for a, b in zip(edge, colour(index), strict=False)), (index, edge)


@pytest.mark.parametrize("family", ["blip2", "instructblip", "vilt"])
def test_single_turn_families_answer_and_say_they_keep_no_history(family, new_bot, user_ids, request):
    checkpoint = request.getfixturevalue(f"tiny_{family}")
    tg, bot = new_bot(vlm_model=checkpoint, vlm_max_new_tokens=8)
    user = tg.user(next(user_ids), "Vi")
    chat = tg.private_chat(user)

    first = tg.send_message(chat, user, photo=photo_bytes(2), caption="/ask what color is the car?")
    text = answer_to(tg, first)["text"]
    answer, _, note = text.rpartition("\n\n")
    assert answer and note == texts.SINGLE_TURN_NOTE.en
    if family == "vilt":
        assert answer in tiny_models.VILT_ANSWERS  # an answer from its vocabulary
    # A follow-up without a photo is about the same photo, still answered on its own.
    second = tg.send_message(chat, user, text="/ask how many cats?")
    assert answer_to(tg, second)["text"].endswith(texts.SINGLE_TURN_NOTE.en)
    assert "ask prompt" not in bot.logs()  # no chat prompt with history was built
    if family == "vilt":  # grounding needs a chat VLM: a clear reply, not an error id
        box = tg.send_message(chat, user, text="/box cat")
        assert "can't do that" in answer_to(tg, box)["text"]
