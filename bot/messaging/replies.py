"""Replying to a user's message: quoted, in its forum topic, in the sender's language, even if the message
was deleted meanwhile."""

from __future__ import annotations

from telegram import Message

from bot.i18n import Lang, Say, language_of_message, localize


async def reply(request: Message, text: Say, lang: Lang | None = None) -> Message:
    """Send `text` as a reply to `request`, in `lang` (by default the language of the request's sender)."""
    words = localize(text, lang or language_of_message(request))
    return await request.reply_text(words, do_quote=request.build_reply_arguments(allow_sending_without_reply=True))


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
    quote = request.build_reply_arguments(allow_sending_without_reply=True)
    try:
        return await request.reply_photo(photo, caption=caption, do_quote=quote)
    except BadRequest as exc:
        if "photo" not in str(exc).lower() and "image" not in str(exc).lower():
            raise
        return await request.reply_document(photo, filename="boxes.jpg", caption=caption, do_quote=quote)
