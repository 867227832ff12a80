"""What a user sees while a job waits and runs: a status message with their place, and a chat action."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Callable

from telegram import Message
from telegram.error import TelegramError

from bot import texts
from bot.errors import ShuttingDown
from bot.replies import reply

if TYPE_CHECKING:
    from bot.context import BotContext
    from bot.jobs import Job, Result
    from bot.queue import GpuQueue, Ticket

log = logging.getLogger(__name__)

# A chat action shows for 5 s (Bot API); renew it a little sooner.
CHAT_ACTION_PERIOD_S = 4.5
# Status edits are cosmetic: at most one per message this often, so answers aren't slowed by them.
STATUS_EDIT_INTERVAL_S = 2.0


class StatusMessage:
    """The one bot message of a request: it shows the queue position, then becomes the answer."""

    def __init__(self, request: Message, on_sent: Callable[[Message], None] | None = None) -> None:
        self.request = request
        self.message: Message | None = None
        self._text: str | None = None
        self._edited_at = 0.0
        self._on_sent = on_sent

    async def resume(self, message_id: int, text: str) -> None:
        """Adopt a status message sent before a restart (showing `text`), if it still exists."""
        try:
            edited = await self.request.get_bot().edit_message_text(text, self.request.chat_id, message_id)
        except TelegramError as exc:
            log.info("could not resume status message %s: %s", message_id, exc)
            return
        if isinstance(edited, Message):
            self.message, self._text, self._edited_at = edited, text, time.monotonic()

    async def show(self, text: str, *, force: bool = False) -> None:
        """Send or edit the status text; unchanged texts and too-frequent edits are skipped."""
        if text == self._text:
            return
        now = time.monotonic()
        if self.message is not None and not force and now - self._edited_at < STATUS_EDIT_INTERVAL_S:
            return
        try:
            if self.message is None:
                self.message = await reply(self.request, text)
                if self._on_sent is not None:
                    self._on_sent(self.message)
            else:
                await self.message.edit_text(text)
        except TelegramError as exc:  # cosmetic: never fail the job over a status update
            log.warning("status update failed: %s", exc)
            return
        self._text, self._edited_at = text, now

    async def answer(self, text: str) -> Message:
        """Turn the status message into the answer, or reply with it when there is none."""
        if self.message is not None:
            if text != self._text:
                try:
                    await self.message.edit_text(text)
                except TelegramError as exc:
                    log.warning("could not edit status into the answer (%s); sending it instead", exc)
                    await self.delete()
                    return await reply(self.request, text)
            self._text = text
            return self.message
        return await reply(self.request, text)

    async def delete(self) -> None:
        """Remove the status message (before an answer that can't be an edit: a photo, an error)."""
        if self.message is None:
            return
        message, self.message, self._text = self.message, None, None
        with contextlib.suppress(TelegramError):
            await message.delete()


async def keep_chat_action(message: Message, action: str) -> None:
    """Show `action` ("typing", "upload_photo"...) in the chat until cancelled."""
    thread_id = message.message_thread_id if message.is_topic_message else None
    while True:
        with contextlib.suppress(TelegramError):
            await message.get_bot().send_chat_action(message.chat_id, action, message_thread_id=thread_id)
        await asyncio.sleep(CHAT_ACTION_PERIOD_S)


async def run_job(message: Message, context: BotContext, job: Job, action: str) -> tuple[Result, StatusMessage]:
    """Queue `job`, keep the user informed until it ends, and return its result with the status message.

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
    status = StatusMessage(message, on_sent=lambda sent: journal.set_status_message(job.seq, sent.message_id))
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
                    action_task = asyncio.create_task(keep_chat_action(message, action))
                if status.message is not None:
                    await status.show(texts.WORKING)
            await ticket.wait_changed(timeout=STATUS_EDIT_INTERVAL_S)
        return await ticket.result()
    finally:
        if action_task is not None:
            action_task.cancel()
