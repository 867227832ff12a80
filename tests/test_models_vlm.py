"""The /ask and /box adapters, loaded from tiny checkpoints through the registry and the pool."""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch
from PIL import Image

from bot.errors import from_worker
from bot.queue.local import LocalBackend
from bot.settings import Settings
from contract.errors import InputRejected, ModelUnavailable
from contract.requests import Answer, AskRequest, Boxes, BoxRequest, Task, Turn
from contract.worker import Interrupt
from models.base import Device, PartialText
from models.blip2 import Blip2Answerer
from models.chat_vlm import chat_messages, visible_answer
from models.glm4v import Glm4v
from models.glm4v import grounding_prompt as grounding_prompt_glm
from models.instructblip import InstructBlipAnswerer
from models.pool import ModelPool
from models.quantization import quantized_load_kwargs
from models.qwen_vl import GROUNDING, QwenVl, grounding_prompt
from models.registry import adapter_for
from models.vilt import ViltAnswerer
from tests.support import tiny_models

PHOTO = Image.new("RGB", (150, 100), "red")  # not a multiple of 28: the processor resizes it
LONG_ANSWER = "This is a long answer, written word by word so that it streams. " * 2


def settings_for(vlm_model, **kw) -> Settings:
    return Settings(telegram_bot_token="t", vlm_model=str(vlm_model), device="cpu", **kw)


@pytest.fixture(scope="module")
def scripted_qwen(tiny_qwen2_5_vl, tmp_path_factory):
    """Tiny Qwen2.5-VL that answers "Tell me more" with LONG_ANSWER and /box "cat" with a canned box."""
    box = '[{"bbox_2d": [28, 21, 84, 63], "label": "cat"}]'  # in pixels of the resized 112x84 (see below)
    script = {"Tell me more": LONG_ANSWER, grounding_prompt(GROUNDING["qwen2_5_vl"], "cat"): box}
    return tiny_models.force_answers(tiny_qwen2_5_vl, tmp_path_factory.mktemp("scripted") / "qwen", script)


@pytest.fixture(scope="module")
def qwen_pool(scripted_qwen) -> ModelPool:
    return ModelPool(settings_for(scripted_qwen, vlm_max_new_tokens=256))


def test_registry_picks_each_family_from_the_checkpoint(
    tiny_qwen2_5_vl, tiny_qwen3_vl, tiny_glm4v, tiny_blip2, tiny_instructblip, tiny_vilt
):
    expected = {
        tiny_qwen2_5_vl: QwenVl,
        tiny_qwen3_vl: QwenVl,
        tiny_glm4v: Glm4v,
        tiny_blip2: Blip2Answerer,
        tiny_instructblip: InstructBlipAnswerer,
        tiny_vilt: ViltAnswerer,
    }
    for checkpoint, cls in expected.items():
        assert adapter_for(Task.ASK, str(checkpoint)) is cls
    assert adapter_for(Task.BOX, str(tiny_glm4v)) is Glm4v
    with pytest.raises(ModelUnavailable) as error:
        adapter_for(Task.BOX, str(tiny_blip2))
    assert "'blip-2' model; box supports" in str(error.value)
    assert "can't do that" in from_worker(error.value).user_message.en


def test_ask_and_box_share_one_loaded_model(qwen_pool):
    assert qwen_pool.get(Task.ASK) is qwen_pool.get(Task.BOX)


def test_unsupported_box_model_tells_the_user_why(tiny_vilt):
    pool = ModelPool(settings_for(tiny_vilt))
    for _ in range(2):  # the second time from the remembered failure, with the same message
        with pytest.raises(ModelUnavailable) as error:
            pool.run(Task.BOX, [BoxRequest(PHOTO, "cat")], Interrupt())
        assert "(vilt) can't do that" in from_worker(error.value).user_message.en


# -- prompts and the context budget ------------------------------------------------------------------


def test_chat_messages_put_the_photo_with_the_first_kept_turn():
    messages = chat_messages((Turn("q1", "a1"), Turn("q2", "a2")), "q3")
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == [{"type": "image"}, {"type": "text", "text": "q1"}]
    assert messages[2]["content"] == [{"type": "text", "text": "q2"}] and messages[3]["content"] == "a2"
    assert chat_messages((), "only")[0]["content"][0] == {"type": "image"}


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl", "glm4v"])
def test_history_is_trimmed_to_the_context_oldest_first_keeping_the_photo(family, request):
    checkpoint = request.getfixturevalue(f"tiny_{family}")
    pool = ModelPool(settings_for(checkpoint, vlm_context_tokens=512, vlm_max_new_tokens=16))
    adapter = pool.get(Task.ASK)
    history = tuple(Turn(f"question number {i} about the photo?", f"answer number {i}.") for i in range(40))
    prompt, kept = adapter.fit(PHOTO, history, "And now?")
    assert 0 < kept < len(history)
    assert "question number 39" in prompt and f"question number {40 - kept - 1} " not in prompt
    assert prompt.count(adapter.image_token) == 1
    # The count matches the processor's real input, and it is within the budget with room for the answer.
    inputs = adapter.processor(text=[prompt], images=[PHOTO], return_tensors="pt")
    real = inputs["input_ids"].shape[1]
    assert adapter.count_tokens(prompt, adapter.image_tokens(PHOTO)) == real
    assert real <= 512 - 16
    assert (
        adapter.processor(
            text=[adapter.prompt(history[-(kept + 1) :], "And now?")], images=[PHOTO], return_tensors="pt"
        )["input_ids"].shape[1]
        > 512 - 16
    )  # one more turn would not fit
    (answer,) = pool.run(Task.ASK, [AskRequest(PHOTO, "And now?", history)], Interrupt())
    assert answer.history_used == kept


def test_a_question_longer_than_the_context_is_refused(tiny_qwen3_vl):
    pool = ModelPool(settings_for(tiny_qwen3_vl, vlm_context_tokens=512, vlm_max_new_tokens=16))
    with pytest.raises(InputRejected) as error:
        pool.run(Task.ASK, [AskRequest(PHOTO, "why? " * 200)], Interrupt())
    assert "too long" in from_worker(error.value).user_message.en


def test_vlm_image_pixels_caps_the_image_tokens(tiny_qwen2_5_vl):
    big = Image.new("RGB", (1000, 800))
    default = ModelPool(settings_for(tiny_qwen2_5_vl)).get(Task.ASK)
    capped = ModelPool(settings_for(tiny_qwen2_5_vl, vlm_image_pixels=56 * 56)).get(Task.ASK)
    assert capped.image_tokens(big) < default.image_tokens(big)
    assert capped.image_tokens(big) <= 4  # at most 56x56 pixels: 2x2 merged patches of 28


# -- answers, streaming and boxes --------------------------------------------------------------------


def test_scripted_answer_streams_prefixes_of_the_final_text(qwen_pool, monkeypatch):
    monkeypatch.setattr(PartialText, "interval", 0.0)
    partials: list[tuple[int, str]] = []
    (answer,) = qwen_pool.run(
        Task.ASK,
        [AskRequest(PHOTO, "Tell me more", (Turn("q", "a"),))],
        Interrupt(),
        lambda index, text: partials.append((index, text)),
    )
    assert answer == Answer(LONG_ANSWER.strip(), history_used=1)
    assert len(partials) > 10 and {i for i, _ in partials} == {0}
    assert all(answer.text.startswith(text) for _, text in partials)


def test_an_interrupt_stops_the_answer(qwen_pool):
    interrupt = Interrupt()
    interrupt.set()
    (answer,) = qwen_pool.run(Task.ASK, [AskRequest(PHOTO, "Tell me more")], interrupt)
    assert len(answer.text) < 5


def test_box_is_scaled_from_the_resized_input_back_to_the_photo(qwen_pool):
    adapter = qwen_pool.get(Task.BOX)
    grid = adapter.processor(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[PHOTO], return_tensors="pt")[
        "image_grid_thw"
    ][0]
    assert (int(grid[2]) * 14, int(grid[1]) * 14) == (112, 84)  # what the canned answer is written in
    (result,) = qwen_pool.run(Task.BOX, [BoxRequest(PHOTO, "cat")], Interrupt())
    assert isinstance(result, Boxes) and len(result.found) == 1
    box = result.found[0]
    assert (box.label, box.x1, box.y1, box.x2, box.y2) == ("cat", 38, 25, 112, 75)  # x * 150/112, y * 100/84


def test_local_backend_delivers_partials_on_the_event_loop(scripted_qwen, monkeypatch):
    monkeypatch.setattr(PartialText, "interval", 0.0)

    async def scenario():
        backend = LocalBackend(settings_for(scripted_qwen, vlm_max_new_tokens=256))
        await backend.start()
        loop_thread = threading.get_ident()
        seen: list[tuple[int, str, bool]] = []
        results = await backend.run(
            Task.ASK,
            [AskRequest(PHOTO, "Tell me more")],
            Interrupt(),
            lambda i, text: seen.append((i, text, threading.get_ident() == loop_thread)),
        )
        await asyncio.sleep(0.05)  # let the last call_soon_threadsafe callbacks run
        await backend.close()
        return results, seen

    results, seen = asyncio.run(scenario())
    assert results[0].text == LONG_ANSWER.strip()
    assert seen and all(on_loop for _, _, on_loop in seen)


def test_visible_answer_hides_thinking_and_markup():
    assert visible_answer("<think>hmm</think><answer>A cat.</answer>") == "A cat."
    assert visible_answer("<think>still thinking") == ""
    assert visible_answer("It is <|begin_of_box|>red<|end_of_box|>.") == "It is red."
    assert visible_answer("  plain  ") == "plain"


# -- quantization (GPU-only extras) ------------------------------------------------------------------


def test_quantization_settings_need_a_gpu_and_say_which_extra(tiny_qwen2_5_vl):
    cpu = Device(torch.device("cpu"), torch.float32)
    assert quantized_load_kwargs("none", str(tiny_qwen2_5_vl), cpu) == {"dtype": torch.float32}
    with pytest.raises(ModelUnavailable, match="needs a CUDA GPU"):
        quantized_load_kwargs("bnb-4bit", str(tiny_qwen2_5_vl), cpu)
    gpu = Device(torch.device("cuda"), torch.float16)  # only described, never used here
    for setting, extra in (("bnb-4bit", "bnb"), ("gptq", "gptq")):
        try:
            kwargs = quantized_load_kwargs(setting, str(tiny_qwen2_5_vl), gpu)
        except ModelUnavailable as error:
            assert f"clipbot[{extra}]" in str(error) or "not a GPTQ checkpoint" in str(error)
        else:
            assert kwargs["device_map"] == {"": "cuda"}


def test_gptq_setting_refuses_a_checkpoint_that_is_not_gptq(tiny_qwen2_5_vl, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name in ("optimum", "gptqmodel") else real(name, *a)
    )
    gpu = Device(torch.device("cuda"), torch.float16)
    with pytest.raises(ModelUnavailable, match="not a GPTQ checkpoint"):
        quantized_load_kwargs("gptq", str(tiny_qwen2_5_vl), gpu)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bnb_4bit_loads_and_answers_on_the_gpu(scripted_qwen):
    pytest.importorskip("bitsandbytes")
    pool = ModelPool(
        Settings(
            telegram_bot_token="t",
            vlm_model=str(scripted_qwen),
            device="cuda",
            vlm_quantization="bnb-4bit",
            vlm_max_new_tokens=256,
        )
    )
    (answer,) = pool.run(Task.ASK, [AskRequest(PHOTO, "Tell me more")], Interrupt())
    assert isinstance(answer.text, str)


# -- the other chat families: Qwen2-VL's grounding tokens, GLM-4.5V's mixture of experts ------------


def test_qwen2_vl_boxes_come_in_its_grounding_tokens(tiny_qwen2_vl, tmp_path):
    answer = "<|object_ref_start|>cat<|object_ref_end|><|box_start|>(100,200),(500,800)<|box_end|>"
    script = {grounding_prompt(GROUNDING["qwen2_vl"], "cat"): answer}
    pool = ModelPool(
        settings_for(tiny_models.force_answers(tiny_qwen2_vl, tmp_path / "q2", script), vlm_max_new_tokens=64)
    )
    assert type(pool.get(Task.BOX)) is QwenVl
    (result,) = pool.run(Task.BOX, [BoxRequest(PHOTO, "cat")], Interrupt())
    assert [(b.label, b.x1, b.y1, b.x2, b.y2) for b in result.found] == [("cat", 15, 20, 75, 80)]


def test_glm4v_moe_is_served_by_the_glm_adapter(tiny_glm4v_moe, tmp_path):
    script = {"Hi?": "Hello there.", grounding_prompt_glm("cup"): "<|begin_of_box|>[[0,0,500,500]]<|end_of_box|>"}
    pool = ModelPool(
        settings_for(tiny_models.force_answers(tiny_glm4v_moe, tmp_path / "moe", script), vlm_max_new_tokens=64)
    )
    adapter = pool.get(Task.ASK)
    assert type(adapter) is Glm4v and type(adapter.model).__name__ == "Glm4vMoeForConditionalGeneration"
    (answer,) = pool.run(Task.ASK, [AskRequest(PHOTO, "Hi?", (Turn("before", "yes"),))], Interrupt())
    assert answer == Answer("Hello there.", history_used=1)
    (result,) = pool.run(Task.BOX, [BoxRequest(PHOTO, "cup")], Interrupt())
    assert [(b.x1, b.y1, b.x2, b.y2) for b in result.found] == [(0, 0, 75, 50)]


def test_the_answer_never_takes_the_whole_context(tiny_qwen3_vl):
    adapter = ModelPool(settings_for(tiny_qwen3_vl, vlm_context_tokens=1024, vlm_max_new_tokens=4000)).get(Task.ASK)
    assert adapter.max_new_tokens == 512
    _prompt, kept = adapter.fit(PHOTO, (Turn("q", "a"),), "Still room for a question?")
    assert kept == 1
