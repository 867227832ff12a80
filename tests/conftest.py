"""Shared fixtures: tiny checkpoints built once per session, and the real bot process against a fake Bot API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import tiny_models


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> Path:
    """The folder that tiny checkpoints are built into, once per session."""
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture(scope="session")
def tiny_blip(checkpoints) -> Path:
    return tiny_models.build_blip_caption(checkpoints / "blip")
