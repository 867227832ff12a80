"""/caption [prefix]: describe a photo with the caption model (BLIP by default)."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatAction

from bot import texts
from bot.commands import command, command_args
from bot.context import BotContext
from bot.replies import reply
from bot.errors import BadInput
from bot.jobs import CaptionRequest
from bot.media import fetch_image, find_photo
from bot.progress import run_job
from bot.requester import job_for

MAX_PREFIX_CHARS = 200


async def caption(update: Update, context: BotContext) -> None:
    """Caption the photo the command is on or replies to; words after the command start the caption."""
    message = update.effective_message
    photo = find_photo(message)
    if photo is None:
        await reply(message, texts.CAPTION_USAGE)
        return
    prefix = command_args(message.text or message.caption)
    if len(prefix) > MAX_PREFIX_CHARS:
        raise BadInput(f"prefix of {len(prefix)} chars",
                       user_message=texts.too_long("prefix", len(prefix), MAX_PREFIX_CHARS))
    image = await fetch_image(context.bot, photo, context.services.decoder)
    job = job_for(update, CaptionRequest(image, prefix or None))
    result, status = await run_job(message, context, job, ChatAction.TYPING)
    await status.answer(result.text.strip() or texts.NO_CAPTION)


COMMAND = command("caption", caption, on_photo=True, long_running=True)
