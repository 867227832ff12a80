"""Who may do what: bot admins (ADMIN_USER_IDS)."""

from __future__ import annotations

from telegram import Update

from bot.settings import Settings


def is_admin(update: Update, settings: Settings) -> bool:
    """Whether the sender is one of the bot's admins."""
    user = update.effective_user
    return user is not None and user.id in settings.admin_user_ids
