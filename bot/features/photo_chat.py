"""Which photo conversation an /ask or /box is about: a new photo, a replied-to answer, or the chat's last photo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.messaging.commands import replied_message, replies_to_bot
from bot.messaging.media import download, photo_in
from bot.stores.history import ChatHistory, Conversation, scope_of

if TYPE_CHECKING:
    from PIL.Image import Image
    from telegram import Bot, Message

    from bot.imaging.decoding import ImageDecoder


@dataclass(frozen=True)
class Subject:
    """A conversation and its photo, decoded."""

    conversation: Conversation
    image: Image


async def subject_of_command(
    message: Message, bot: Bot, history: ChatHistory, decoder: ImageDecoder, update_id: int | None = None
) -> Subject | None:
    """The conversation a command is about, or None when there is no photo to talk about.

    In order: a photo on the message itself starts a new conversation; a reply to one of the bot's
    answers continues that answer's conversation; a reply to a photo continues the conversation
    about that photo, or starts one; otherwise the chat's (or topic's) current conversation.
    With `update_id`, the answer is remembered: a replay of the request after a restart gets the same one.
    """
    if update_id is not None:
        pinned = await history.pinned(scope_of(message), update_id)
        if pinned is not None:
            return await _decoded(pinned, decoder)
    subject = await _subject_of_command(message, bot, history, decoder)
    if subject is not None and update_id is not None:
        await history.pin(update_id, subject.conversation.id)
    return subject


async def _subject_of_command(
    message: Message, bot: Bot, history: ChatHistory, decoder: ImageDecoder
) -> Subject | None:
    scope = scope_of(message)
    photo = photo_in(message)
    replied = replied_message(message)  # never a forum topic's first message
    if photo is None and replied is not None:
        if replies_to_bot(message):
            subject = await subject_of_reply(message, history, decoder)
            if subject is not None:
                return subject
        photo = photo_in(replied)
        if photo is not None:
            known = await history.for_photo(scope, photo.file_unique_id)
            if known is not None:
                return await _decoded(known, decoder)
    if photo is not None:
        data = await download(bot, photo)
        # Only a readable photo starts a conversation; its decode is shared with the photo's indexing.
        image = await decoder.for_command((message.chat_id, photo.file_unique_id), data)
        # Keyed by the request's message: its replay after a restart continues the same conversation.
        conversation = await history.start(scope, data, photo.file_id, photo.file_unique_id, message.message_id)
        return Subject(conversation, image)
    current = await history.current(scope)
    return await _decoded(current, decoder) if current is not None else None


async def subject_of_reply(message: Message, history: ChatHistory, decoder: ImageDecoder) -> Subject | None:
    """The conversation of the bot's answer that `message` replies to (None if it belongs to none)."""
    replied = replied_message(message)
    if replied is None:
        return None
    conversation = await history.for_answer(message.chat_id, replied.message_id)
    return await _decoded(conversation, decoder) if conversation is not None else None


async def _decoded(conversation: Conversation, decoder: ImageDecoder) -> Subject:
    return Subject(conversation, await decoder.for_command(None, conversation.image))
