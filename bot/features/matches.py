"""Sending /find's matches back: re-sent by file_id as an album, each with its score and a link back."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from telegram import InputMediaDocument, InputMediaPhoto
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot import texts
from bot.errors import BadImage
from bot.i18n import Lang, language_of_message
from bot.imaging.decode import decode_image
from bot.messaging.replies import reply, reply_media

if TYPE_CHECKING:
    from telegram import Chat, Message

    from bot.features.photos import ChatPhotos
    from bot.stores.photo_index import Match

log = logging.getLogger(__name__)

ALBUM_MAX = 10  # sendMediaGroup takes 2-10 items
CAPTION_LIMIT = 1024
QUOTE_CHARS = 200
UPLOAD_SIDE = 2560  # Telegram's own largest photo side; imported files are re-encoded to fit


def message_link(chat: Chat, message_id: int) -> str | None:
    """A t.me link to a message, where Telegram has one (public chats, supergroups, channels)."""
    if not message_id:
        return None
    if chat.username:
        return f"https://t.me/{chat.username}/{message_id}"
    if chat.type in (ChatType.SUPERGROUP, ChatType.CHANNEL) and str(chat.id).startswith("-100"):
        return f"https://t.me/c/{str(chat.id)[4:]}/{message_id}"
    return None  # private chats and basic groups have no message links


def match_caption(rank: int, match: Match, chat: Chat, lang: Lang = "en") -> str:
    """`#1 · 0.83 · Ann · 2 Mar 2026` (no score when listed by date), the link back where there is one, and
    the original caption."""
    record = match.record
    head = [f"#{rank}"] if match.score is None else [f"#{rank}", f"{match.score:.2f}"]
    if record.sender:
        head.append(texts.user_name(record.sender))  # a name of any length or direction
    if record.date:
        head.append(texts.match_date(record.date).in_(lang))
    lines = [" · ".join(head)]
    link = message_link(chat, record.message_id)
    if link:
        lines.append(link)
    if record.caption and not record.caption.startswith("/"):
        quote = record.caption if len(record.caption) <= QUOTE_CHARS else record.caption[: QUOTE_CHARS - 1] + "…"
        lines.append(f"“{quote}”")
    return "\n".join(lines)[:CAPTION_LIMIT]


@dataclass
class _Item:
    rank: int
    match: Match
    upload: bytes | None = None  # an imported file not yet on Telegram

    @property
    def kind(self) -> str:
        return "photo" if self.upload is not None else self.match.record.kind

    def media(self, caption: str) -> InputMediaPhoto | InputMediaDocument:
        source = self.upload if self.upload is not None else self.match.record.file_id
        if self.kind == "document":
            return InputMediaDocument(source, caption=caption)
        return InputMediaPhoto(source, caption=caption)


async def send_matches(request: Message, matches: Sequence[Match], photos: ChatPhotos) -> list[Message]:
    """Send a /find's matches: photos as an album, image files as another; one match replies to its original.

    Photos go back by their file_id, never re-uploaded; an imported file is uploaded the first time and
    its new file_id remembered. A match Telegram refuses (deleted meanwhile) is left out. Returns what was sent.
    """
    items, missing = [], 0
    for rank, match in enumerate(matches, start=1):
        item = _Item(rank, match)
        if not match.record.file_id:
            item.upload = await asyncio.to_thread(_jpeg_for_upload, match.record.path, photos.max_pixels)
            if item.upload is None:
                missing += 1
                continue
        items.append(item)
    sent: list[tuple[_Item, Message]] = []
    for kind in ("photo", "document"):
        group = [i for i in items if i.kind == kind]
        for start in range(0, len(group), ALBUM_MAX):
            sent += await _send_group(request, group[start : start + ALBUM_MAX], single=len(items) == 1)
    if not sent:
        await reply(request, texts.MATCHES_UNSENDABLE)
    elif missing + len(items) - len(sent):
        await reply(request, texts.matches_missing(missing + len(items) - len(sent)))
    for item, message in sent:
        if item.upload is not None and message.photo:
            await photos.remember_file_id(item.match.record, message.photo[-1].file_id)
    return [message for _, message in sent]


async def _send_group(request: Message, group: list[_Item], *, single: bool) -> list[tuple[_Item, Message]]:
    chat = request.chat
    target = request.message_id
    if single and group[0].match.record.message_id and not chat.is_forum:
        # One match answers as a reply to the original photo: the quote links back to it.
        target = group[0].match.record.message_id
    media = [item.media(match_caption(item.rank, item.match, chat, language_of_message(request))) for item in group]
    try:
        return list(zip(group, await reply_media(request, media, target=target), strict=False))
    except TelegramError as exc:
        if len(media) == 1:
            log.warning("could not re-send match %s in chat %s: %s", group[0].match.record.key, chat.id, exc)
            return []
        log.warning("album of %d matches refused in chat %s (%s); sending them one by one", len(media), chat.id, exc)
    sent = []
    for item, one in zip(group, media, strict=False):
        try:
            sent += [(item, m) for m in await reply_media(request, [one], target=target)]
        except TelegramError as exc:
            log.warning("could not re-send match %s in chat %s: %s", item.match.record.key, chat.id, exc)
    return sent


def _jpeg_for_upload(path: str, max_pixels: int) -> bytes | None:
    """An imported file as a JPEG that Telegram takes as a photo, or None when it is gone or unreadable."""
    try:
        image = decode_image(Path(path).read_bytes(), max_pixels)
    except (OSError, BadImage) as exc:
        log.warning("imported photo %s can't be sent: %s", path, exc)
        return None
    image.thumbnail((UPLOAD_SIDE, UPLOAD_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()
