"""QUEUE_BACKEND=ray: a local Ray cluster started by the test (CPU only) serves the tiny models."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bot.errors import ModelFailed
from tests.support.chat import answer_to, photo_bytes

pytestmark = pytest.mark.timeout(300)

RAY = str(Path(sys.executable).parent / "ray")
ROOT = Path(__file__).resolve().parent.parent
# More tokens than the tiny BLIP's 64 positions: its forward pass raises (real BLIP has 512 and the
# 200-character prefix cap keeps it inside them).
POISON = "/caption " + "a " * 70


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """`ray start --head` on this machine, as an operator would; stopped after the module."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    port = free_port()
    # Every node runs the project's code: here the workers find it through PYTHONPATH.
    # Token auth off explicitly: a ~/.ray/auth_token left by another Ray session must not matter here.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
    subprocess.run(
        [
            RAY,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--num-gpus=0",
            f"--temp-dir={temp}",
            "--include-dashboard=false",
            "--object-store-memory=200000000",
            "--disable-usage-stats",
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=120,
    )
    yield f"127.0.0.1:{port}"
    subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def reference_caption(tiny_blip):
    from bot.imaging.decode import decode_image
    from bot.settings import Settings
    from contract.requests import CaptionRequest, Task
    from contract.worker import Interrupt
    from models.pool import ModelPool

    pool = ModelPool(Settings(telegram_bot_token="t", caption_model=str(tiny_blip), device="cpu"))
    return lambda data: pool.run(Task.CAPTION, [CaptionRequest(decode_image(data, 10**7))], Interrupt())[0].text


def test_caption_through_ray_serve_and_a_raising_replica_fails_only_its_job(
    new_bot, ray_cluster, tiny_blip, user_ids, reference_caption
):
    tg, bot = new_bot(queue_backend="ray", ray_address=ray_cluster, caption_model=tiny_blip)
    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)
    first = tg.send_message(chat, user, photo=photo_bytes(1), caption="/caption")
    assert answer_to(tg, first, timeout=120)["text"] == reference_caption(photo_bytes(1))

    others = [tg.user(next(user_ids), name) for name in ("Bob", "Cy")]
    poison = tg.send_message(chat, user, photo=photo_bytes(2), caption=POISON)
    good = [
        tg.send_message(tg.private_chat(u), u, photo=photo_bytes(3 + i), caption="/caption")
        for i, u in enumerate(others)
    ]
    assert answer_to(tg, poison, timeout=120)["text"] == ModelFailed.user_message.en
    for request, i in zip(good, range(3, 5), strict=False):
        assert answer_to(tg, request, timeout=120)["text"] == reference_caption(photo_bytes(i))
    # The replica keeps serving after the failure.
    again = tg.send_message(chat, user, photo=photo_bytes(9), caption="/caption")
    assert answer_to(tg, again, timeout=120)["text"] == reference_caption(photo_bytes(9))
    logs = bot.logs()
    assert "Ray joined" in logs and "deployed caption" in logs
    assert bot.alive()


def test_find_through_ray_serve(new_bot, ray_cluster, tiny_clip, user_ids):
    from tests.support.find import find_answer, wait_for_log

    tg, bot = new_bot(queue_backend="ray", ray_address=ray_cluster, clip_model=tiny_clip)
    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)
    photos = [tg.send_message(chat, user, photo=photo_bytes(40 + i)) for i in range(3)]
    wait_for_log(bot, "indexed photo", count=3, timeout=180)
    by_words = find_answer(tg, tg.send_message(chat, user, text="/find blocks k=3"), timeout=120)
    assert len(by_words.matches) == 3
    by_example = find_answer(tg, tg.send_message(chat, user, text="/find", reply_to=photos[0]), timeout=120)
    assert by_example.matches
    assert "deployed embed" in bot.logs()
