"""`python -m bot`: --help, clear errors for bad settings, and `download` of the configured models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def run_bot(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    clean.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", **env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=120
    )


def test_help_explains_subcommands_and_every_setting(tmp_path):
    out = run_bot("--help", cwd=tmp_path)
    assert out.returncode == 0
    assert "download" in out.stdout and "run" in out.stdout
    for name in Settings.model_fields:
        assert name.upper() in out.stdout


def test_missing_token_is_a_clear_error(tmp_path):
    out = run_bot(cwd=tmp_path)
    assert out.returncode != 0
    assert "TELEGRAM_BOT_TOKEN: not set" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_setting_names_the_variable(tmp_path):
    out = run_bot(cwd=tmp_path, TELEGRAM_BOT_TOKEN="1:x", DEVICE="gpu")
    assert out.returncode != 0 and "DEVICE" in out.stderr and "Traceback" not in out.stderr


def test_download_skips_local_directories(tmp_path, tiny_blip):
    out = run_bot("download", "--only", "caption", cwd=tmp_path, TELEGRAM_BOT_TOKEN="1:x", CAPTION_MODEL=str(tiny_blip))
    assert out.returncode == 0, out.stderr
    assert "is a local directory; nothing to download" in out.stderr


def test_download_failure_is_reported_per_model(tmp_path):
    # HF_HUB_OFFLINE=1: a hub id can't be fetched, which must be a clear line and a non-zero exit.
    out = run_bot(
        "download",
        "--only",
        "caption",
        cwd=tmp_path,
        TELEGRAM_BOT_TOKEN="1:x",
        CAPTION_MODEL="Salesforce/blip-image-captioning-large",
    )
    assert out.returncode == 1
    assert "could not download Salesforce/blip-image-captioning-large" in out.stderr
    assert "1:x" not in out.stderr


def test_download_rejects_unknown_names(tmp_path):
    out = run_bot("download", "--only", "captoin", cwd=tmp_path, TELEGRAM_BOT_TOKEN="1:x")
    assert out.returncode == 2 and "captoin" in out.stderr
