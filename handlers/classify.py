"""/classify: name what is in a photo with the classifier (ViT by default): the top 5 labels with probabilities."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatAction

from bot import texts
from bot.commands import command
from bot.context import BotContext
from bot.jobs import ClassifyRequest
from bot.media import fetch_image, find_photo
from bot.progress import run_job
from bot.replies import reply
from bot.requester import job_for


async def classify(update: Update, context: BotContext) -> None:
    """Classify the photo the command is on or replies to."""
    message = update.effective_message
    photo = find_photo(message)
    if photo is None:
        await reply(message, texts.CLASSIFY_USAGE)
        return
    image = await fetch_image(context.bot, photo, context.services.decoder)
    job = job_for(update, ClassifyRequest(image))
    result, status = await run_job(message, context, job, ChatAction.TYPING)
    await status.answer(texts.classification(result.labels))


COMMAND = command("classify", classify, on_photo=True, long_running=True)
