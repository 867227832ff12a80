"""`python -m bot`: run the bot, or pre-fetch its models."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from pydantic import SecretStr, ValidationError

from bot.settings import Settings, describe_settings

log = logging.getLogger("bot")

MODEL_SETTINGS = ("caption_model", "clip_model", "classify_model", "vlm_model", "gen_model", "safety_checker_model")

# Weights in formats this bot never loads: skip them when downloading.
IGNORED_FILES = [
    "*.msgpack",
    "*.h5",
    "*.ot",
    "*.onnx",
    "*.onnx_data",
    "*.tflite",
    "flax_model*",
    "tf_model*",
    "rust_model*",
    "openvino*",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="A self-hosted multimodal Telegram bot. Settings come from the environment or ./.env.",
        epilog="commands:\n  run        run the bot (long polling, or a webhook with WEBHOOK_URL); the default\n"
        "  download   fetch the configured models into the Hugging Face cache, with progress bars\n"
        "  import     index a folder of photos for /find in one chat\n"
        "  reindex    re-embed every indexed photo after CLIP_MODEL changed\n\n"
        "settings (environment variables):\n" + describe_settings(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{run,download,import,reindex}")
    sub.add_parser("run", help="run the bot (default)")
    download = sub.add_parser("download", help="pre-fetch the configured models")
    download.add_argument(
        "--only",
        default="",
        help="comma-separated subset of: " + ", ".join(s.removesuffix("_model") for s in MODEL_SETTINGS),
    )
    importer = sub.add_parser(
        "import", help="index a folder of photos for /find in one chat (stop the bot first, unless CHROMA_URL)"
    )
    importer.add_argument("folder", type=Path, help="a folder of photos (searched recursively)")
    importer.add_argument("--chat", type=int, required=True, help="the chat id whose /find will see them")
    importer.add_argument("--batch-size", type=int, default=16, help="photos per forward pass (default 16)")
    reindex = sub.add_parser(
        "reindex", help="re-embed indexed photos made with another CLIP model (stop the bot first, unless CHROMA_URL)"
    )
    reindex.add_argument("--chat", type=int, default=None, help="only this chat (default: every chat)")
    reindex.add_argument("--batch-size", type=int, default=16, help="photos per forward pass (default 16)")
    return parser.parse_args(argv)


def load_settings(*, token_required: bool = True) -> Settings:
    """The settings, or a plain list of what is wrong with them and exit 1. `download` talks to no Telegram,
    so it runs without a token."""
    try:
        return Settings()
    except ValidationError as exc:
        errors = exc.errors()
        only_token = all(e["type"] == "missing" and e["loc"] == ("telegram_bot_token",) for e in errors)
        if only_token and not token_required:
            return Settings(telegram_bot_token=SecretStr(""))
        problems = []
        for error in errors:
            name = str(error["loc"][0]).upper() if error["loc"] else "?"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"  {name}: {'not set' if error['type'] == 'missing' else message}")
        sys.exit("Bad settings (see .env.example):\n" + "\n".join(problems))


# Waiting between tries while the Bot API can't be reached: doubling from 1 s up to a minute.
FIRST_RETRY_S = 1.0
LAST_RETRY_S = 60.0


def check_telegram(settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Ask Telegram who the bot is (getMe) before anything starts: a rejected token ends the process with
    two plain lines and exit 1; an unreachable Bot API is retried with back-off, one log line per try."""
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    async def get_me() -> None:
        bot = Bot(
            settings.telegram_bot_token.get_secret_value(),
            base_url=settings.telegram_base_url,
            base_file_url=settings.telegram_base_file_url,
        )
        async with bot:  # initialize() calls getMe
            pass

    endpoint = _where(settings.telegram_base_url)
    token = settings.telegram_bot_token.get_secret_value()
    delay, attempt = FIRST_RETRY_S, 1
    while True:
        try:
            asyncio.run(get_me())
            return
        except InvalidToken:
            # PTB's own message holds the token: never show it.
            sys.exit(
                f"Telegram rejected the bot token (getMe answered Unauthorized/Not Found at {endpoint}).\n"
                "Check TELEGRAM_BOT_TOKEN: the whole token from @BotFather, e.g. 123456789:AA..., and "
                "TELEGRAM_BASE_URL if you use your own Bot API server."
            )
        except NetworkError as exc:  # TimedOut too: no answer, or a 5xx of a proxy in between
            log.warning(
                "Telegram's Bot API at %s can't be reached (%s); try %d, next in %.0f s. Check the network, "
                "a proxy, or TELEGRAM_BASE_URL.",
                endpoint,
                _reason(exc, token),
                attempt,
                delay,
            )
        except TelegramError as exc:
            sys.exit(
                f"Telegram refused getMe at {endpoint}: {_reason(exc, token)}.\nCheck TELEGRAM_BOT_TOKEN and "
                "TELEGRAM_BASE_URL."
            )
        sleep(delay)
        delay, attempt = min(delay * 2, LAST_RETRY_S), attempt + 1


def _where(url: str) -> str:
    """Scheme, host and port of a Bot API URL (no path: a path may hold secrets)."""
    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "TELEGRAM_BASE_URL"


def _reason(exc: BaseException, token: str) -> str:
    """An exception's message in one line, for a person, without the token."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return (text.replace(token, "[REDACTED]") if token else text)[:200]


def run(settings: Settings, webhook_secret: str) -> None:
    from telegram import Update

    from bot.app import build_application
    from bot.imaging.decode import configure_pillow

    check_telegram(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    configure_pillow(settings.max_image_pixels)
    application = build_application(settings)
    if settings.webhook_url:
        # Telegram sends the secret in a header; PTB answers 403 to any request without it.
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=urlparse(settings.webhook_url).path.lstrip("/"),
            webhook_url=settings.webhook_url,
            secret_token=webhook_secret,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)


def download(settings: Settings, only: str) -> int:
    """Fetch every configured hub model (local directories are skipped); returns an exit code."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    wanted = {w.strip() + "_model" for w in only.split(",") if w.strip()} or set(MODEL_SETTINGS)
    unknown = wanted - set(MODEL_SETTINGS)
    if unknown:
        log.error("unknown model name(s) for --only: %s", ", ".join(sorted(u.removesuffix("_model") for u in unknown)))
        return 2
    failed = 0
    for setting in MODEL_SETTINGS:
        if setting not in wanted:
            continue
        source = getattr(settings, setting)
        if not source:  # optional models (the safety checker) may be left empty
            continue
        if setting == "vlm_model" and settings.vlm_url:
            log.info("VLM_MODEL: %s is served by VLM_URL; nothing to download", source)
            continue
        if Path(source).is_dir():
            log.info("%s: %s is a local directory; nothing to download", setting.upper(), source)
            continue
        log.info("%s: downloading %s", setting.upper(), source)
        try:
            # A diffusers pipeline lives in model_index.json and its component folders; repos such as
            # sdxl-turbo also hold single-file checkpoints of the same weights at the top (20 GB more).
            allow = ["model_index.json", "*/*"] if setting == "gen_model" else None
            path = snapshot_download(source, allow_patterns=allow, ignore_patterns=IGNORED_FILES)
        except (HfHubHTTPError, OSError, ValueError) as exc:
            failed += 1
            log.error("%s: could not download %s: %s", setting.upper(), source, exc)
            continue
        log.info("%s: ready at %s", setting.upper(), path)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = load_settings(token_required=args.command != "download")
    from bot.logs import configure_logging

    webhook_secret = settings.webhook_secret.get_secret_value() or secrets.token_urlsafe(32)
    configure_logging(
        settings.log_level,
        settings.telegram_bot_token.get_secret_value(),
        webhook_secret,
        settings.vlm_api_key.get_secret_value(),
    )
    if args.command == "download":
        sys.exit(download(settings, args.only))
    if args.command in ("import", "reindex"):
        from bot.cli import maintenance
        from bot.imaging.decode import configure_pillow

        configure_pillow(settings.max_image_pixels)
        if args.command == "import":
            sys.exit(maintenance.import_folder(settings, args.folder, args.chat, max(1, args.batch_size)))
        sys.exit(maintenance.reindex(settings, args.chat, max(1, args.batch_size)))
    try:
        run(settings, webhook_secret)
    except KeyboardInterrupt:  # Ctrl+C while waiting for the Bot API (polling handles its own)
        sys.exit(130)


if __name__ == "__main__":
    main()
