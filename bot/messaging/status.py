"""What a user sees while a job waits and runs: a status message with their place, and a chat action."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable

from telegram import Message
from telegram.error import TelegramError

from bot.i18n import Lang, Say, language_of_message, localize
from bot.messaging.replies import TEXT_LIMIT, reply, split_text

log = logging.getLogger(__name__)

# A chat action shows for 5 s (Bot API); renew it a little sooner.
CHAT_ACTION_PERIOD_S = 4.5
# Status edits are cosmetic: at most one per message this often, so answers aren't slowed by them.
STATUS_EDIT_INTERVAL_S = 2.0
# Streamed answers: at most one edit (or new part) per this many seconds. Telegram allows about one
# message a second per chat and twenty a minute per group, and edits count.
STREAM_INTERVAL_PRIVATE_S = 1.0
STREAM_INTERVAL_GROUP_S = 3.0
# An answer that is ready within this long after its first words is sent whole, without streaming.
STREAM_AFTER_S = 1.0
# Shown after a streamed answer while the model is still writing it.
CURSOR = " ▌"


class StatusMessage:
    """The bot's message(s) for one request: the queue position first, then the answer.

    A streamed answer grows in place (throttled edits, a cursor while it is incomplete) and spills
    into further messages when it outgrows Telegram's 4096 characters; `parts` are all of them.
    """

    def __init__(
        self, request: Message, on_sent: Callable[[Message], Awaitable[None]] | None = None, lang: Lang | None = None
    ) -> None:
        self.request = request
        self.lang = lang or language_of_message(request)  # of the person the answer is for
        self.parts: list[Message] = []
        self._texts: list[str] = []  # what each part shows now
        self._edited_at = 0.0
        self._streaming = False
        self._first_partial_at: float | None = None
        private = request.chat.type == "private"
        self.stream_interval = STREAM_INTERVAL_PRIVATE_S if private else STREAM_INTERVAL_GROUP_S
        self._on_sent = on_sent

    @property
    def message(self) -> Message | None:
        """The first message (the status, later the answer's first part)."""
        return self.parts[0] if self.parts else None

    async def resume(self, message_id: int, text: Say) -> None:
        """Adopt a status message sent before a restart (showing `text`), if it still exists."""
        text = localize(text, self.lang)
        bot = self.request.get_bot()
        try:
            edited = await bot.edit_message_text(text, self.request.chat_id, message_id)
        except TelegramError as exc:
            if "not modified" not in str(exc).lower():
                log.info("could not resume status message %s: %s", message_id, exc)
                return
            # It says so already (resumed before, and the bot died again): it is still ours to edit.
            edited = Message(message_id, dt.datetime.now(dt.UTC), self.request.chat)
            edited.set_bot(bot)
        if isinstance(edited, Message):
            self.parts, self._texts, self._edited_at = [edited], [text], time.monotonic()

    async def show(self, text: Say, *, force: bool = False) -> None:
        """Send or edit the status text; unchanged texts and too-frequent edits are skipped."""
        text = localize(text, self.lang)
        if self._streaming or self._texts[:1] == [text]:
            return
        now = time.monotonic()
        if self.parts and not force and now - self._edited_at < STATUS_EDIT_INTERVAL_S:
            return
        try:
            await self._put(0, text)
        except TelegramError as exc:  # cosmetic: never fail the job over a status update
            log.warning("status update failed: %s", exc)

    async def stream(self, partial: str) -> None:
        """Show the answer so far: at most one edit or new part per stream_interval, never an unchanged one."""
        pieces = split_text(partial, TEXT_LIMIT - len(CURSOR))
        if not pieces:
            return
        pieces[-1] += CURSOR
        now = time.monotonic()
        if self._first_partial_at is None:
            self._first_partial_at = now
        if now - self._first_partial_at < STREAM_AFTER_S or now - self._edited_at < self.stream_interval:
            return
        self._streaming = True
        for index, piece in enumerate(pieces):
            if index >= len(self._texts) or self._texts[index] != piece:
                try:
                    await self._put(index, piece)
                except TelegramError as exc:
                    log.warning("streamed edit failed: %s", exc)
                return  # one call per interval: the next piece waits for the next turn

    async def answer(self, text: Say) -> Message:
        """Turn the status (or streamed) message(s) into the answer, split to Telegram's limit.

        Returns the first message of the answer; `parts` holds all of them.
        """
        text = localize(text, self.lang)
        limit = TEXT_LIMIT - len(CURSOR) if self._streaming else TEXT_LIMIT
        pieces = split_text(text, limit) or [text]
        for index, piece in enumerate(pieces):
            if index < len(self._texts) and self._texts[index] == piece:
                continue
            if self._streaming:  # the final edits keep the streaming pace too
                await asyncio.sleep(max(0.0, self._edited_at + self.stream_interval - time.monotonic()))
            try:
                await self._put(index, piece)
            except TelegramError as exc:
                if index >= len(self.parts):
                    raise
                log.warning("could not edit part %d into the answer (%s); sending it instead", index + 1, exc)
                message = await reply(self.request, piece, self.lang)
                await self._drop(self.parts[index])
                self.parts[index], self._texts[index] = message, piece
        for extra in self.parts[len(pieces) :]:  # a shorter final text than the streamed one
            await self._drop(extra)
        del self.parts[len(pieces) :], self._texts[len(pieces) :]
        return self.parts[0]

    async def delete(self) -> None:
        """Remove the status message(s) (before an answer that can't be an edit: a photo, an error)."""
        parts, self.parts, self._texts = self.parts, [], []
        self._streaming = False
        for message in parts:
            await self._drop(message)

    async def _put(self, index: int, text: str) -> None:
        """Edit part `index` to `text`, or send it as a new part (a reply to the request)."""
        if index < len(self.parts):
            await self.parts[index].edit_text(text)
            self._texts[index] = text
        else:
            sent = await reply(self.request, text, self.lang)
            self.parts.append(sent)
            self._texts.append(text)
            if index == 0 and self._on_sent is not None:
                await self._on_sent(sent)
        self._edited_at = time.monotonic()

    @staticmethod
    async def _drop(message: Message) -> None:
        with contextlib.suppress(TelegramError):
            await message.delete()


async def send_chat_action(message: Message, action: str) -> None:
    """Show `action` ("typing", "upload_photo"...) in the message's chat and forum topic for ~5 s."""
    thread_id = message.message_thread_id if message.is_topic_message else None
    with contextlib.suppress(TelegramError):
        await message.get_bot().send_chat_action(message.chat_id, action, message_thread_id=thread_id)


async def keep_chat_action(message: Message, action: str) -> None:
    """Renew `action` until cancelled (the first one is sent by the caller, so even a quick job shows it)."""
    while True:
        await asyncio.sleep(CHAT_ACTION_PERIOD_S)
        await send_chat_action(message, action)
