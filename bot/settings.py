"""The one settings object: every knob of the bot, read from the environment and `.env`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IdSet = Annotated[frozenset[int], NoDecode]
Terms = Annotated[tuple[str, ...], NoDecode]

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
# setWebhook's secret_token: 1-256 characters of A-Z, a-z, 0-9, _ and - (Bot API).
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


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
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="Model precision: auto (fp16 on GPUs, bf16 on CPUs with AMX or AVX512-BF16, else fp32), "
        "float32, bfloat16 or float16.",
    )

    # Models: a hub id or a local directory each
    gen_model: str = Field("stabilityai/sdxl-turbo", description="/gen text-to-image pipeline.")
    caption_model: str = Field("Salesforce/blip-image-captioning-large", description="/caption model.")
    vlm_model: str = Field(
        "Qwen/Qwen2.5-VL-7B-Instruct",
        description="/ask and /box vision-language model (with VLM_URL: its served name).",
    )
    clip_model: str = Field("openai/clip-vit-large-patch14", description="/find and photo indexing (CLIP).")
    classify_model: str = Field("google/vit-base-patch16-224", description="/classify (ImageNet classifier).")
    caption_max_new_tokens: int = Field(40, ge=1, le=512, description="Longest caption, in tokens.")
    gen_model_kind: Literal["auto", "turbo", "full"] = Field(
        "auto",
        description="turbo (1-4 steps, no guidance), full (up to 50 steps, negative prompts) or auto: "
        "read from GEN_MODEL's name and scheduler config.",
    )
    gen_compile: bool = Field(
        False, description="torch.compile the /gen UNet (CUDA; the first images after a start take a minute longer)."
    )

    # /gen safety: the admins switch it with /safety on|off; that choice outlives restarts
    gen_safety: bool = Field(True, description="Whether /gen safety is on until an admin switches it with /safety.")
    safety_checker_model: str = Field(
        "", description="Safety checker for /gen images (e.g. CompVis/stable-diffusion-safety-checker); empty = none."
    )
    gen_prompt_blocklist: Terms = Field(
        (), description="Comma-separated words or phrases refused in /gen prompts while safety is on; word* = prefix."
    )

    # /ask and /box
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
    vlm_url: str = Field(
        "",
        description="An OpenAI-compatible server (http://host:8000/v1: vLLM, SGLang, Ollama, llama.cpp...) for "
        "/ask and /box; VLM_MODEL is then its served model name. Empty = run VLM_MODEL in-process.",
    )
    vlm_api_key: SecretStr = Field(
        SecretStr(""), description="Sent as 'Authorization: Bearer ...' to VLM_URL (never logged); empty = none."
    )
    vlm_family: Literal["auto", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "glm4v", "other"] = Field(
        "auto", description="With VLM_URL: how the served model writes /box coordinates; auto = from VLM_MODEL's name."
    )
    vlm_max_in_flight: int = Field(
        16, ge=1, le=1024, description="With VLM_URL: most /ask and /box requests sent at once (the server batches)."
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
    batch_sizes: dict[str, int] = Field(
        {}, description='Per-task batch limits as JSON, overriding MAX_BATCH_SIZE, e.g. {"gen": 2, "caption": 16}.'
    )
    batch_window_ms: float = Field(
        5.0, ge=0, le=1000, description="How long an idle worker waits for batch mates of a lone job."
    )

    # Model residency
    model_memory_budget_gb: Annotated[float, Field(ge=0)] | Literal["auto"] = Field(
        "auto",
        description="Memory the loaded models may use; least recently used ones are unloaded. "
        "auto = the device's free memory at start less a headroom; 0 = no limit.",
    )
    model_idle_unload_s: float = Field(0.0, ge=0, description="Unload a model unused this long. 0 = keep it.")
    preload_models: str = Field("", description="Comma-separated tasks to load at start (e.g. caption), or 'all'.")

    # Ray Serve (QUEUE_BACKEND=ray)
    ray_address: str = Field(
        "", description="A Ray cluster to join (ray://host:10001 or host:6379); empty = start one."
    )
    ray_replicas: int = Field(1, ge=1, description="Replicas per model deployment.")
    ray_num_gpus: float = Field(0.0, ge=0, description="GPU share per replica, e.g. 0.5; 0 = run on CPUs.")
    ray_num_cpus: float = Field(0.0, ge=0, description="CPUs reserved per replica.")
    ray_deployments: dict[str, dict[str, float]] = Field(
        {}, description='Per-task overrides as JSON, e.g. {"gen": {"num_gpus": 1, "num_replicas": 2}}.'
    )

    # Webhook mode (instead of long polling)
    webhook_url: str = Field("", description="Public HTTPS URL Telegram posts updates to; empty = long polling.")
    webhook_secret: SecretStr = Field(
        SecretStr(""), description="Secret Telegram sends with each update; empty = a random one per start."
    )
    webhook_listen: str = Field("0.0.0.0", description="Address the webhook server listens on.")
    webhook_port: int = Field(8443, ge=1, le=65535, description="Port the webhook server listens on.")

    # Quotas (per user, across chats; admins are exempt)
    quota_per_minute: dict[str, int] = Field(
        {"*": 10, "gen": 4}, description='Jobs per minute per user, by task as JSON ("*" = any other task; 0 = none).'
    )
    quota_per_day: dict[str, int] = Field(
        {"*": 500, "gen": 100}, description='Jobs per day per user, by task as JSON ("*" = any other task; 0 = none).'
    )

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

    @field_validator("gen_prompt_blocklist", mode="before")
    @classmethod
    def _split_terms(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value

    @field_validator("vlm_url")
    @classmethod
    def _check_vlm_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"VLM_URL must be an http:// or https:// URL such as http://localhost:8000/v1, not {value!r}"
            )
        return value

    @field_validator("model_memory_budget_gb", "dtype", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        value = value.strip().lower()
        if not _DEVICE.match(value):
            raise ValueError(f"DEVICE must be auto, cpu, mps, cuda or cuda:N, not {value!r}")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str) -> str:
        value = value.strip()
        if value and (not value.lower().startswith("https://") or len(value) <= len("https://")):
            # Telegram posts updates only to HTTPS URLs; its refusal would come only after start-up.
            raise ValueError(f"WEBHOOK_URL must be an https:// URL (Telegram refuses others), not {value!r}")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and not _WEBHOOK_SECRET.match(secret):
            # The secret itself is never echoed: only what is wrong with it.
            raise ValueError(
                f"WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - (it has {len(secret)} "
                "characters" + (", some of them not allowed)" if len(secret) <= 256 else ")")
            )
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
        elif field.default in ("", frozenset(), (), {}) or field.default == SecretStr(""):
            default = "empty"
        else:
            default = str(field.default)
        lines.append(f"  {name.upper():<26} {field.description}  [default: {default}]")
    return "\n".join(lines)
