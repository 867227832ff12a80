"""One user request from arrival to answer: journal, order, quota, queue, status message, chat action."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from telegram import Message

from bot import texts
from bot.errors import ShuttingDown
from bot.i18n import Lang
from bot.messaging.status import STATUS_EDIT_INTERVAL_S, StatusMessage, keep_chat_action, send_chat_action

if TYPE_CHECKING:
    from bot.context import BotContext
    from bot.queue.gpu_queue import GpuQueue, Ticket
    from bot.queue.jobs import Job
    from contract.requests import Result


async def run_job(message: Message, context: BotContext, job: Job, action: str,
                  lang: Lang | None = None) -> tuple[Result, StatusMessage]:
    """Queue `job`, keep the user informed (in `lang`, by default that of the message's sender) until it ends,
    and return its result with the status message.

    Raises the job's BotError (busy, cancelled, timed out, model failed) after removing the status.
    """
    services = context.services
    queue, journal = services.queue, services.journal
    replayed = journal.status_message(job.seq)
    # Admins are exempt; a replay after a restart was counted the first time.
    counted = replayed is None and job.user_id not in services.settings.admin_user_ids
    if counted:
        services.quotas.check(job.user_id, str(job.task))
    ticket = queue.submit(job)
    if counted:
        services.quotas.record(job.user_id, str(job.task))
    status = StatusMessage(message, on_sent=lambda sent: journal.set_status_message(job.seq, sent.message_id),
                           lang=lang)
    if replayed is not None:  # replayed after a restart: carry on in the message the user already has
        await status.resume(replayed, texts.RESUMED)
    try:
        return await _follow(ticket, queue, status, message, action), status
    except ShuttingDown:
        raise  # keep the status message: the replay after the restart edits it
    except BaseException:
        await status.delete()
        raise


async def _follow(ticket: Ticket, queue: GpuQueue, status: StatusMessage, message: Message, action: str) -> Result:
    action_task: asyncio.Task[None] | None = None
    try:
        while not ticket.done():
            position = ticket.position
            # Next in line with a free worker: it starts at once, so no status message for it.
            if position is not None and (position >= 2 or (position == 1 and queue.saturated)):
                await status.show(texts.queued(position))
            elif position == 0:
                if action_task is None:
                    await send_chat_action(message, action)
                    action_task = asyncio.create_task(keep_chat_action(message, action))
                if ticket.partial:
                    await status.stream(ticket.partial)
                elif status.message is not None:
                    await status.show(texts.WORKING)
            await ticket.wait_changed(timeout=STATUS_EDIT_INTERVAL_S)
        return await ticket.result()
    finally:
        if action_task is not None:
            action_task.cancel()
