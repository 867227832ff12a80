"""Logging set-up: quiet HTTP libraries, and the bot token scrubbed from every record."""

from __future__ import annotations

import logging


class RedactSecrets(logging.Filter):
    """Replaces the token (and other secrets) wherever they appear in a record: message, arguments, traceback."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self._secrets:
            if secret in message or (record.exc_text and secret in record.exc_text):
                message = message.replace(secret, "[REDACTED]")
                record.msg, record.args = message, None
                if record.exc_text:
                    record.exc_text = record.exc_text.replace(secret, "[REDACTED]")
        return True


def configure_logging(level: str, *secrets: str) -> None:
    """Root logging to stderr, token-free; httpx at WARNING because it logs URLs, and URLs hold the token."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(*secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "httpx2", "openai", "urllib3", "chromadb", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
