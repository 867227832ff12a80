"""Who may use the bot: the allow-lists and admins of the settings, applied to every update first."""

from __future__ import annotations

import logging
import time

from telegram import ChatMemberUpdated, InlineQueryResultsButton, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot import texts
from bot.i18n import language_of
from bot.messaging.commands import mentions_bot
from bot.messaging.replies import reply
from bot.settings import Settings

log = logging.getLogger(__name__)

# One refusal per chat this often: a group full of strangers must not make the bot spam it.
REFUSE_AGAIN_AFTER_S = 600.0


def is_admin(update: Update, settings: Settings) -> bool:
    """Whether the sender is one of the bot's admins."""
    user = update.effective_user
    return user is not None and user.id in settings.admin_user_ids


def is_allowed(update: Update, settings: Settings) -> bool:
    """Open to everyone while both lists are empty; otherwise the sender's id, the chat's id, or an admin."""
    if not settings.allowed_user_ids and not settings.allowed_chat_ids:
        return True
    user, chat = update.effective_user, update.effective_chat
    if user is not None and (user.id in settings.allowed_user_ids or user.id in settings.admin_user_ids):
        return True
    return chat is not None and chat.id in settings.allowed_chat_ids


class AccessGate:
    """The first handler of every update: lets allowed ones through, refuses the rest once per chat."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._refused_at: dict[int, float] = {}

    async def __call__(self, update: Update, context: object) -> None:
        if is_allowed(update, self._settings):
            return
        chat = update.effective_chat
        log.info(
            "refused update %s from user %s in chat %s",
            update.update_id,
            update.effective_user.id if update.effective_user else "-",
            chat.id if chat else "-",
        )
        if update.inline_query is not None:
            await self._refuse_inline(update)
        elif update.callback_query is not None:
            await update.callback_query.answer(
                texts.NOT_ALLOWED.in_(language_of(update.effective_user)), show_alert=True
            )
        elif update.my_chat_member is not None:
            await self._leave_if_unlisted(update.my_chat_member)
        elif chat is not None and update.effective_message is not None and self._addresses_bot(update):
            now = time.monotonic()
            if now - self._refused_at.get(chat.id, -REFUSE_AGAIN_AFTER_S) >= REFUSE_AGAIN_AFTER_S:
                self._refused_at[chat.id] = now
                try:
                    await reply(update.effective_message, texts.NOT_ALLOWED, language_of(update.effective_user))
                except TelegramError as exc:
                    log.warning("could not send the refusal: %s", exc)
        raise ApplicationHandlerStop

    @staticmethod
    async def _refuse_inline(update: Update) -> None:
        """No results for an inline query of someone not allowed, and a button saying why (it opens the bot)."""
        query = update.inline_query
        assert query is not None
        button = InlineQueryResultsButton(
            texts.INLINE_NOT_ALLOWED.in_(language_of(query.from_user)), start_parameter="inline"
        )
        try:
            await query.answer([], cache_time=300, is_personal=True, button=button)
        except TelegramError as exc:
            log.warning("could not refuse an inline query: %s", exc)

    @staticmethod
    def _addresses_bot(update: Update) -> bool:
        """Private messages, and commands and mentions of the bot in groups (other chatter gets no refusal)."""
        message, chat = update.effective_message, update.effective_chat
        if chat is not None and chat.type == ChatType.PRIVATE:
            return True
        if message is None:
            return False
        text = message.text or message.caption or ""
        return text.startswith("/") or mentions_bot(message)

    async def _leave_if_unlisted(self, member: ChatMemberUpdated) -> None:
        joined = member.new_chat_member.status in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR)
        if not joined or member.chat.type == ChatType.PRIVATE or not self._settings.allowed_chat_ids:
            return
        log.info("added to chat %s, which is not on ALLOWED_CHAT_IDS: leaving", member.chat.id)
        try:
            farewell = texts.LEAVING_UNLISTED_CHAT.in_(language_of(member.from_user))  # of whoever added the bot
            await member.get_bot().send_message(member.chat.id, farewell)
            await member.get_bot().leave_chat(member.chat.id)
        except TelegramError as exc:
            log.warning("could not leave chat %s: %s", member.chat.id, exc)
