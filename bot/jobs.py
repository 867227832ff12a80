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

    from bot.boxes import Box


class Task(StrEnum):
    """What a job asks of a model; each task has one configured model."""

    CAPTION = "caption"
    ASK = "ask"
    BOX = "box"


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


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation about a photo."""

    question: str
    answer: str


@dataclass(frozen=True, eq=False)
class AskRequest:
    """/ask: answer `question` about `image`, seeing the conversation's earlier `history` (oldest first).

    Multi-turn models trim `history` to their context, oldest turns first; single-turn ones ignore it.
    """

    image: Image
    question: str
    history: tuple[Turn, ...] = ()

    task = Task.ASK
    streamed = True  # the worker reports partial answers while it generates

    @property
    def batch_key(self) -> Hashable:
        # Never batched: each answer streams on its own, and one job's timeout must not cover eight.
        return (self.task, id(self))


@dataclass(frozen=True)
class Answer:
    """The model's answer; `history_used` = how many of the newest earlier turns fit its context
    (None for single-turn models, which see no history)."""

    text: str
    history_used: int | None = None

    @property
    def multi_turn(self) -> bool:
        """Whether the model saw the conversation (single-turn models answer each question on its own)."""
        return self.history_used is not None


@dataclass(frozen=True, eq=False)
class BoxRequest:
    """/box: find every `target` in `image` (grounding)."""

    image: Image
    target: str

    task = Task.BOX

    @property
    def batch_key(self) -> Hashable:
        return (self.task, id(self))


@dataclass(frozen=True)
class Boxes:
    """Where the model found the target: boxes in the original photo's pixels, and its raw answer."""

    found: tuple[Box, ...]
    text: str


Request = CaptionRequest | AskRequest | BoxRequest
Result = Caption | Answer | Boxes

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

    @property
    def task(self) -> Task:
        return self.request.task
