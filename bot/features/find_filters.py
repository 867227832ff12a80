"""/find's filters by who and when (`from:me from:@ann after:2024-06 before:2025-01-31 on:2024-12-25`): parsing.

Pure: no Telegram, no store. A query's text is split into its words and its filters; the filters become a
chromadb `where` clause that runs inside the asking chat's own collection (bot.stores.photo_index), so
`from:` can only ever narrow down that chat's own photos.

Dates are UTC days, like the dates /find's captions show. `after:X` keeps photos from the start of X on
(the day, month or year X names, included), `before:X` those before the start of X, and `on:X` those within X.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import texts
from bot.errors import BadInput
from bot.stores.photo_index import username_hash

_FILTER = re.compile(r"^(from|after|before|on):(.*)$", re.IGNORECASE | re.DOTALL)
_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_USERNAME = re.compile(r"^@?([A-Za-z0-9_]{1,32})$")


@dataclass(frozen=True)
class Mention:
    """A text_mention entity of the query (someone without a username), as indices into the query's text."""

    start: int
    end: int
    user_id: int


@dataclass(frozen=True)
class FindFilters:
    """Who sent the photo (any of these ids or usernames) and when (unix seconds: after <= date < before)."""

    sender_ids: frozenset[int] = frozenset()
    usernames: frozenset[str] = frozenset()  # lower-case, without the @
    after: int | None = None
    before: int | None = None

    def __bool__(self) -> bool:
        return bool(self.sender_ids or self.usernames or self.after is not None or self.before is not None)

    def where(self) -> dict[str, Any] | None:
        """The chromadb `where` clause of these filters, for the asking chat's collection (None: no filter)."""
        senders: list[dict[str, Any]] = []
        if self.sender_ids:
            senders.append({"sender_id": {"$in": sorted(self.sender_ids)}})
        if self.usernames:
            senders.append({"username_hash": {"$in": sorted(username_hash(u) for u in self.usernames)}})
        clauses: list[dict[str, Any]] = []
        if senders:
            clauses.append(senders[0] if len(senders) == 1 else {"$or": senders})
        if self.after is not None:
            clauses.append({"date": {"$gte": self.after}})
        if self.before is not None:
            clauses.append({"date": {"$lt": self.before}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass(frozen=True)
class FindQuery:
    """A /find (or inline) query: the words to search by and the filters."""

    words: str
    filters: FindFilters = field(default_factory=FindFilters)


def parse_filters(text: str, me: int, mentions: Sequence[Mention] = ()) -> FindQuery:
    """Split `text` into words and filters; `me` is the asker's user id (for `from:me`).

    A bad filter raises BadInput with a reply that names it. Words keep their order; filters may be anywhere.
    """
    sender_ids: set[int] = set()
    usernames: set[str] = set()
    after: list[int] = []
    before: list[int] = []
    # A text mention ("from:" then a name Telegram links to a user) may hold spaces: take those spans first.
    pieces: list[str] = []
    position = 0
    for mention in sorted(mentions, key=lambda m: m.start):
        head = text[position : mention.start]
        if mention.start < position or not head.lower().endswith("from:"):
            continue
        pieces.append(head[: -len("from:")])
        sender_ids.add(mention.user_id)
        pieces.append(" ")
        position = mention.end
    pieces.append(text[position:])
    words = []
    for token in "".join(pieces).split():
        found = _FILTER.match(token)
        if found is None:
            words.append(token)
            continue
        name, value = found.group(1).lower(), found.group(2)
        if name == "from":
            if value.lower() == "me":
                sender_ids.add(me)
                continue
            username = _USERNAME.match(value)
            if username is None or not value.startswith("@"):
                raise BadInput(f"bad filter {token!r}", user_message=texts.bad_from_filter(token))
            usernames.add(username.group(1).lower())
            continue
        start, end = _period(token, value)
        if name in ("after", "on"):
            after.append(start)
        if name in ("before", "on"):
            before.append(start if name == "before" else end)
    filters = FindFilters(
        frozenset(sender_ids),
        frozenset(usernames),
        max(after) if after else None,  # several bounds: all of them hold
        min(before) if before else None,
    )
    return FindQuery(" ".join(words), filters)


def _period(token: str, value: str) -> tuple[int, int]:
    """(start, end) in unix seconds of the UTC year, month or day `value` names; BadInput when it names none."""
    found = _DATE.match(value)
    try:
        if found is None:
            raise ValueError(value)
        year, month, day = int(found.group(1)), found.group(2), found.group(3)
        if month is None:
            start, end = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
        elif day is None:
            start = dt.date(year, int(month), 1)
            end = start + dt.timedelta(days=calendar.monthrange(year, int(month))[1])
        else:
            start = dt.date(year, int(month), int(day))
            end = start + dt.timedelta(days=1)
    except (ValueError, OverflowError):
        raise BadInput(f"bad date in {token!r}", user_message=texts.bad_date_filter(token)) from None
    return _unix(start), _unix(end)


def _unix(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
