"""Which model setting serves each task (no torch here: the bot process reads it too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.requests import Task

if TYPE_CHECKING:
    from bot.settings import Settings


def configured_sources(settings: Settings) -> dict[Task, str]:
    """The model (hub id or local directory) behind each task run on this bot's device.

    With VLM_URL, /ask and /box run on that server: VLM_MODEL is its served name, nothing to load here.
    """
    sources = {
        Task.CAPTION: settings.caption_model,
        Task.GENERATE: settings.gen_model,
        Task.CLASSIFY: settings.classify_model,
        Task.ASK: settings.vlm_model,
        Task.BOX: settings.vlm_model,
        Task.EMBED: settings.clip_model,
    }
    if settings.vlm_url:
        del sources[Task.ASK], sources[Task.BOX]
    return sources
