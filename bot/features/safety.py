"""The /gen prompt blocklist: whole words or phrases, case- and width-insensitive; `word*` matches a prefix."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable


def _normalise(text: str) -> str:
    # NFKC folds full-width and styled letters (ｎｕｄｅ, 𝐧𝐮𝐝𝐞) onto plain ones; casefold handles ß, İ...
    return unicodedata.normalize("NFKC", text).casefold()


class PromptBlocklist:
    """Matches prompts against GEN_PROMPT_BLOCKLIST's terms.

    A term matches as a whole word or phrase ("gore" blocks "gore, blood" but not "Gorey"), any
    whitespace between a phrase's words; a trailing `*` makes the last word a prefix ("nud*").
    """

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = tuple(t for t in (_normalise(t).strip() for t in terms) if t.strip("*"))
        patterns = []
        for term in self.terms:
            prefix = term.endswith("*")
            words = term.rstrip("*").split()
            body = r"\s+".join(re.escape(w) for w in words)
            patterns.append(rf"(?<!\w){body}" + ("" if prefix else r"(?!\w)"))
        self._pattern = re.compile("|".join(patterns)) if patterns else None

    def __len__(self) -> int:
        return len(self.terms)

    def match(self, prompt: str) -> str | None:
        """The blocked term found in `prompt`, or None."""
        if self._pattern is None:
            return None
        found = self._pattern.search(_normalise(prompt))
        return found.group(0) if found else None
