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
    EMBED = "embed"  # CLIP: photo indexing and /find


class Lane(StrEnum):
    """How the queue treats a job.

    INTERACTIVE: a user waits for the answer; fair order across users, per-user and global caps.
    BACKGROUND: photo indexing; nobody waits on it, so it has its own cap, never counts against a
    user's, and runs only when no interactive job is waiting (or after waiting too long).
    """

    INTERACTIVE = "interactive"
    BACKGROUND = "background"


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


@dataclass(frozen=True, eq=False)
class EmbedImageRequest:
    """Photo indexing and /find by example: CLIP's normalised image embedding of `image`."""

    image: Image

    task = Task.EMBED

    @property
    def batch_key(self) -> Hashable:
        return (self.task, "image")


@dataclass(frozen=True, eq=False)
class EmbedTextRequest:
    """/find by words: CLIP's normalised text embedding of `text`."""

    text: str

    task = Task.EMBED

    @property
    def batch_key(self) -> Hashable:
        return (self.task, "text")


@dataclass(frozen=True)
class Embedding:
    """A unit-length CLIP embedding and the model it came from (the index never mixes models)."""

    vector: tuple[float, ...]
    model: str

    @property
    def dim(self) -> int:
        return len(self.vector)


Request = CaptionRequest | EmbedImageRequest | EmbedTextRequest
Result = Caption | Embedding

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
    lane: Lane = Lane.INTERACTIVE
    command: str | None = None  # the command that asked for it, for texts such as "Cancelled your /find request"

    @property
    def task(self) -> Task:
        return self.request.task
