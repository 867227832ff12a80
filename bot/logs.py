"""Logging set-up: quiet HTTP libraries, and the bot token scrubbed from every record."""

from __future__ import annotations

import logging


class RedactToken(logging.Filter):
    """Replaces the token wherever it appears in a record (message, arguments, traceback)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secret:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if self._secret in message or (record.exc_text and self._secret in record.exc_text):
            record.msg = message.replace(self._secret, "[REDACTED]")
            record.args = None
            if record.exc_text:
                record.exc_text = record.exc_text.replace(self._secret, "[REDACTED]")
        return True


def configure_logging(level: str, secret: str) -> None:
    """Root logging to stderr, token-free; httpx at WARNING because it logs URLs, and URLs hold the token."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(secret))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "urllib3", "chromadb", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
