"""/box <object>: find every such object in a photo with the VLM and reply with the boxes drawn and listed."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.constants import ChatAction

from bot import texts
from bot.boxes import annotate
from bot.commands import command, command_args
from bot.context import BotContext
from bot.errors import BadInput
from bot.jobs import BoxRequest
from bot.photo_chat import subject_of_command
from bot.progress import run_job
from bot.replies import reply, reply_photo
from bot.requester import job_for

MAX_TARGET_CHARS = 200


async def box(update: Update, context: BotContext) -> None:
    """Draw labelled boxes around the named object on the photo (or the conversation's last photo)."""
    message = update.effective_message
    history = context.services.history
    target = command_args(message.text or message.caption)
    if not target:
        await reply(message, texts.BOX_USAGE)
        return
    if len(target) > MAX_TARGET_CHARS:
        raise BadInput(f"target of {len(target)} chars",
                       user_message=texts.too_long("description", len(target), MAX_TARGET_CHARS))
    subject = await subject_of_command(message, context.bot, history, context.services.decoder)
    if subject is None:
        await reply(message, texts.BOX_USAGE)
        return
    job = job_for(update, BoxRequest(subject.image, target))
    result, status = await run_job(message, context, job, ChatAction.UPLOAD_PHOTO)
    conversation = subject.conversation
    if not result.found:
        sent = await status.answer(texts.nothing_found(target, result.text))
    else:
        photo = await asyncio.to_thread(annotate, subject.image, result.found)
        await status.delete()
        sent = await reply_photo(message, photo, texts.boxes_found(target, result.found, subject.image.size))
    # A reply to the boxes (or to "nothing found") asks about the same photo.
    await history.link_messages(conversation.scope, conversation.id, [sent.message_id])


COMMAND = command("box", box, on_photo=True, long_running=True)
