"""Which model setting serves each task (no torch here: the bot process reads it too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.requests import Task

if TYPE_CHECKING:
    from bot.settings import Settings


def configured_sources(settings: Settings) -> dict[Task, str]:
    """The model (hub id or local directory) behind each task."""
    return {
        Task.CAPTION: settings.caption_model,
        Task.GENERATE: settings.gen_model,
        Task.CLASSIFY: settings.classify_model,
        Task.ASK: settings.vlm_model,
        Task.BOX: settings.vlm_model,
        Task.EMBED: settings.clip_model,
    }
