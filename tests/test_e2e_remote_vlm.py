"""End to end: the real bot process with VLM_URL pointing at an OpenAI-compatible server.

/ask, a follow-up and /box against a fake server that follows the Chat Completions API (streamed
server-sent events), several requests in flight at once, and the server's errors as replies; then
/ask against a real one, `transformers serve` with a tiny LLaVA, when it can run here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from bot import texts
from models.chat_format import grounding_prompt
from models.grounding import GroundingFormat
from tests.support.bot_process import TOKEN, BotProcess
from tests.support.chat import answer_to, is_status, photo_bytes, replies_to
from tests.support.fake_openai import MODEL, FakeChatServer
from tests.support.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(240)

KEY = "sk-e2e-remote-key-never-logged-42"
PHOTO_SIZE = (320, 240)
Q1 = "What colour is the square?"
A1 = "The square is red, like a ripe tomato, and it sits near the top left corner of the photo."
Q2 = "Is it large?"
A2 = "No, it is quite small: about a quarter of the photo's width."
BOX_WANTED = (32, 48, 160, 192)  # "cat" in the original 320x240 photo's pixels


def _answer(request) -> str:
    """Scripted answers; /box answers in pixels of the image the server received, as Qwen2.5-VL does."""
    question = request.question
    if question == grounding_prompt(GroundingFormat.JSON_PIXELS, "cat"):
        (image,) = request.images
        sx, sy = image.width / PHOTO_SIZE[0], image.height / PHOTO_SIZE[1]
        x1, y1, x2, y2 = BOX_WANTED
        return "```json\n" + json.dumps([{"bbox_2d": [x1 * sx, y1 * sy, x2 * sx, y2 * sy], "label": "cat"}]) + "\n```"
    return {Q1: A1, Q2: A2}.get(question, f"About {question}: it is a photo of coloured blocks.")


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A bot whose /ask and /box go to a fake OpenAI-compatible server (slow enough to stream visibly)."""
    server = FakeChatServer(_answer, api_key=KEY, chunk_chars=2, chunk_delay_s=0.05).start()
    telegram = FakeTelegram(TOKEN).start()
    bot = BotProcess(
        telegram, tmp_path_factory.mktemp("remote-vlm"), vlm_url=server.url, vlm_model=MODEL, vlm_api_key=KEY
    ).start()
    yield server, telegram, bot
    bot.stop()
    telegram.stop()
    server.stop()
    logs = bot.logs()
    assert KEY not in logs and TOKEN.split(":")[1] not in logs
    assert "Traceback" not in logs


def final_answer(tg, request, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    answer_to(tg, request, timeout)
    while time.monotonic() < deadline:
        parts = replies_to(tg, request)
        if parts and not any(is_status(p.get("text") or p.get("caption")) for p in parts):
            return parts
        time.sleep(0.05)
    raise AssertionError(f"answer to {request['message_id']} still streaming: {replies_to(tg, request)}")


def test_ask_streams_a_follow_up_continues_and_box_maps_pixels_back(remote, user_ids):
    server, tg, _bot = remote
    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)
    before = len(server.requests)
    request = tg.send_message(chat, user, photo=photo_bytes(1, PHOTO_SIZE), caption=f"/ask {Q1}")
    (answer,) = final_answer(tg, request)
    assert answer["text"] == A1
    edits = tg.edits_of(chat["id"], answer["message_id"])
    assert len(edits) >= 2 and all(e.endswith("▌") for e in edits[:-1]), edits  # shown while being written
    first = server.requests[before]
    assert first.body["model"] == MODEL and first.body["stream"] is True
    assert first.headers["Authorization"] == f"Bearer {KEY}"
    (image,) = first.images
    assert image.size == (308, 252)  # Qwen2.5-VL's smart_resize of 320x240: multiples of 28

    follow_up = tg.send_message(chat, user, text=Q2, reply_to=answer)  # a plain reply continues the chat
    (second,) = final_answer(tg, follow_up)
    assert second["text"] == A2
    sent = server.requests[before + 1]
    assert [m["role"] for m in sent.messages] == ["user", "assistant", "user"]
    assert sent.messages[1]["content"] == A1 and sent.question == Q2
    assert len(sent.images) == 1  # the photo goes once, with the first question

    box = tg.send_message(chat, user, text="/box cat")  # about the conversation's photo
    (drawn,) = final_answer(tg, box)
    assert "photo" in drawn, drawn
    x1, y1, x2, y2 = BOX_WANTED
    assert f"1. cat: {x1},{y1} – {x2},{y2}" in drawn["caption"], drawn["caption"]
    assert "320×240" in drawn["caption"]


def test_several_asks_are_in_flight_at_once(remote, user_ids):
    server, tg, _bot = remote
    server.most_open = server.open_now
    server.hold_until_concurrent = 4  # each stream waits (at most 20 s) until four are open together
    try:
        requests = []
        for i in range(4):
            user = tg.user(next(user_ids), f"U{i}")
            requests.append(
                tg.send_message(
                    tg.private_chat(user), user, photo=photo_bytes(10 + i, PHOTO_SIZE), caption=f"/ask Question {i}?"
                )
            )
        answers = [final_answer(tg, r, timeout=90) for r in requests]
    finally:
        server.hold_until_concurrent = 0
    assert server.most_open >= 4
    assert [a[0]["text"] for a in answers] == [_answer_for(f"Question {i}?") for i in range(4)]


def _answer_for(question: str) -> str:
    return f"About {question}: it is a photo of coloured blocks."


@pytest.mark.parametrize(
    ("change", "reply"),
    [
        ({"api_key": "another-key"}, texts.VLM_SERVER_KEY_REFUSED),
        ({"model": "someone/else"}, texts.VLM_SERVER_NO_MODEL),
        ({"fail_with": 503}, texts.VLM_SERVER_FAILED),
    ],
)
def test_server_errors_get_a_clear_reply(remote, user_ids, change, reply):
    server, tg, _bot = remote
    saved = {name: getattr(server, name) for name in change}
    for name, value in change.items():
        setattr(server, name, value)
    try:
        user = tg.user(next(user_ids), "Eve")
        request = tg.send_message(tg.private_chat(user), user, photo=photo_bytes(3, PHOTO_SIZE), caption="/ask Hi?")
        answer = answer_to(tg, request)
    finally:
        for name, value in saved.items():
            setattr(server, name, value)
    assert answer["text"] == reply.en


# -- a real OpenAI-compatible server ---------------------------------------------------------------------


def _tiny_llava(target) -> str:
    """A tiny random LLaVA (CLIP vision tower, Qwen2 text model): an image-only processor, so `transformers
    serve` loads it without torchvision (Qwen-VL processors need a video processor, hence torchvision)."""
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, Qwen2Tokenizer

    from tests.support import tiny_models as tm

    torch.manual_seed(0)
    specials = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>")
    tokenizer = tm._special_byte_bpe_tokenizer(
        Qwen2Tokenizer,
        specials,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=4096,
    )
    template = (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
        "{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
        "{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    image_processor = tm._image_processor(
        "CLIPImageProcessor", size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        chat_template=template,
        num_additional_image_tokens=1,
    )
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in specials}
    config = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", **tm._tiny_clip_vision()),
        text_config=dict(
            model_type="qwen2",
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            bos_token_id=ids["<|endoftext|>"],
        ),
        image_token_index=ids["<image>"],
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    model = LlavaForConditionalGeneration(config).eval()
    model.save_pretrained(target)
    processor.save_pretrained(target)
    tm._save_generation_config(
        model,
        target,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
        max_new_tokens=16,
    )
    return str(target)


@pytest.fixture(scope="module")
def transformers_serve(tmp_path_factory):
    """`transformers serve` (transformers 5) with the tiny LLaVA preloaded; skipped when it can't run here."""
    cli = shutil.which("transformers", path=os.path.dirname(sys.executable))
    if cli is None:
        pytest.skip("no `transformers` command")
    workdir = tmp_path_factory.mktemp("transformers-serve")
    model = _tiny_llava(workdir / "tiny-llava")
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (workdir / "serve.log").open("wb")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [cli, "serve", model, "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.skip("`transformers serve` did not start: " + (workdir / "serve.log").read_text()[-500:])
            time.sleep(0.5)
        yield url, model, workdir / "serve.log"
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_ask_through_transformers_serve(transformers_serve, tmp_path, user_ids):
    url, model, server_log = transformers_serve
    telegram = FakeTelegram(TOKEN).start()
    bot = BotProcess(
        telegram, tmp_path / "bot", vlm_url=url, vlm_model=model, vlm_family="other", vlm_max_new_tokens=16
    ).start()
    try:
        user = telegram.user(next(user_ids), "Real")
        chat = telegram.private_chat(user)
        request = telegram.send_message(chat, user, photo=photo_bytes(4, PHOTO_SIZE), caption="/ask What is it?")
        (answer,) = final_answer(telegram, request, timeout=120)
        box = telegram.send_message(chat, user, text="/box cat")
        refused = answer_to(telegram, box)
    finally:
        bot.stop()
        telegram.stop()
    # Random weights say nothing sensible, but the bot got a streamed answer from the real server.
    failures = {
        texts.VLM_SERVER_UNREACHABLE,
        texts.VLM_SERVER_KEY_REFUSED,
        texts.VLM_SERVER_NO_MODEL,
        texts.VLM_SERVER_REFUSED,
        texts.VLM_SERVER_FAILED,
        texts.MODEL_UNAVAILABLE,
        texts.MODEL_FAILED,
    }
    assert answer["text"] and answer["text"] not in {t.en for t in failures}, answer
    assert '"POST /v1/chat/completions HTTP/1.1" 200' in server_log.read_text()
    assert refused["text"] == texts.VLM_FAMILY_UNKNOWN.en  # a LLaVA can't ground: a clear reply
    assert "Traceback" not in bot.logs()
