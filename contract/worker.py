"""How a running batch is told to stop, and how it reports partial answers while it runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Interrupt:
    """Tells a running batch to stop early: set by the queue on cancel, or once its deadline passes.

    Adapters poll it between steps (a generation step, a diffusion step); it is thread-safe.
    One request of a batch can be dropped alone (its user cancelled it while its batch mates still
    wait): adapters that generate a batch row by row stop that row (`is_set(index)`), others go on.
    """

    def __init__(self, deadline: float | None = None) -> None:
        self._event = threading.Event()
        self.deadline = deadline
        self._dropped: frozenset[int] = frozenset()

    def set(self) -> None:
        self._event.set()

    def drop(self, index: int) -> None:
        """Nobody waits for request `index` of the batch any more."""
        self._dropped |= {index}

    def is_set(self, index: int | None = None) -> bool:
        """Whether the whole batch should stop, or (given `index`) whether that request should."""
        if self._event.is_set():
            return True
        if index is not None and index in self._dropped:
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline


# on_partial(index, text): the answer so far of requests[index], while it is being generated.
OnPartial = Callable[[int, str], None]
