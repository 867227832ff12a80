"""Jobs: a user's request as the queue sees it, and the lane it waits in."""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from contract.requests import Request, Task


class Lane(StrEnum):
    """How the queue treats a job.

    INTERACTIVE: a user waits for the answer; fair order across users, per-user and global caps.
    BACKGROUND: photo indexing; nobody waits on it, so it has its own cap, never counts against a
    user's, and runs only when no interactive job is waiting (or after waiting too long).
    """

    INTERACTIVE = "interactive"
    BACKGROUND = "background"


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
    lane: Lane = Lane.INTERACTIVE
    command: str | None = None  # the command that asked for it, for texts such as "Cancelled your /find request"

    @property
    def task(self) -> Task:
        return self.request.task
