"""Who may do what a chat's admins may do (/forget in groups): checked with Telegram at the time of asking."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

if TYPE_CHECKING:
    from telegram import Bot, Update

log = logging.getLogger(__name__)

ADMIN_STATUSES = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)


async def is_chat_admin(update: Update, bot: Bot, admin_user_ids: frozenset[int]) -> bool:
    """Whether the sender may manage the chat: anyone in a private chat; in groups an admin (getChatMember),
    an anonymous admin posting as the group, or one of the bot's own ADMIN_USER_IDS (`admin_user_ids`)."""
    chat, message, user = update.effective_chat, update.effective_message, update.effective_user
    if chat is None:
        return False
    if chat.type == ChatType.PRIVATE:
        return True
    if chat.type == ChatType.CHANNEL:
        return True  # only a channel's admins can post in it
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True  # an anonymous admin
    if user is None:
        return False
    if user.id in admin_user_ids:
        return True
    try:
        member = await bot.get_chat_member(chat.id, user.id)
    except TelegramError as exc:
        log.warning("could not check whether user %s is an admin of chat %s: %s", user.id, chat.id, exc)
        return False
    return member.status in ADMIN_STATUSES
