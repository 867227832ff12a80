"""How a running batch is told to stop, and how it reports partial answers while it runs."""

from __future__ import annotations

import threading
import time
from typing import Callable


class Interrupt:
    """Tells a running batch to stop early: set by the queue on cancel, or once its deadline passes.

    Adapters poll it between steps (a generation step, a diffusion step); it is thread-safe.
    """

    def __init__(self, deadline: float | None = None) -> None:
        self._event = threading.Event()
        self.deadline = deadline

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        if self._event.is_set():
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline


# on_partial(index, text): the answer so far of requests[index], while it is being generated.
OnPartial = Callable[[int, str], None]
