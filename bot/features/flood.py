"""RefusalBursts: a user refused again and again (a flood) hears the refusal once per burst, not once a message.

A refusal for being over a quota or a cap says why and when to come back; saying it 490 times to someone who
sent 500 photos in a second only floods their chat in turn and costs 490 sends. A burst is a run of refusals
of one user for one reason (quota, cap, busy) with no gap of `quiet_s` between them: its first refusal is
answered, the rest are logged at debug and counted, and the count is logged when the burst ends.

The gap is short (10 s) on purpose: floods come at machine speed, a person retrying does so after reading the
refusal, and must get an answer again; a flood that goes on (a refusal at least every `quiet_s`) stays one
burst however long it lasts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

QUIET_S = 10.0  # a burst ends after this long without a refusal of the same user for the same reason
MAX_TRACKED = 10_000  # users remembered at once; the oldest bursts are forgotten first


@dataclass
class _Burst:
    last: float  # when its latest refusal was
    silenced: int = 0  # refusals not answered so far


class RefusalBursts:
    """Decides which refusals are answered: the first of each burst, per user and reason."""

    def __init__(self, quiet_s: float = QUIET_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_s = quiet_s
        self._clock = clock
        self._bursts: dict[tuple[int, str], _Burst] = {}
        self.silenced = 0  # refusals not answered, in all

    def should_answer(self, user_id: int, reason: str) -> bool:
        """Note a refusal of `user_id` for `reason`; True when it is the first of a burst (answer it)."""
        now = self._clock()
        key = (user_id, reason)
        burst = self._bursts.pop(key, None)  # re-inserted below: the dict stays in order of last refusal
        if burst is not None and now - burst.last < self.quiet_s:
            burst.last = now
            burst.silenced += 1
            self.silenced += 1
            self._bursts[key] = burst
            log.debug("refusal of user %s (%s) not answered: %d so far in this burst", user_id, reason, burst.silenced)
            return False
        if burst is not None and burst.silenced:
            log.info("user %s: %d refusal(s) (%s) of the last burst were not answered", user_id, burst.silenced, reason)
        self._bursts[key] = _Burst(now)
        self._prune(now)
        return True

    def _prune(self, now: float) -> None:
        while self._bursts:
            key, oldest = next(iter(self._bursts.items()))
            if now - oldest.last < self.quiet_s and len(self._bursts) <= MAX_TRACKED:
                break
            del self._bursts[key]
            if oldest.silenced:
                log.info("user %s: %d refusal(s) (%s) of a burst were not answered", key[0], oldest.silenced, key[1])
