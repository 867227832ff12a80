"""The settings contract: fixed environment names, id lists, device values, the secret token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings

CONTRACT = {
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BASE_URL",
    "TELEGRAM_BASE_FILE_URL",
    "DATA_DIR",
    "DEVICE",
    "GEN_MODEL",
    "CAPTION_MODEL",
    "VLM_MODEL",
    "CLIP_MODEL",
    "CLASSIFY_MODEL",
    "ALLOWED_USER_IDS",
    "ALLOWED_CHAT_IDS",
    "ADMIN_USER_IDS",
    "QUEUE_BACKEND",
    "CHROMA_URL",
}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_every_contract_name_is_a_setting_with_the_documented_default(monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    settings = Settings()
    assert {name.upper() for name in Settings.model_fields} >= CONTRACT
    assert settings.telegram_base_url == "https://api.telegram.org/bot"
    assert settings.telegram_base_file_url == "https://api.telegram.org/file/bot"
    assert settings.data_dir == Path("./data")
    assert settings.device == "auto"
    assert settings.gen_model == "stabilityai/sdxl-turbo"
    assert settings.caption_model == "Salesforce/blip-image-captioning-large"
    assert re.search(r"Qwen(2\.5|3)-VL", settings.vlm_model)
    assert settings.clip_model == "openai/clip-vit-large-patch14"
    assert settings.classify_model == "google/vit-base-patch16-224"
    assert settings.allowed_user_ids == settings.allowed_chat_ids == settings.admin_user_ids == frozenset()
    assert settings.queue_backend == "local"
    assert settings.chroma_url == ""


def test_token_is_required_and_secret(monkeypatch):
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:very-secret")
    settings = Settings()
    assert "very-secret" not in repr(settings) and "very-secret" not in str(settings)
    assert settings.telegram_bot_token.get_secret_value() == "123:very-secret"


def test_id_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "t")
    monkeypatch.setenv("ALLOWED_USER_IDS", "1, 2,3")
    monkeypatch.setenv("ALLOWED_CHAT_IDS", "-100123")
    monkeypatch.setenv("ADMIN_USER_IDS", "")
    settings = Settings()
    assert settings.allowed_user_ids == {1, 2, 3}
    assert settings.allowed_chat_ids == {-100123}
    assert settings.admin_user_ids == frozenset()
    monkeypatch.setenv("ALLOWED_USER_IDS", "1,bob")
    with pytest.raises(ValidationError, match="comma-separated integer ids"):
        Settings()


@pytest.mark.parametrize("value", ["auto", "cpu", "cuda", "cuda:1", "CUDA:0", "mps"])
def test_device_values(monkeypatch, value):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "t")
    monkeypatch.setenv("DEVICE", value)
    assert Settings().device == value.lower()


@pytest.mark.parametrize("value", ["gpu", "cuda:x", "tpu"])
def test_bad_device_is_refused(monkeypatch, value):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "t")
    monkeypatch.setenv("DEVICE", value)
    with pytest.raises(ValidationError, match="DEVICE must be"):
        Settings()


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=from-file\nCAPTION_MODEL=/models/blip\n")
    settings = Settings()
    assert settings.telegram_bot_token.get_secret_value() == "from-file"
    assert settings.caption_model == "/models/blip"


def test_env_example_documents_every_setting_with_a_comment():
    lines = (ROOT / ".env.example").read_text().splitlines()
    documented = {}
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z_]+=", line):
            documented[line.split("=")[0]] = i
    assert set(documented) == {name.upper() for name in Settings.model_fields}
    for name, i in documented.items():
        above = lines[i - 1]
        assert above.startswith("#") or re.match(r"^[A-Z_]+=", above), f"{name} has no comment above it"
