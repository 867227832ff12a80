"""Batched /ask in-process: several questions to one chat VLM decode in one left-padded generate(), each answer
streams on its own, and a dropped (cancelled) request stops alone."""

from __future__ import annotations

import pytest
from PIL import Image

from bot.settings import Settings
from contract.errors import InputRejected
from contract.requests import Answer, AskRequest, Task, Turn
from contract.worker import Interrupt
from models.base import PartialText
from models.chat_vlm import BatchMateFailed
from models.pool import ModelPool
from tests.support import tiny_models

pytestmark = pytest.mark.timeout(120)

# Questions of different lengths (so the batch is padded) and photos of different sizes.
SCRIPT = {
    "Why?": "Because the sky is blue and wide.",
    "What colour is the square in the corner?": "It is red, a deep and quiet red.",
    "How many?": "Three, all of them round.",
    "Is there anything else in this picture that I should know about?": "Only a small cat, asleep.",
}
PHOTOS = [
    Image.new("RGB", size, colour)
    for size, colour in (((150, 100), "red"), ((100, 150), "blue"), ((120, 120), "green"), ((90, 60), "white"))
]


@pytest.fixture(scope="module")
def pool(tiny_qwen2_5_vl, tmp_path_factory) -> ModelPool:
    checkpoint = tiny_models.force_answers(tiny_qwen2_5_vl, tmp_path_factory.mktemp("batched") / "qwen", SCRIPT)
    return ModelPool(Settings(telegram_bot_token="t", vlm_model=str(checkpoint), device="cpu", vlm_max_new_tokens=48))


def count_generate_calls(adapter, monkeypatch) -> list[int]:
    """The batch size of every generate() call the adapter makes."""
    sizes: list[int] = []
    generate = adapter.model.generate

    def counting(**kwargs):
        sizes.append(int(kwargs["input_ids"].shape[0]))
        return generate(**kwargs)

    monkeypatch.setattr(adapter.model, "generate", counting)
    return sizes


def test_four_questions_decode_together_and_each_streams_its_own_answer(pool, monkeypatch):
    monkeypatch.setattr(PartialText, "interval", 0.0)
    sizes = count_generate_calls(pool.get(Task.ASK), monkeypatch)
    requests = [AskRequest(photo, question) for photo, question in zip(PHOTOS, SCRIPT, strict=False)]
    partials: dict[int, list[str]] = {}
    answers = pool.run(Task.ASK, requests, Interrupt(), lambda i, text: partials.setdefault(i, []).append(text))
    assert sizes == [4]  # one generate() for the four
    assert answers == [Answer(answer, history_used=0) for answer in SCRIPT.values()]
    assert sorted(partials) == [0, 1, 2, 3]
    for index, answer in enumerate(answers):
        assert len(partials[index]) > 3 and all(answer.text.startswith(p) for p in partials[index])


def test_batched_free_text_equals_one_at_a_time(pool):
    # Unscripted questions get the random model's own text: left padding must not change a token of it.
    requests = [
        AskRequest(PHOTOS[0], "Say something."),
        AskRequest(PHOTOS[1], "Say something much longer, please."),
        AskRequest(PHOTOS[2], "Hm?", (Turn("Earlier question", "Earlier answer"),)),
    ]
    together = pool.run(Task.ASK, requests, Interrupt())
    alone = [pool.run(Task.ASK, [request], Interrupt())[0] for request in requests]
    assert together == alone and all(a.text for a in alone)


def test_a_dropped_request_stops_alone(pool):
    interrupt = Interrupt()
    requests = [AskRequest(photo, question) for photo, question in zip(PHOTOS, SCRIPT, strict=False)]
    seen: dict[int, list[str]] = {}

    def on_partial(index: int, text: str) -> None:
        seen.setdefault(index, []).append(text)
        if index == 1:
            interrupt.drop(1)  # its user cancelled it after its first words

    answers = pool.run(Task.ASK, requests, interrupt, on_partial)
    assert len(answers[1].text) < len(SCRIPT["What colour is the square in the corner?"])
    assert len(seen[1]) == 1  # no more partials once dropped
    assert [a.text for i, a in enumerate(answers) if i != 1] == [
        answer for i, answer in enumerate(SCRIPT.values()) if i != 1
    ]


def test_a_question_that_cannot_be_asked_splits_the_batch(pool):
    too_long = AskRequest(PHOTOS[0], "word " * 5000)
    with pytest.raises(BatchMateFailed):
        pool.run(Task.ASK, [AskRequest(PHOTOS[1], "Why?"), too_long], Interrupt())
    with pytest.raises(InputRejected):  # alone, it gets its own clear error
        pool.run(Task.ASK, [too_long], Interrupt())


@pytest.mark.parametrize("family", ["tiny_glm4v", "tiny_qwen3_vl"])
def test_other_chat_families_batch_with_the_same_answers(family, request, tmp_path):
    checkpoint = tiny_models.force_answers(request.getfixturevalue(family), tmp_path / "vlm", {})  # visible text
    pool = ModelPool(Settings(telegram_bot_token="t", vlm_model=str(checkpoint), device="cpu", vlm_max_new_tokens=12))
    requests = [
        AskRequest(PHOTOS[0], "Say something."),
        AskRequest(PHOTOS[1], "Say something much longer, please.", (Turn("Earlier", "Answer"),)),
    ]
    together = pool.run(Task.ASK, requests, Interrupt())
    assert together == [pool.run(Task.ASK, [r], Interrupt())[0] for r in requests]
