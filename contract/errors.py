"""Errors a model worker raises: each carries a kind (what went wrong, for the bot to put into words) and a
message for the logs. Workers never hold user texts; the bot maps kinds to texts in one table (bot/errors.py).

The tree::

    WorkerError              .kind says what happened; str(exc) is for logs only
    ├── ModelUnavailable     the model can't be loaded (or can't do the task, or lacks a part it needs)
    ├── InputRejected        the model can't take this request (e.g. the question doesn't fit its context)
    └── Interrupted          the job was cancelled or ran out of time between steps
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    MODEL_UNAVAILABLE = "model_unavailable"
    WRONG_FAMILY = "wrong_family"  # the configured model's family can't do the task (details: task, model_type)
    SAFETY_CHECKER_UNAVAILABLE = "safety_checker_unavailable"
    QUESTION_TOO_LONG = "question_too_long"
    INTERRUPTED = "interrupted"
    MODEL_FAILED = "model_failed"
    MODEL_TOO_BIG = "model_too_big"  # it can never fit MODEL_MEMORY_BUDGET_GB
    OUT_OF_MEMORY = "out_of_memory"  # the device ran out of memory, even after unloading the other models
    PHOTO_TOO_WIDE = "photo_too_wide"  # the photo's aspect ratio is over the model's limit
    # An OpenAI-compatible model server (VLM_URL):
    VLM_FAMILY_UNKNOWN = "vlm_family_unknown"  # how the served model writes boxes isn't known (VLM_FAMILY)
    SERVER_UNREACHABLE = "server_unreachable"
    SERVER_KEY_REFUSED = "server_key_refused"
    SERVER_NO_MODEL = "server_no_model"
    SERVER_BUSY = "server_busy"  # rate limited
    SERVER_REFUSED = "server_refused"  # it refused this request (HTTP 400/422)
    SERVER_FAILED = "server_failed"


class WorkerError(Exception):
    """A worker's failure: `kind` for the bot's reply, `details` to fill it, the message for logs."""

    default_kind = ErrorKind.MODEL_FAILED

    def __init__(self, message: str = "", kind: ErrorKind | None = None, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.kind = kind or self.default_kind
        self.details = details

    def __reduce__(self) -> tuple[object, ...]:
        # Keep kind and details when pickled (Ray sends worker errors back to the bot process).
        return type(self), (str(self), self.kind, self.details)


class ModelUnavailable(WorkerError):
    default_kind = ErrorKind.MODEL_UNAVAILABLE


class InputRejected(WorkerError):
    default_kind = ErrorKind.QUESTION_TOO_LONG


class Interrupted(WorkerError):
    default_kind = ErrorKind.INTERRUPTED
