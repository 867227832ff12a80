"""A checkpoint's small JSON files (config.json, model_index.json, a scheduler config), from a local directory or
the hub (only that file is fetched). Torch-free: the bot reads them too, to know a model before it loads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contract.errors import ModelUnavailable


def read_json(source: str, filename: str, subfolder: str | None = None) -> dict[str, Any] | None:
    """`filename` (in `subfolder`) of the checkpoint at `source` (a local directory or a hub id), parsed.

    None when the checkpoint has no such file; raises ModelUnavailable when the checkpoint itself can't be
    had (offline and not cached, no such repo) or the file isn't JSON.
    """
    local = Path(source)
    if local.is_dir():
        path = local / subfolder / filename if subfolder else local / filename
        if not path.is_file():
            return None
    else:
        found = _hub_file(source, filename, subfolder)
        if found is None:
            return None
        path = found
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"{source!r}: unreadable {path}: {exc}") from None
    return value if isinstance(value, dict) else None


def _hub_file(repo_id: str, filename: str, subfolder: str | None) -> Path | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
    )

    try:
        return Path(hf_hub_download(repo_id, filename, subfolder=subfolder))
    except LocalEntryNotFoundError as exc:  # offline, not cached (a subclass of EntryNotFoundError: first)
        raise ModelUnavailable(
            f"{repo_id!r} is neither a local model directory nor a cached hub model (offline?): {exc}"
        ) from None
    except EntryNotFoundError:
        return None  # the repo exists but has no such file
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise ModelUnavailable(
            f"{repo_id!r} is neither a local model directory nor a hub model that could be fetched: {exc}"
        ) from None
