"""GenService: what /gen, its buttons and /safety need besides the queue, behind async methods."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from cachetools import TTLCache

from bot import texts
from bot.errors import BadInput, ModelUnavailable
from bot.features.gen_options import PROFILES, GenProfile, model_kind
from bot.features.safety import PromptBlocklist
from bot.stores.gen_store import GenParams, GenStore

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

SAFETY_FLAG = "gen_safety"
# After the model's kind couldn't be read, don't try again on every message.
RETRY_PROFILE_AFTER_S = 60.0


class PromptBlocked(BadInput):
    user_message = texts.PROMPT_BLOCKED


class GenService:
    """The model's profile (read once), the rerun-button store, the safety switch and the blocklist."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = GenStore(settings.sqlite_path)
        self.blocklist = PromptBlocklist(settings.gen_prompt_blocklist)
        self._profile: GenProfile | None = None
        # Why the profile couldn't be read, remembered a while so each /gen doesn't ask the hub again.
        self._profile_failed: TTLCache[str, str] = TTLCache(maxsize=1, ttl=RETRY_PROFILE_AFTER_S, timer=time.monotonic)

    async def start(self) -> None:
        await asyncio.to_thread(self.store.open)

    async def close(self) -> None:
        await asyncio.to_thread(self.store.close)

    async def profile(self) -> GenProfile:
        """The configured model's limits; raises ModelUnavailable when its kind can't be read."""
        if self._profile is not None:
            return self._profile
        failed = self._profile_failed.get("profile")
        if failed is not None:
            raise ModelUnavailable(failed)
        try:
            kind = await asyncio.to_thread(model_kind, self.settings.gen_model, self.settings.gen_model_kind)
        except ModelUnavailable as exc:
            self._profile_failed["profile"] = str(exc)
            log.error("%s", exc)
            raise
        self._profile = PROFILES[kind]
        log.info("GEN_MODEL %r is a %s model: %s", self.settings.gen_model, kind, self._profile)
        return self._profile

    async def safety_on(self) -> bool:
        """The admins' switch as last set with /safety, else GEN_SAFETY."""
        value = await asyncio.to_thread(self.store.flag, SAFETY_FLAG)
        return self.settings.gen_safety if value is None else value == "on"

    async def set_safety(self, on: bool, changed_by: int | None) -> None:
        await asyncio.to_thread(self.store.set_flag, SAFETY_FLAG, "on" if on else "off", changed_by)
        log.warning("/gen safety switched %s by user %s", "on" if on else "off", changed_by)

    def check_prompt(self, prompt: str) -> None:
        """Raise PromptBlocked when `prompt` has a blocklisted term (call only while safety is on)."""
        term = self.blocklist.match(prompt)
        if term is not None:
            raise PromptBlocked(f"prompt blocked by the term {term!r}")

    async def remember(self, params: GenParams, chat_id: int, user_id: int) -> str:
        return await asyncio.to_thread(self.store.remember, params, chat_id, user_id)

    async def recall(self, key: str, chat_id: int) -> GenParams | None:
        return await asyncio.to_thread(self.store.recall, key, chat_id)

    async def forget(self, chat_id: int) -> int:
        """Delete the chat's rerun prompts."""
        return await asyncio.to_thread(self.store.forget, chat_id)

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> int:
        """Move the chat's rerun prompts to its new (supergroup) id. The safety switch is bot-wide: it stays."""
        return await asyncio.to_thread(self.store.migrate, old_chat_id, new_chat_id)
