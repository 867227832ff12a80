"""The one settings object: every knob of the bot, read from the environment and `.env`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IdSet = Annotated[frozenset[int], NoDecode]

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class Settings(BaseSettings):
    """Run-time settings. The environment names are a public contract (see README): never rename them."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Telegram
    telegram_bot_token: SecretStr = Field(description="Bot token from @BotFather (required; never logged).")
    telegram_base_url: str = Field(
        "https://api.telegram.org/bot", description="Bot API endpoint; point it at a self-hosted Bot API server."
    )
    telegram_base_file_url: str = Field(
        "https://api.telegram.org/file/bot", description="Bot API file download endpoint."
    )

    # Storage and device
    data_dir: Path = Field(Path("./data"), description="Where the photo index, chat history and job journal live.")
    device: str = Field("auto", description="auto, cpu, mps, cuda or cuda:N. auto picks CUDA (fp16) when present.")

    # Models: a hub id or a local directory each
    gen_model: str = Field("stabilityai/sdxl-turbo", description="/gen text-to-image pipeline.")
    caption_model: str = Field("Salesforce/blip-image-captioning-large", description="/caption model.")
    vlm_model: str = Field("Qwen/Qwen2.5-VL-7B-Instruct", description="/ask and /box vision-language model.")
    clip_model: str = Field("openai/clip-vit-large-patch14", description="/find and photo indexing (CLIP).")
    classify_model: str = Field("google/vit-base-patch16-224", description="/classify (ImageNet classifier).")
    caption_max_new_tokens: int = Field(40, ge=1, le=512, description="Longest caption, in tokens.")
    vlm_max_new_tokens: int = Field(512, ge=1, le=8192, description="Longest /ask answer, in tokens.")
    vlm_context_tokens: int = Field(
        8192, ge=512, description="Most tokens of one /ask prompt plus its answer; older history is trimmed to fit."
    )
    vlm_image_pixels: int = Field(
        1_003_520, ge=3136, description="Photos are scaled to at most this many pixels before the VLM sees them."
    )
    vlm_quantization: Literal["none", "gptq", "bnb-4bit"] = Field(
        "none", description="none, gptq (a GPTQ checkpoint) or bnb-4bit; both need a CUDA GPU and an extra."
    )

    # Access
    allowed_user_ids: IdSet = Field(frozenset(), description="Comma-separated user ids; empty = everyone.")
    allowed_chat_ids: IdSet = Field(frozenset(), description="Comma-separated chat ids; empty = everyone.")
    admin_user_ids: IdSet = Field(frozenset(), description="Comma-separated admin user ids.")

    # Queue
    queue_backend: Literal["local", "ray"] = Field("local", description="local (one device-owning worker) or ray.")
    queue_max_pending: int = Field(100, ge=1, description="Jobs waiting at once, all users; beyond it: 'busy'.")
    queue_max_per_user: int = Field(5, ge=1, description="Jobs one user may have waiting at once.")
    job_timeout_s: float = Field(300.0, gt=0, description="Seconds a job may run before it is stopped.")
    max_batch_size: int = Field(8, ge=1, le=256, description="Most same-task jobs run together in one batch.")

    # Stores
    chroma_url: str = Field("", description="A Chroma server URL instead of the embedded store; empty = embedded.")

    # Input limits
    max_image_pixels: int = Field(
        40_000_000, ge=1_000_000, description="Largest image accepted, in pixels (decompression-bomb guard)."
    )

    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("allowed_user_ids", "allowed_chat_ids", "admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            try:
                return frozenset(int(p) for p in parts if p)
            except ValueError:
                raise ValueError(f"expected comma-separated integer ids, got {value!r}") from None
        return value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        value = value.strip().lower()
        if not _DEVICE.match(value):
            raise ValueError(f"DEVICE must be auto, cpu, mps, cuda or cuda:N, not {value!r}")
        return value

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file for chat history and the job journal."""
        return self.data_dir / "bot.sqlite3"


def describe_settings() -> str:
    """A plain-text table of every setting, for `python -m bot --help`."""
    lines = []
    for name, field in Settings.model_fields.items():
        if field.is_required():
            default = "required"
        elif field.default in ("", frozenset()):
            default = "empty"
        else:
            default = str(field.default)
        lines.append(f"  {name.upper():<26} {field.description}  [default: {default}]")
    return "\n".join(lines)
