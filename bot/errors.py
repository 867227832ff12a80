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
    └── ReindexNeeded        this chat's photos were indexed with another CLIP model: run `reindex`

Anything that is not a BotError is a bug: the error handler logs it with an id and the user
gets a generic message with that id, never the exception text.
"""

from __future__ import annotations


class BotError(Exception):
    """Base class: `user_message` is what the user sees."""

    user_message: str = "Sorry, that didn't work."

    def __init__(self, log_message: str = "", *, user_message: str | None = None) -> None:
        super().__init__(log_message or self.user_message)
        if user_message is not None:
            self.user_message = user_message


class BadInput(BotError):
    """The user's input can't be used."""


class BadImage(BadInput):
    """The image can't be read safely."""

    user_message = "I couldn't read that image. Please send a JPEG, PNG or WebP photo."


class Busy(BotError):
    user_message = "I'm very busy right now. Please try again in a minute."


class TooManyPending(BotError):
    user_message = "You already have several requests waiting. Wait for them, or /cancel one."


class QuotaExceeded(BotError):
    user_message = "You've reached your limit for now. Please try again later."


class JobCancelled(BotError):
    user_message = "Cancelled."


class JobTimedOut(BotError):
    user_message = "That took too long and was stopped. Please try again, perhaps with a smaller request."


class ModelUnavailable(BotError):
    user_message = "That model isn't available on this bot right now. The admin can see why in the logs."


class ModelFailed(BotError):
    user_message = "The model failed on this request. Please try again or use another photo."


class ShuttingDown(BotError):
    """Not an answer: the request is replayed from the journal when the bot is back."""

    user_message = "The bot is restarting; your request will be answered when it is back."


class IndexUnavailable(BotError):
    user_message = "Photo search isn't available right now. The admin can see why in the logs."


class ReindexNeeded(BotError):
    user_message = (
        "This chat's photos were indexed with a different CLIP model than the one I use now, so I can't "
        "search them until the bot's owner runs `python -m bot reindex` (once, for all chats). "
        "New photos are still being remembered meanwhile."
    )
