"""Replying to a user's message: quoted, in its forum topic, in the sender's language, even if the message
was deleted meanwhile.

Every message the bot sends in answer to someone goes through here. Users delete their requests, and
Telegram refuses a reply to a deleted message ("message to be replied not found") unless the reply says
`allow_sending_without_reply` inside its ReplyParameters (python-telegram-bot drops the keyword form on
some paths), so that is the only way replies are built.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InputMediaDocument, InputMediaPhoto, Message, ReplyParameters
from telegram._utils.types import ReplyMarkup

from bot.i18n import Lang, Say, language_of_message, localize

Media = InputMediaPhoto | InputMediaDocument


def reply_parameters(request: Message, target: int | None = None) -> ReplyParameters:
    """Quote `request` (or message `target` of its chat), and send anyway if it is gone by then."""
    return ReplyParameters(target or request.message_id, allow_sending_without_reply=True)


async def reply(request: Message, text: Say, lang: Lang | None = None, *, markup: ReplyMarkup | None = None) -> Message:
    """Send `text` as a reply to `request`, in `lang` (by default the language of the request's sender)."""
    words = localize(text, lang or language_of_message(request))
    return await request.reply_text(words, reply_parameters=reply_parameters(request), reply_markup=markup)


async def reply_media(
    request: Message, media: Sequence[Media], *, target: int | None = None, markup: ReplyMarkup | None = None
) -> list[Message]:
    """Send photos or documents (already captioned) as a reply: one as a photo or a file (with `markup`),
    several as an album (which can't carry buttons). `target`: quote that message of the chat instead."""
    where = reply_parameters(request, target)
    if len(media) > 1:
        assert markup is None, "an album can't carry buttons"
        return list(await request.reply_media_group(list(media), reply_parameters=where))
    (one,) = media
    if isinstance(one, InputMediaDocument):
        return [
            await request.reply_document(one.media, caption=one.caption, reply_parameters=where, reply_markup=markup)
        ]
    return [await request.reply_photo(one.media, caption=one.caption, reply_parameters=where, reply_markup=markup)]


# Telegram's limit for one message's text, counted in UTF-16 code units (an emoji may count 2).
TEXT_LIMIT = 4096


def utf16_len(text: str) -> int:
    """The length Telegram measures: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """`text` in pieces of at most `limit` UTF-16 units, cut at a paragraph, line or word break when
    one is in the second half of the piece; no piece is empty or starts/ends with whitespace.

    Splitting is greedy from the start, so every piece but the last is the same for any longer
    text with the same beginning: a streamed answer's finished pieces never change.
    """
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if utf16_len(rest) <= limit:
            pieces.append(rest)
            break
        # The longest prefix within the limit (characters outside the BMP count twice).
        end, units = 0, 0
        for char in rest:
            size = 2 if ord(char) > 0xFFFF else 1
            if units + size > limit:
                break
            units += size
            end += 1
        cut = end
        for separator in ("\n\n", "\n", " "):
            at = rest.rfind(separator, end // 2, end)
            if at > 0:
                cut = at
                break
        piece = rest[:cut].rstrip()
        if not piece:  # only whitespace before the cut: take the hard limit instead
            piece, cut = rest[:end], end
        pieces.append(piece)
        rest = rest[cut:].lstrip()
    return pieces


async def reply_photo(request: Message, photo: bytes, caption: Say) -> Message:
    """Send `photo` (JPEG bytes) as a reply; as a file when Telegram refuses it as a photo (odd dimensions)."""
    from telegram.error import BadRequest

    caption = localize(caption, language_of_message(request))
    try:
        (sent,) = await reply_media(request, [InputMediaPhoto(photo, caption=caption)])
    except BadRequest as exc:
        if "photo" not in str(exc).lower() and "image" not in str(exc).lower():
            raise
        (sent,) = await reply_media(request, [InputMediaDocument(photo, filename="boxes.jpg", caption=caption)])
    return sent
