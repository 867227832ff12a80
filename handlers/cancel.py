"""/cancel: withdraw one's newest request in this chat, or (as a reply) that request; admins may cancel anyone's."""

from __future__ import annotations

from bot import texts
from bot.messaging.access import is_admin
from bot.messaging.commands import command, replied_message
from bot.pipeline import UserRequest


async def cancel(request: UserRequest) -> None:
    """Cancel the sender's newest request here, or the request (or status message) this replies to."""
    message = request.message
    services = request.services
    user_id, chat_id = request.user_id, request.chat_id
    target = replied_message(message)  # in a forum topic every message "replies" to the topic's first one
    if target is None:
        job = services.queue.cancel(user_id, chat_id=chat_id)
    else:
        request_update = await services.journal.update_of_status_message(chat_id, target.message_id)
        anyone = is_admin(request.update, services.settings)
        job = services.queue.cancel_matching(
            lambda j: (
                j.chat_id == chat_id
                and (j.message_id == target.message_id or (request_update is not None and j.seq == request_update))
                and (anyone or j.user_id == user_id)
            )
        )
    await request.reply(texts.cancelled(f"/{job.command or job.task}") if job else texts.NOTHING_TO_CANCEL)


COMMAND = command("cancel", cancel)
