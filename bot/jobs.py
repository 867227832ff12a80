"""Jobs, the requests they carry to the worker and the results that come back (frozen dataclasses)."""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Hashable

if TYPE_CHECKING:
    from PIL.Image import Image


class Task(StrEnum):
    """What a job asks of a model; each task has one configured model."""

    CAPTION = "caption"


@dataclass(frozen=True, eq=False)
class CaptionRequest:
    """/caption: describe `image`, continuing `prefix` when given (BLIP's conditional captioning)."""

    image: Image
    prefix: str | None = None

    task = Task.CAPTION

    @property
    def batch_key(self) -> Hashable:
        """Requests with equal keys may share one forward pass."""
        return self.task


@dataclass(frozen=True)
class Caption:
    text: str


Request = CaptionRequest
Result = Caption

_sequence = itertools.count()


@dataclass(frozen=True, eq=False)
class Job:
    """One user's request, as the queue sees it."""

    request: Request
    user_id: int
    chat_id: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    created: float = field(default_factory=time.monotonic)
    seq: int = field(default_factory=lambda: next(_sequence))  # arrival order; the update_id for jobs from updates
    message_id: int | None = None  # the request message, for /cancel sent as a reply to it

    @property
    def task(self) -> Task:
        return self.request.task
