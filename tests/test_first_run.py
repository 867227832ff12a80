"""A first run as a new user makes it: a wrong token, an unreachable Bot API, bad webhook settings, `download`
without a token, and the installed wheel. Each ends in plain lines, never a traceback or the token."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tests.support.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
WRONG_TOKEN = "987654321:AAWrongTokenWrongTokenWrongToken_1234"


def bot_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", DATA_DIR=str(tmp_path / "data"), **settings)
    return env


def run_bot(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=bot_env(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tg():
    with FakeTelegram("123456789:AAFakeTokenForTests-NeverLogged_0123456") as server:
        yield server


@pytest.mark.parametrize("token", [WRONG_TOKEN, "not-a-token"], ids=["unauthorized", "malformed"])
def test_a_token_telegram_rejects_ends_in_two_plain_lines(tmp_path, tg, token):
    out = run_bot(
        tmp_path, TELEGRAM_BOT_TOKEN=token, TELEGRAM_BASE_URL=tg.base_url, TELEGRAM_BASE_FILE_URL=tg.base_file_url
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, out.stderr
    assert "Traceback" not in out.stderr and token not in out.stderr + out.stdout
    assert "rejected the bot token" in lines[0] and "TELEGRAM_BOT_TOKEN" in out.stderr
    assert tg.calls("getMe") and not tg.calls("getUpdates")  # it stopped at the first call


def test_an_unreachable_bot_api_is_retried_with_one_line_per_try(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = WRONG_TOKEN
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=bot_env(tmp_path, TELEGRAM_BOT_TOKEN=token, TELEGRAM_BASE_URL=f"http://127.0.0.1:{port}/bot"),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while sum("can't be reached" in line for line in lines) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # tries after 0, 1 and 3 s: the back-off doubles
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    reader.join(timeout=10)
    stderr = "".join(lines)
    assert process.returncode != 0 and "Traceback" not in stderr and token not in stderr
    tries = [line for line in lines if "can't be reached" in line]
    assert len(tries) >= 3 and len(lines) == len(tries), stderr  # one line per try, nothing else
    assert "try 1, next in 1 s" in tries[0] and "try 2, next in 2 s" in tries[1] and "try 3, next in 4 s" in tries[2]
    assert f"http://127.0.0.1:{port}" in tries[0]


def test_download_needs_no_token(tmp_path):
    local = tmp_path / "blip"
    local.mkdir()
    out = run_bot(tmp_path, "download", "--only", "caption", CAPTION_MODEL=str(local))
    assert out.returncode == 0, out.stderr
    assert "is a local directory" in out.stderr
    assert run_bot(tmp_path).returncode != 0  # running the bot still needs one


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("WEBHOOK_URL", "http://bot.example.org/hook"),
        ("WEBHOOK_URL", "bot.example.org/hook"),
        ("WEBHOOK_SECRET", "has spaces and $ signs"),
        ("WEBHOOK_SECRET", "x" * 257),
    ],
)
def test_bad_webhook_settings_are_refused_at_start_naming_the_setting(tmp_path, setting, value):
    settings = {"WEBHOOK_URL": "https://bot.example.org/hook", setting: value}
    out = run_bot(tmp_path, TELEGRAM_BOT_TOKEN=WRONG_TOKEN, **settings)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert f"  {setting}: " in out.stderr, out.stderr
    if setting == "WEBHOOK_SECRET":
        assert value not in out.stderr  # a secret is never echoed
        assert "A-Z, a-z, 0-9, _ and -" in out.stderr
    else:
        assert "https" in out.stderr


def test_good_webhook_settings_are_accepted(monkeypatch):
    from bot.settings import Settings

    settings = Settings(
        telegram_bot_token="1:x", webhook_url="https://bot.example.org/hook", webhook_secret="A-z_09" * 40
    )
    assert settings.webhook_url == "https://bot.example.org/hook"


def test_the_wheel_holds_every_package_of_the_tree(tmp_path):
    # Built from a copy, so the build's own folders (build/, *.egg-info) never land in the tree.
    source = tmp_path / "src"
    for name in ("bot", "handlers", "models", "contract"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "tmp")],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next((tmp_path / "tmp").glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(
        str(init.parent.relative_to(ROOT))
        for top in ("bot", "handlers", "models", "contract")
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    )
    assert "bot/queue" in packages and "bot/stores" in packages  # the tree was read
    missing = [p for p in packages if f"{p}/__init__.py" not in names]
    assert not missing, f"packages missing from {wheel.name}: {missing}"
    modules = {
        str(p.relative_to(ROOT))
        for top in ("bot", "handlers", "models", "contract")
        for p in (ROOT / top).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert modules <= names, sorted(modules - names)


def test_reindex_with_a_rejected_token_says_so_without_the_token(tmp_path, tg, tiny_clip, capsys):
    from bot.cli import maintenance
    from bot.settings import Settings
    from bot.stores.photo_index import ModelSpec, PhotoIndex, PhotoRecord

    index = PhotoIndex(tmp_path)
    index.open()
    index.add(-5, ModelSpec("an-older-clip", 3), [PhotoRecord("k1", -5, file_id="f1")], [(1.0, 0.0, 0.0)])
    index.close()
    settings = Settings(
        telegram_bot_token=WRONG_TOKEN,
        telegram_base_url=tg.base_url,
        telegram_base_file_url=tg.base_file_url,
        data_dir=tmp_path,
        clip_model=str(tiny_clip),
        device="cpu",
    )
    assert maintenance.reindex(settings, None, 4) == 1
    err = capsys.readouterr().err
    assert "rejected the bot token" in err and WRONG_TOKEN not in err and WRONG_TOKEN.split(":")[1] not in err
