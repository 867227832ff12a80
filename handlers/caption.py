"""/caption [prefix]: describe a photo with the caption model (BLIP by default)."""

from __future__ import annotations

from telegram.constants import ChatAction

from bot import texts
from bot.errors import BadInput
from bot.messaging.commands import command, command_args
from bot.messaging.media import find_photo
from bot.pipeline import UserRequest
from contract.requests import CaptionRequest, Task

MAX_PREFIX_CHARS = 200


async def caption(request: UserRequest) -> None:
    """Caption the photo the command is on or replies to; words after the command start the caption."""
    photo = find_photo(request.message)
    if photo is None:
        await request.reply(texts.CAPTION_USAGE)
        return
    prefix = command_args(request.text)
    if len(prefix) > MAX_PREFIX_CHARS:
        raise BadInput(
            f"prefix of {len(prefix)} chars", user_message=texts.too_long("prefix", len(prefix), MAX_PREFIX_CHARS)
        )
    await request.admit(Task.CAPTION)  # a request over a quota or a cap costs no download
    image = await request.fetch_image(photo)
    result = await request.run(CaptionRequest(image, prefix or None), ChatAction.TYPING)
    await request.answer(result.text.strip() or texts.NO_CAPTION)


COMMAND = command("caption", caption, on_photo=True, long_running=True)
