"""Finding the photo a command is about, and fetching it from Telegram within the Bot API's limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from telegram.error import TelegramError

from bot import texts
from bot.errors import BadImage
from bot.messaging.commands import replied_message

if TYPE_CHECKING:
    from PIL.Image import Image
    from telegram import Bot, Message

    from bot.imaging.decoding import ImageDecoder

# getFile serves files up to 20 MB (Bot API limit); bigger ones can't be downloaded at all.
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024


@dataclass(frozen=True)
class PhotoRef:
    """A photo (or an image sent as a file) in a message of this chat."""

    file_id: str
    file_unique_id: str
    file_size: int | None
    message: Message

    @property
    def kind(self) -> str:
        """ "photo", or "document" for an image sent as a file (they are re-sent differently)."""
        return "photo" if self.message.photo else "document"


def photo_in(message: Message) -> PhotoRef | None:
    """The largest photo size of `message`, or its image document, if it has one."""
    if message.photo:
        size = message.photo[-1]
        return PhotoRef(size.file_id, size.file_unique_id, size.file_size, message)
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return PhotoRef(document.file_id, document.file_unique_id, document.file_size, message)
    return None


def find_photo(message: Message) -> PhotoRef | None:
    """The photo a command is about: on the message itself, else on the message it replies to.

    Only a message of the same chat counts (Telegram's replies are; a reply quoting another chat
    arrives as `external_reply`, which is never used), so a command never reaches another chat's photo.
    """
    found = photo_in(message)
    replied = replied_message(message)  # a forum topic's root is no photo the user pointed at
    if found is None and replied is not None and replied.chat.id == message.chat.id:
        found = photo_in(replied)
    return found


async def fetch_image(bot: Bot, photo: PhotoRef, decoder: ImageDecoder) -> Image:
    """Download and decode `photo` for a command (shared with its indexing); raises BadImage with a
    user-facing reason."""
    return await decoder.for_command((photo.message.chat_id, photo.file_unique_id), lambda: download(bot, photo))


async def download(bot: Bot, photo: PhotoRef) -> bytes:
    """The bytes of `photo`, within the Bot API's download limit; raises BadImage with a user-facing reason."""
    return await download_file(bot, photo.file_id, photo.file_size)


async def download_file(bot: Bot, file_id: str, file_size: int | None) -> bytes:
    """The bytes behind `file_id`, within getFile's 20 MB limit; raises BadImage with a user-facing reason."""
    if file_size is not None and file_size > TELEGRAM_DOWNLOAD_LIMIT:
        raise BadImage(f"file of {file_size} bytes over the download limit", user_message=texts.FILE_TOO_BIG)
    try:
        file = await bot.get_file(file_id)
        if file.file_size is not None and file.file_size > TELEGRAM_DOWNLOAD_LIMIT:
            raise BadImage(f"file of {file.file_size} bytes over the download limit", user_message=texts.FILE_TOO_BIG)
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        if "too big" in str(exc).lower():
            raise BadImage(f"getFile refused: {exc}", user_message=texts.FILE_TOO_BIG) from None
        raise BadImage(f"download failed: {exc}", user_message=texts.DOWNLOAD_FAILED) from None
    return data
