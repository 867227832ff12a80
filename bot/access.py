"""Who may use the bot and who is an admin, by ALLOWED_USER_IDS, ALLOWED_CHAT_IDS and ADMIN_USER_IDS."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings


def is_admin(settings: Settings, user_id: int | None) -> bool:
    """Whether `user_id` is on ADMIN_USER_IDS. An empty list means no admins, never everyone:
    admin commands (such as switching /gen safety off) need an explicit owner."""
    return user_id is not None and user_id in settings.admin_user_ids


def may_use(settings: Settings, user_id: int | None, chat_id: int | None) -> bool:
    """With both allow-lists empty, everyone; otherwise the sender is on the user list, the chat is on
    the chat list, or the sender is an admin (DESIGN.md)."""
    if not settings.allowed_user_ids and not settings.allowed_chat_ids:
        return True
    return (
        (user_id is not None and user_id in settings.allowed_user_ids)
        or (chat_id is not None and chat_id in settings.allowed_chat_ids)
        or is_admin(settings, user_id)
    )
