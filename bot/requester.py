"""Who a request counts against: the sender, or the chat itself for posts without a sender (channels)."""

from __future__ import annotations

from telegram import Update


def requester_id(update: Update) -> int:
    """The user id that queue caps and fairness apply to."""
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id
