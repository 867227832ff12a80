"""One user request from arrival to answer: `UserRequest` owns everything a command does besides its own work.

A command's handler says what to run and how to answer; the request around it does the rest:

1. the journal entry (before anything else, so a crash loses nothing) and its replay after a restart;
2. the user's order: their requests reach the queue in the order they were sent;
3. admission: the queue's caps and the user's quota, checked before anything is downloaded or decoded
   (`admit`), given back when the request ends without queueing its job; a flood's refusals answered once
   per burst (bot.features.flood);
4. the queue, the status message ("⏳ Queued: #3", edited into the answer) and the chat action;
5. the error reply: a BotError's own words, in the user's language; anything else is a bug for on_error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from telegram import Bot, Message, Update
from telegram.error import TelegramError

from bot import texts
from bot.errors import BotError, Busy, QuotaExceeded, ShuttingDown, StorageBusy, TooManyPending
from bot.i18n import Lang, Say, language_of
from bot.messaging.access import is_admin
from bot.messaging.commands import parse_command
from bot.messaging.media import PhotoRef, fetch_image
from bot.messaging.replies import reply
from bot.messaging.status import (
    STATUS_EDIT_INTERVAL_S,
    StatusMessage,
    keep_chat_action,
    send_chat_action,
)
from bot.queue.jobs import Job

if TYPE_CHECKING:
    from PIL.Image import Image

    from bot.context import BotContext, Services
    from bot.queue.gpu_queue import GpuQueue, Ticket
    from contract.requests import Asks, Request, Result, Task

log = logging.getLogger(__name__)

R = TypeVar("R")

# What a command's handler is: it gets the request, and answers through it.
Handler = Callable[["UserRequest"], Awaitable[Any]]

# Refusals for how much a user asks (not for what): a flood of them is answered once per burst.
REFUSALS: dict[type[BotError], str] = {QuotaExceeded: "quota", TooManyPending: "cap", Busy: "busy"}


def requester_id(update: Update) -> int:
    """The user id that queue caps, fairness and quotas apply to: the sender, or the chat for posts without one."""
    if update.effective_user is not None:
        return update.effective_user.id
    assert update.effective_chat is not None
    return update.effective_chat.id


class UserRequest:
    """One update that asked the bot for something, from its arrival to its answer."""

    def __init__(self, update: Update, context: BotContext) -> None:
        message = update.effective_message
        chat = update.effective_chat
        assert message is not None and chat is not None, "commands come with a message"
        self.update = update
        self.context = context
        self.services: Services = context.services
        self.bot: Bot = context.bot
        # The message answers quote: the request itself, or for a button press the bot's message with the buttons.
        self.message: Message = message
        self.chat_id: int = chat.id
        self.user_id = requester_id(update)
        self.lang: Lang = language_of(update.effective_user)  # of whoever asked (pressed), also for button presses
        self.status: StatusMessage | None = None
        self._in_order = False
        self._admitted: _Admission | None = None  # quota and queue place taken, job not yet submitted

    @property
    def text(self) -> str:
        """The text or caption of the request message."""
        return self.message.text or self.message.caption or ""

    # -- around the handler ------------------------------------------------------------------------------

    @classmethod
    def handler(
        cls, handle: Handler, *, journaled: bool, admin_only: bool = False
    ) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
        """The python-telegram-bot callback that runs `handle` for each update inside a UserRequest."""

        @functools.wraps(handle)
        async def callback(update: Update, context: BotContext) -> None:
            request = cls(update, context)
            if admin_only and not is_admin(update, request.services.settings):
                await request.reply(texts.ADMINS_ONLY)
                return
            if journaled:
                await request._serve_journaled(handle)
            else:
                await request._serve(handle)

        return callback

    async def _serve(self, handle: Handler) -> None:
        try:
            await handle(self)
        except BotError as error:
            if isinstance(error, ShuttingDown):
                raise
            reason = REFUSALS.get(type(error))
            if reason is not None and not self.services.refusals.should_answer(self.user_id, reason):
                log.debug("request %s refused (%s), not answered: %s", self.update.update_id, reason, error)
                return
            await self.reply_error(error)
        finally:
            await self._give_back()

    async def _serve_journaled(self, handle: Handler) -> None:
        """Keep the update in the job journal from before the handler starts until it has answered."""
        journal, update_id, queue = self.services.journal, self.update.update_id, self.services.queue
        # Before the first await, so that requests are announced in the order they arrived: until this one
        # has queued its job, the same user's later jobs wait for it, and their later requests in this chat
        # don't start preparing (they may read what this one writes: /ask's new conversation).
        queue.announce(self.user_id, update_id, self.chat_id)
        self._in_order = True
        try:
            fresh = await journal.begin(update_id, self.chat_id, self.update.to_dict())
            if not fresh and update_id not in journal.replaying:
                log.info("update %s was already handled; ignoring it delivered again", update_id)
                return
            journal.replaying.discard(update_id)
            if not fresh and await self._answered_before_restart():
                await journal.finish(update_id)
                return
            await queue.wait_turn(self.user_id, update_id, self.chat_id)
            try:
                await self._serve(handle)
            except ShuttingDown:
                return  # left in the journal: it is replayed when the bot is back
            except Exception:
                await journal.finish(update_id)  # a bug would only repeat on replay
                raise
            await journal.finish(update_id)
        finally:
            self.release_order()

    async def _answered_before_restart(self) -> bool:
        """A replayed request whose answer went out before the bot died: only tidy up (never redo the work,
        never redraw a picture). A death between Telegram taking an answer and our record of it can't be
        told from one before the send: that request is answered again (logged)."""
        stage = await self.services.journal.stage(self.update.update_id)
        if stage is None or stage.answer_message_id is None:
            if stage is not None and stage.sending:
                log.warning("update %s died while its answer was being sent; answering again", self.update.update_id)
            return False
        log.info("update %s was answered before the restart; not redoing it", self.update.update_id)
        if stage.status_message_id not in (None, stage.answer_message_id):
            with contextlib.suppress(TelegramError):
                await self.bot.delete_message(self.chat_id, stage.status_message_id)
        return True

    def release_order(self) -> None:
        """Stop holding the user's later jobs for this one (done by queueing the job, or when it ends);
        /ask calls it early, when its conversation's lock takes over the ordering."""
        if self._in_order:
            self._in_order = False
            self.services.queue.withdraw(self.user_id, self.update.update_id)

    # -- what handlers use -------------------------------------------------------------------------------

    async def reply(self, text: Say) -> Message:
        """A message for the request (quoting it, in its topic, in the asker's language)."""
        return await reply(self.message, text, self.lang)

    async def reply_error(self, error: BotError) -> None:
        """Tell the user what went wrong with their request, in the error's own words."""
        log.info("request failed for update %s: %s", self.update.update_id, error)
        try:
            await self.reply(error.user_message)
        except TelegramError as exc:
            log.warning("could not send the error reply: %s", exc)

    async def fetch_image(self, photo: PhotoRef) -> Image:
        """Download and decode the request's photo (once per message: indexing shares the decode).
        Call `admit` first: a request over a quota or a cap is refused before its photo costs anything."""
        return await fetch_image(self.bot, photo, self.services.decoder)

    async def admit(self, task: Task) -> None:
        """Take the request's place in the queue and count it against the user's quota, before its work is
        prepared (a photo downloaded and decoded): raises QuotaExceeded, TooManyPending or Busy.

        In the order the user sent their requests; admins are exempt from the quota, and a replay after a
        restart was counted the first time. `run()` then submits into the place kept; a request that ends
        without submitting (a bad photo, a failed download) gives both back. `run()` admits by itself when
        the handler didn't.
        """
        if self._admitted is not None:
            if self._admitted.task == task:
                return
            await self._give_back()
        services, seq = self.services, self.update.update_id
        queue = services.queue
        await queue.wait_admission(self.user_id, seq)  # quota and caps in the order the user sent requests
        queue.reserve(self.user_id, seq)
        try:
            replayed = await services.journal.status_message(seq)
            counted = replayed is None and self.user_id not in services.settings.admin_user_ids
            taken = await services.quotas.take(self.user_id, str(task)) if counted else None
        except BaseException:
            queue.release(self.user_id, seq)
            raise
        self._admitted = _Admission(task, taken)

    async def _give_back(self) -> None:
        """The request ends (or changes task) without submitting the job it was admitted for."""
        admitted, self._admitted = self._admitted, None
        if admitted is None:
            return
        self.services.queue.release(self.user_id, self.update.update_id)
        if admitted.taken is not None:
            try:
                await self.services.quotas.refund(self.user_id, str(admitted.task), admitted.taken)
            except StorageBusy as exc:
                log.warning("quota of update %s not given back: %s", self.update.update_id, exc)

    def job(self, work: Request) -> Job:
        """The queue's job for `work`, ordered by the update that asked for it."""
        parsed = parse_command(self.message.text or self.message.caption)
        return Job(
            work,
            user_id=self.user_id,
            chat_id=self.chat_id,
            seq=self.update.update_id,
            message_id=self.message.message_id,
            command=parsed[0] if parsed else None,
        )

    async def run(self, work: Asks[R], action: str) -> R:
        """Queue `work`, keep the user informed until it ends (status message, chat action), return its result.

        The status message is `self.status` afterwards: `answer()` edits it into the answer, or the handler
        deletes it before sending something that can't be an edit (a photo). Raises the job's BotError (busy,
        cancelled, timed out, model failed) after removing the status.
        """
        job = self.job(cast("Request", work))
        services = self.services
        queue, journal = services.queue, services.journal
        await self.admit(job.task)
        ticket = queue.submit(job)  # into the place admit() kept: no cap can refuse it now
        self._admitted = None
        replayed = await journal.status_message(job.seq)

        async def remember(sent: Message) -> None:
            await journal.set_status_message(job.seq, sent.message_id)

        status = self.status = StatusMessage(self.message, on_sent=remember, lang=self.lang)
        if replayed is not None:  # replayed after a restart: carry on in the message the user already has
            await status.resume(replayed, texts.RESUMED)
        started = False

        async def on_start() -> None:
            nonlocal started
            started = True  # a death from now on counts against this job (the poison-job guard)
            await _mark(journal.set_running(job.seq, True))

        try:
            return cast(R, await _follow(ticket, queue, status, self.message, action, on_start))
        except ShuttingDown:
            raise  # keep the status message: the replay after the restart edits it
        except BaseException:
            await status.delete()
            raise
        finally:
            if started:
                await _mark(journal.set_running(job.seq, False))

    async def answer(self, text: Say) -> Message:
        """The answer: the status message edited into it (split to Telegram's limit), or a new reply."""
        await self.sending()
        if self.status is None:
            sent = await self.reply(text)
        else:
            sent = await self.status.answer(text)
        await self.sent(sent)
        return sent

    async def sending(self) -> None:
        """The answer is about to go out (the journal notes it: a death from here may double it)."""
        await _mark(self.services.journal.set_sending(self.update.update_id))

    async def sent(self, answer: Message) -> None:
        """The answer is out: a replay after a death from here on only tidies up."""
        await _mark(self.services.journal.set_sent(self.update.update_id, answer.message_id))

    async def resume_status(self) -> None:
        """A replayed request answering without a job: adopt the status message it had before the restart."""
        replayed = await self.services.journal.status_message(self.update.update_id)
        if replayed is not None and self.status is None:
            self.status = StatusMessage(self.message, lang=self.lang)
            await self.status.resume(replayed, texts.RESUMED)

    async def drop_status(self) -> None:
        """Delete the status message before an answer that can't be an edit of it (a photo, an album)."""
        if self.status is not None:
            await self.status.delete()


@dataclass(frozen=True)
class _Admission:
    task: Task
    taken: float | None  # when the quota counted it (for a refund); None: not counted


async def _mark(note: Awaitable[None]) -> None:
    """Note a stage of the request in the journal; a locked database costs the note, never the answer."""
    try:
        await note
    except StorageBusy as exc:
        log.warning("journal note skipped: %s", exc)


async def _follow(
    ticket: Ticket,
    queue: GpuQueue,
    status: StatusMessage,
    message: Message,
    action: str,
    on_start: Callable[[], Awaitable[None]],
) -> Result:
    action_task: asyncio.Task[None] | None = None
    try:
        while not ticket.done():
            position = ticket.position
            # Next in line with a free worker: it starts at once, so no status message for it.
            if position is not None and (position >= 2 or (position == 1 and queue.saturated_for(ticket.job.task))):
                await status.show(texts.queued(position))
            elif position == 0:
                if action_task is None:
                    await on_start()
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
