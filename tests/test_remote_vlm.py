"""models.remote_vlm against a fake OpenAI-compatible server: what it sends, how it streams, boxes, errors."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time

import pytest
from PIL import Image

from bot import texts
from bot.errors import from_worker
from bot.settings import Settings
from contract.errors import InputRejected, ModelUnavailable, WorkerError
from contract.requests import AskRequest, BoxRequest, Turn
from contract.worker import Interrupt
from models.chat_format import grounding_prompt
from models.grounding import GroundingFormat
from models.remote_vlm import RemoteVlm, family_of, smart_resize
from tests.support.fake_openai import MODEL, FakeChatServer

KEY = "sk-remote-test-key-0123456789"


def settings(url: str, **overrides) -> Settings:
    values = dict(telegram_bot_token="1:x", vlm_url=url, vlm_model=MODEL, vlm_api_key=KEY)
    values.update(overrides)
    return Settings(**values)


def photo(size=(640, 480)) -> Image.Image:
    image = Image.new("RGB", size, (200, 40, 40))
    image.paste((20, 20, 220), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    return image


async def started(s: Settings) -> RemoteVlm:
    vlm = RemoteVlm(s)
    await vlm.start()
    return vlm


@pytest.fixture
def server():
    with FakeChatServer(lambda request: f"You asked: {request.question}", api_key=KEY) as fake:
        yield fake


@pytest.mark.parametrize(
    ("height", "width"),
    [
        (480, 640),
        (240, 320),
        (10, 20),
        (4000, 3000),
        (1080, 1920),
        (27, 5000),
        (99, 101),
        (2000, 20),
        (56, 56),
        (3000, 3001),
    ],
)
@pytest.mark.parametrize("max_pixels", [1_003_520, 112 * 112, 12_845_056])
def test_smart_resize_is_the_one_transformers_and_the_servers_run(height, width, max_pixels):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as reference

    assert smart_resize(height, width, 28, 56 * 56, max_pixels) == reference(height, width, 28, 56 * 56, max_pixels)
    # A photo already resized is left as it is: the server's processor keeps the size the bot chose.
    h, w = smart_resize(height, width, 28, 56 * 56, max_pixels)
    assert reference(h, w, 28, 56 * 56, 12_845_056) == (h, w)


def test_a_photo_too_thin_for_qwen_is_refused_with_a_reply():
    with pytest.raises(InputRejected) as caught:
        smart_resize(10, 2500)
    assert from_worker(caught.value).user_message is texts.WIDE_PHOTO


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl"),
        ("qwen2.5vl:7b", "qwen2_5_vl"),
        ("Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf", "qwen2_5_vl"),
        ("Qwen/Qwen2.5-VL-72B-Instruct-AWQ", "qwen2_5_vl"),
        ("Qwen/Qwen3-VL-8B-Instruct", "qwen3_vl"),
        ("qwen3-vl:30b-a3b", "qwen3_vl"),
        ("Qwen/Qwen2-VL-7B-Instruct", "qwen2_vl"),
        ("zai-org/GLM-4.1V-9B-Thinking", "glm4v"),
        ("glm-4.5v", "glm4v"),
        ("llava:13b", None),
        ("my-model", None),
    ],
)
def test_the_family_comes_from_the_served_name(name, family):
    assert family_of(name) == family


def test_a_family_hint_wins_and_a_local_checkpoint_names_its_own(tmp_path):
    assert family_of("my-model", "qwen3_vl") == "qwen3_vl"
    assert family_of("Qwen/Qwen2.5-VL-7B-Instruct", "other") is None
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    assert family_of(str(tmp_path)) == "qwen2_5_vl"


async def test_ask_streams_the_answer_and_sends_photo_conversation_model_and_key(server):
    vlm = await started(settings(server.url, vlm_max_new_tokens=77))
    history = (Turn("What is it?", "A red card."), Turn("And the square?", "It is blue."))
    partials: list[str] = []
    try:
        answer = await vlm.ask(AskRequest(photo(), "Where is the square?", history), Interrupt(), partials.append)
    finally:
        await vlm.close()
    assert answer.text == "You asked: Where is the square?"
    assert answer.history_used == 2
    (request,) = server.requests
    body = request.body
    assert body["model"] == MODEL and body["stream"] is True and body["max_tokens"] == 77
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    roles = [m["role"] for m in request.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    first = request.messages[0]["content"]
    assert [p["type"] for p in first] == ["image_url", "text"] and first[1]["text"] == "What is it?"
    assert request.messages[1]["content"] == "A red card." and request.messages[3]["content"] == "It is blue."
    assert request.messages[4]["content"] == [{"type": "text", "text": "Where is the square?"}]
    (image,) = request.images
    assert image.format == "JPEG"
    # Qwen2.5-VL: the size its processor would pick, so that /box's pixel coordinates map back.
    assert image.size[::-1] == smart_resize(480, 640, 28, 56 * 56, 1_003_520) == (476, 644)
    # Streamed: partial answers grew towards the final one.
    assert partials and all(answer.text.startswith(p) for p in partials)
    assert all(len(a) < len(b) for a, b in itertools.pairwise(partials))


async def test_history_is_trimmed_to_the_context_newest_turns_kept(server):
    vlm = await started(
        settings(server.url, vlm_context_tokens=1024, vlm_max_new_tokens=256, vlm_image_pixels=112 * 112)
    )
    history = tuple(Turn(f"Question {i} " + "x" * 300, f"Answer {i} " + "y" * 300) for i in range(10))
    try:
        answer = await vlm.ask(AskRequest(photo(), "Last?", history), Interrupt())
    finally:
        await vlm.close()
    kept = answer.history_used
    assert 0 < kept < 10
    questions = [m["content"][-1]["text"] for m in server.requests[0].messages if m["role"] == "user"]
    assert questions == [t.question for t in history[10 - kept :]] + ["Last?"]
    assert server.requests[0].images  # the photo stays with the first kept turn


async def test_a_question_that_can_never_fit_is_refused_before_sending(server):
    vlm = await started(settings(server.url, vlm_context_tokens=512, vlm_max_new_tokens=256))
    try:
        with pytest.raises(InputRejected) as caught:
            await vlm.ask(AskRequest(photo(), "x" * 3000), Interrupt())
    finally:
        await vlm.close()
    assert from_worker(caught.value).user_message is texts.QUESTION_TOO_LONG_FOR_MODEL
    assert server.requests == []


@pytest.mark.parametrize(
    ("model", "answer_for"),
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", "pixels"),
        ("Qwen/Qwen3-VL-8B-Instruct", "grid"),
    ],
)
async def test_box_maps_coordinates_back_to_the_photos_pixels(model, answer_for):
    size = (1000, 700)
    wanted = (100, 140, 500, 560)  # in the original photo

    def answer(request) -> str:
        (image,) = request.images
        w, h = image.size
        sx, sy = (w / size[0], h / size[1]) if answer_for == "pixels" else (1000 / size[0], 1000 / size[1])
        x1, y1, x2, y2 = wanted
        return "```json\n" + json.dumps([{"bbox_2d": [x1 * sx, y1 * sy, x2 * sx, y2 * sy], "label": "dog"}]) + "\n```"

    with FakeChatServer(answer, model=model) as fake:
        vlm = await started(settings(fake.url, vlm_model=model, vlm_api_key=""))
        try:
            result = await vlm.box(BoxRequest(photo(size), "dog"), Interrupt())
        finally:
            await vlm.close()
        (request,) = fake.requests
    fmt = GroundingFormat.JSON_PIXELS if answer_for == "pixels" else GroundingFormat.JSON_1000
    assert request.question == grounding_prompt(fmt, "dog")
    assert "Authorization" not in request.headers or request.headers["Authorization"] == "Bearer none"
    ((label, *box),) = [(b.label, b.x1, b.y1, b.x2, b.y2) for b in result.found]
    assert label == "dog"
    assert all(abs(a - b) <= 1 for a, b in zip(box, wanted, strict=False)), box


async def test_box_with_an_unknown_family_says_how_to_fix_it():
    with FakeChatServer(model="llava:13b") as fake:
        vlm = await started(settings(fake.url, vlm_model="llava:13b"))
        try:
            with pytest.raises(ModelUnavailable) as caught:
                await vlm.box(BoxRequest(photo(), "dog"), Interrupt())
        finally:
            await vlm.close()
        assert fake.requests == []
    assert from_worker(caught.value).user_message is texts.VLM_FAMILY_UNKNOWN


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("case", "error", "reply"),
    [
        ("refused", ModelUnavailable, texts.VLM_SERVER_UNREACHABLE),
        ("bad key", ModelUnavailable, texts.VLM_SERVER_KEY_REFUSED),
        ("no model", ModelUnavailable, texts.VLM_SERVER_NO_MODEL),
        ("server error", WorkerError, texts.VLM_SERVER_FAILED),
        ("bad request", WorkerError, texts.VLM_SERVER_REFUSED),
    ],
)
async def test_server_errors_get_their_own_reply_and_one_log_line_without_the_key(case, error, reply, caplog):
    with FakeChatServer(api_key=KEY, fail_with={"server error": 500, "bad request": 400}.get(case)) as fake:
        url = f"http://127.0.0.1:{_closed_port()}/v1" if case == "refused" else fake.url
        s = settings(
            url,
            vlm_api_key="wrong-key" if case == "bad key" else KEY,
            vlm_model="other/model" if case == "no model" else MODEL,
        )
        vlm = await started(s)
        caplog.set_level(logging.DEBUG)
        try:
            with pytest.raises(error) as caught:
                await vlm.ask(AskRequest(photo(), "Hi?"), Interrupt())
        finally:
            await vlm.close()
    assert from_worker(caught.value).user_message is reply
    ours = [r for r in caplog.records if r.name == "models.remote_vlm" and r.levelno >= logging.WARNING]
    assert len(ours) == 1 and ours[0].exc_info is None
    assert KEY not in caplog.text and "wrong-key" not in caplog.text


async def test_an_interrupt_drops_the_request_at_once_with_what_came_so_far():
    with FakeChatServer(lambda r: "word " * 400, chunk_delay_s=0.05) as fake:
        vlm = await started(settings(fake.url, vlm_api_key=""))
        interrupt = Interrupt()
        partials: list[str] = []
        try:
            task = asyncio.create_task(vlm.ask(AskRequest(photo(), "Talk"), interrupt, partials.append))
            while not partials:
                await asyncio.sleep(0.02)
            interrupt.set()
            started_at = time.monotonic()
            answer = await task
            stopped_in = time.monotonic() - started_at
        finally:
            await vlm.close()
        deadline = time.monotonic() + 5
        while fake.requests[0].ended is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        (request,) = fake.requests
    assert stopped_in < 1.0
    assert answer.text and len(answer.text) < len("word " * 400) - 10
    assert request.ended is not None and request.chunks < 100  # the server stopped streaming too


async def test_many_requests_are_in_flight_at_once():
    with FakeChatServer(lambda r: f"answer to {r.question}", hold_until_concurrent=6) as fake:
        vlm = await started(settings(fake.url, vlm_api_key=""))
        try:
            requests = [AskRequest(photo(), f"q{i}") for i in range(6)]
            results = await vlm.run(requests, Interrupt())
        finally:
            await vlm.close()
        assert fake.most_open == 6
    assert [r.text for r in results] == [f"answer to q{i}" for i in range(6)]


def test_stats_show_the_server_and_how_many_requests_were_in_flight():
    from bot.queue.gpu_queue import QueueStats

    server = {
        "url": "http://gpu:8000/v1",
        "model": MODEL,
        "family": "qwen2_5_vl",
        "requests": 12,
        "in_flight": 2,
        "most_in_flight": 6,
    }
    report = texts.stats_report(QueueStats({}, 2, 10, 0), {"device": "cpu (float32)", "vlm_server": server})
    assert f"/ask and /box: {MODEL} at http://gpu:8000/v1, 2 in flight (at most 6 so far), 12 sent" in report.en
    assert "http://gpu:8000/v1" in report.zh and "6" in report.zh


async def test_an_albums_photos_all_go_as_image_url_parts_of_one_message_sharing_the_budget(server):
    budget = 1_003_520
    vlm = await started(settings(server.url, vlm_image_pixels=budget))
    album = (photo(), photo((480, 640)), photo((800, 800)))
    history = (Turn("Which is sharpest?", "The second."),)
    try:
        answer = await vlm.ask(AskRequest(album[0], "Why?", history, more_images=album[1:]), Interrupt())
    finally:
        await vlm.close()
    assert answer.images_used == 3 and answer.history_used == 1
    (request,) = server.requests  # one request for the whole album
    first = request.messages[0]["content"]
    assert [p["type"] for p in first] == ["image_url"] * 3 + ["text"]
    assert all(p["type"] == "text" for m in request.messages[1:] if m["role"] == "user" for p in m["content"])
    images = request.images
    assert len(images) == 3
    assert [i.size[::-1] for i in images] == [
        smart_resize(h, w, 28, 56 * 56, budget // 3)
        for w, h in (
            (640, 480),
            (480, 640),
            (800, 800),
        )
    ]
    assert sum(i.width * i.height for i in images) <= budget
