"""Which photo conversation an /ask or /box is about: a new photo (or album), a replied-to answer, or the chat's
last photo."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.messaging.commands import replied_message, replies_to_bot
from bot.messaging.media import download, download_file, photo_in
from bot.stores.history import ChatHistory, Conversation, Scope, scope_of

if TYPE_CHECKING:
    from PIL.Image import Image
    from telegram import Bot, Message

    from bot.features.albums import ChatAlbums
    from bot.imaging.decoding import ImageDecoder
    from bot.stores.albums import AlbumPhoto


@dataclass(frozen=True)
class Subject:
    """A conversation and its photo (an album: its first photo, the others in `more_images`), decoded."""

    conversation: Conversation
    image: Image
    more_images: tuple[Image, ...] = ()

    @property
    def images(self) -> tuple[Image, ...]:
        return (self.image, *self.more_images)


async def subject_of_command(
    message: Message,
    bot: Bot,
    history: ChatHistory,
    decoder: ImageDecoder,
    update_id: int | None = None,
    albums: ChatAlbums | None = None,
) -> Subject | None:
    """The conversation a command is about, or None when there is no photo to talk about.

    In order: a photo on the message itself starts a new conversation; a reply to one of the bot's
    answers continues that answer's conversation; a reply to a photo continues the conversation
    about that photo, or starts one; otherwise the chat's (or topic's) current conversation.
    With `albums`, a photo of an album stands for the whole album (every photo the bot saw of it).
    With `update_id`, the answer is remembered: a replay of the request after a restart gets the same one.
    """
    if update_id is not None:
        pinned = await history.pinned(scope_of(message), update_id)
        if pinned is not None:
            return await _decoded(pinned, decoder)
    subject = await _subject_of_command(message, bot, history, decoder, albums)
    if subject is not None and update_id is not None:
        await history.pin(update_id, subject.conversation.id)
    return subject


async def _subject_of_command(
    message: Message, bot: Bot, history: ChatHistory, decoder: ImageDecoder, albums: ChatAlbums | None
) -> Subject | None:
    scope = scope_of(message)
    photo = photo_in(message)
    replied = replied_message(message)  # never a forum topic's first message
    if photo is not None and albums is not None:
        album = await albums.photos_of(message)
        if len(album) > 1:
            return await _album_subject(message, scope, album, bot, history, decoder, continued=False)
    if photo is None and replied is not None:
        if replies_to_bot(message):
            subject = await subject_of_reply(message, history, decoder)
            if subject is not None:
                return subject
        photo = photo_in(replied)
        if photo is not None and albums is not None and replied.chat.id == message.chat.id:
            album = await albums.photos_of(replied)
            if len(album) > 1:
                return await _album_subject(message, scope, album, bot, history, decoder, continued=True)
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


async def _album_subject(
    message: Message,
    scope: Scope,
    album: list[AlbumPhoto],
    bot: Bot,
    history: ChatHistory,
    decoder: ImageDecoder,
    *,
    continued: bool,
) -> Subject:
    """The conversation about a whole album: `continued` (a reply to one of its photos) goes on with the
    newest conversation about all of it, if there is one; otherwise a new one starts with every photo."""
    if continued:
        known = await history.for_photo(scope, album[0].file_unique_id)
        if known is not None and known.photos == len(album):
            return await _decoded(known, decoder)
    files = await asyncio.gather(*(download_file(bot, photo.file_id, photo.file_size) for photo in album))
    # Only readable photos start a conversation; each decode is shared with the photo's indexing.
    images = await asyncio.gather(
        *(
            decoder.for_command((message.chat_id, photo.file_unique_id), data)
            for photo, data in zip(album, files, strict=True)
        )
    )
    first = album[0]
    conversation = await history.start(
        scope, files[0], first.file_id, first.file_unique_id, message.message_id, more_images=tuple(files[1:])
    )
    return Subject(conversation, images[0], tuple(images[1:]))


async def _decoded(conversation: Conversation, decoder: ImageDecoder) -> Subject:
    images = await asyncio.gather(
        *(decoder.for_command(None, data) for data in (conversation.image, *conversation.more_images))
    )
    return Subject(conversation, images[0], tuple(images[1:]))
