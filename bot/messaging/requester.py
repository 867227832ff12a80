"""Who a request counts against (the sender, or the chat for posts without one), and the job it becomes."""

from __future__ import annotations

from telegram import Update

from bot.messaging.commands import parse_command
from bot.queue.jobs import Job
from contract.requests import Request


def requester_id(update: Update) -> int:
    """The user id that queue caps and fairness apply to."""
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id


def job_for(update: Update, request: Request) -> Job:
    """The job for `request`, ordered by the update that asked for it."""
    message = update.effective_message
    parsed = parse_command((message.text or message.caption) if message is not None else None)
    return Job(
        request,
        user_id=requester_id(update),
        chat_id=update.effective_chat.id,
        seq=update.update_id,
        message_id=message.message_id if message is not None else None,
        command=parsed[0] if parsed else None,
    )
