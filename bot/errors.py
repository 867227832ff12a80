"""Errors that carry a message fit to show a user.

The tree::

    BotError                 .user_message is safe to send; str(exc) is for logs only
    ├── BadInput             the user's input can't be used (missing photo, bad option)
    │   └── BadImage         corrupt, truncated, too large, not an allowed format
    ├── Busy                 the global queue cap is reached
    ├── TooManyPending       the user's own cap of waiting jobs is reached
    ├── QuotaExceeded        the user's per-minute or per-day quota for the command is used up
    ├── JobCancelled         the user cancelled the job
    ├── JobTimedOut          the job ran past JOB_TIMEOUT_S
    ├── ModelUnavailable     the configured model can't be loaded
    ├── ModelFailed          the model raised while running this job
    ├── ShuttingDown         the bot is stopping; the request stays in the journal for after the restart
    ├── IndexUnavailable     the photo index (chromadb) can't be reached or is in use by another process
    ├── StorageBusy          another process holds the bot's SQLite file (a backup, an admin's sqlite3)
    └── ReindexNeeded        this chat's photos were indexed with another CLIP model: run `reindex`

A model worker's errors (contract.errors.WorkerError) carry a kind, not words: `from_worker()` turns them into
the BotError above that the user is told, through the one table of kinds and texts below.

Anything that is not a BotError is a bug: the error handler logs it with an id and the user
gets a generic message with that id, never the exception text.
"""

from __future__ import annotations

from collections.abc import Callable

from bot import texts
from bot.i18n import Say
from contract.errors import ErrorKind, WorkerError


class BotError(Exception):
    """Base class: `user_message` is what the user sees (a bot.texts Text, in their language when sent)."""

    user_message: Say = texts.ERROR

    def __init__(self, log_message: str = "", *, user_message: Say | None = None) -> None:
        super().__init__(log_message or str(self.user_message))
        if user_message is not None:
            self.user_message = user_message


class BadInput(BotError):
    """The user's input can't be used."""


class BadImage(BadInput):
    """The image can't be read safely."""

    user_message = texts.BAD_IMAGE


class Busy(BotError):
    user_message = texts.BUSY


class TooManyPending(BotError):
    user_message = texts.TOO_MANY_PENDING


class QuotaExceeded(BotError):
    user_message = texts.QUOTA_EXCEEDED


class JobCancelled(BotError):
    user_message = texts.CANCELLED


class JobTimedOut(BotError):
    user_message = texts.TIMED_OUT


class ModelUnavailable(BotError):
    user_message = texts.MODEL_UNAVAILABLE


class ModelFailed(BotError):
    user_message = texts.MODEL_FAILED


class ShuttingDown(BotError):
    """Not an answer: the request is replayed from the journal when the bot is back."""

    user_message = texts.SHUTTING_DOWN


class IndexUnavailable(BotError):
    user_message = texts.INDEX_UNAVAILABLE


class StorageBusy(BotError):
    user_message = texts.STORAGE_BUSY


class ReindexNeeded(BotError):
    user_message = texts.REINDEX_NEEDED


# What the user is told for each kind of worker failure: the error class, and its words from the error's details.
_WORKER_ERRORS: dict[ErrorKind, tuple[type[BotError], Callable[..., Say]]] = {
    ErrorKind.MODEL_UNAVAILABLE: (ModelUnavailable, lambda: texts.MODEL_UNAVAILABLE),
    ErrorKind.WRONG_FAMILY: (ModelUnavailable, texts.model_cannot),
    ErrorKind.SAFETY_CHECKER_UNAVAILABLE: (ModelUnavailable, lambda: texts.SAFETY_CHECKER_UNAVAILABLE),
    ErrorKind.QUESTION_TOO_LONG: (BadInput, lambda: texts.QUESTION_TOO_LONG_FOR_MODEL),
    ErrorKind.INTERRUPTED: (JobCancelled, lambda: texts.CANCELLED),
    ErrorKind.MODEL_FAILED: (ModelFailed, lambda: texts.MODEL_FAILED),
    ErrorKind.MODEL_TOO_BIG: (ModelUnavailable, lambda: texts.MODEL_TOO_BIG),
    ErrorKind.OUT_OF_MEMORY: (ModelFailed, lambda: texts.OUT_OF_MEMORY),
    ErrorKind.PHOTO_TOO_WIDE: (BadInput, lambda: texts.WIDE_PHOTO),
    ErrorKind.VLM_FAMILY_UNKNOWN: (ModelUnavailable, lambda: texts.VLM_FAMILY_UNKNOWN),
    ErrorKind.SERVER_UNREACHABLE: (ModelUnavailable, lambda: texts.VLM_SERVER_UNREACHABLE),
    ErrorKind.SERVER_KEY_REFUSED: (ModelUnavailable, lambda: texts.VLM_SERVER_KEY_REFUSED),
    ErrorKind.SERVER_NO_MODEL: (ModelUnavailable, lambda: texts.VLM_SERVER_NO_MODEL),
    ErrorKind.SERVER_BUSY: (Busy, lambda: texts.BUSY),
    ErrorKind.SERVER_REFUSED: (ModelFailed, lambda: texts.VLM_SERVER_REFUSED),
    ErrorKind.SERVER_FAILED: (ModelFailed, lambda: texts.VLM_SERVER_FAILED),
}


def from_worker(error: WorkerError) -> BotError:
    """The BotError (with its user text) for a model worker's error."""
    cls, words = _WORKER_ERRORS[error.kind]
    try:
        message = words(*error.details)
    except TypeError:  # details that don't fit the text: the kind's generic words
        message = cls.user_message
    return cls(str(error), user_message=message)
