"""/forget: delete everything the bot keeps from this chat (in groups: admins only); also when it is removed."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatMemberStatus

from bot import texts
from bot.context import BotContext
from bot.messaging.admins import is_chat_admin
from bot.messaging.commands import command
from bot.pipeline import UserRequest

log = logging.getLogger(__name__)

GONE = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)


async def forget(request: UserRequest) -> None:
    """Delete this chat's photo index and conversation history, after checking the sender may."""
    if not await is_chat_admin(request.update, request.bot, request.services.settings.admin_user_ids):
        await request.reply(texts.FORGET_ADMINS_ONLY)
        return
    counts = await request.services.forget_chat(request.chat_id)
    log.info("chat %s forgotten on request of %s: %s", request.chat_id, request.user_id, _named(counts))
    await request.reply(texts.forgotten(counts))


async def bot_removed(update: Update, context: BotContext) -> None:
    """The bot left, was removed from, or was blocked in a chat: that chat's data goes with it."""
    change = update.my_chat_member
    if change is None or change.new_chat_member.status not in GONE:
        return
    counts = await context.services.forget_chat(change.chat.id)
    log.info("bot %s chat %s; its data was deleted: %s", change.new_chat_member.status, change.chat.id, _named(counts))


def _named(counts: dict) -> dict[str, int]:
    return {str(what): n for what, n in counts.items()}


COMMAND = command("forget", forget, long_running=True)
