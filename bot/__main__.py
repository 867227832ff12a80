"""`python -m bot`: run the bot, or pre-fetch its models."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from pathlib import Path
from urllib.parse import urlparse

from pydantic import ValidationError

from bot.settings import Settings, describe_settings

log = logging.getLogger("bot")

MODEL_SETTINGS = ("caption_model", "clip_model", "classify_model", "vlm_model", "gen_model", "safety_checker_model")

# Weights in formats this bot never loads: skip them when downloading.
IGNORED_FILES = ["*.msgpack", "*.h5", "*.ot", "*.onnx", "*.onnx_data", "*.tflite", "flax_model*", "tf_model*",
                 "rust_model*", "openvino*"]


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
        "--only", default="", help="comma-separated subset of: " + ", ".join(s.removesuffix("_model") for s in MODEL_SETTINGS)
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


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "?"
            problems.append(f"  {name}: {'not set' if error['type'] == 'missing' else error['msg']}")
        sys.exit("Bad settings (see .env.example):\n" + "\n".join(problems))


def run(settings: Settings, webhook_secret: str) -> None:
    from telegram import Update

    from bot.app import build_application
    from bot.imaging.decode import configure_pillow

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
    settings = load_settings()
    from bot.logs import configure_logging

    webhook_secret = settings.webhook_secret.get_secret_value() or secrets.token_urlsafe(32)
    configure_logging(settings.log_level, settings.telegram_bot_token.get_secret_value(), webhook_secret,
                      settings.vlm_api_key.get_secret_value())
    if args.command == "download":
        sys.exit(download(settings, args.only))
    if args.command in ("import", "reindex"):
        from bot.cli import maintenance
        from bot.imaging.decode import configure_pillow

        configure_pillow(settings.max_image_pixels)
        if args.command == "import":
            sys.exit(maintenance.import_folder(settings, args.folder, args.chat, max(1, args.batch_size)))
        sys.exit(maintenance.reindex(settings, args.chat, max(1, args.batch_size)))
    run(settings, webhook_secret)


if __name__ == "__main__":
    main()
