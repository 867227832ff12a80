"""/box <object>: find every such object in a photo with the VLM and reply with the boxes drawn and listed."""

from __future__ import annotations

import asyncio

from telegram.constants import ChatAction

from bot import texts
from bot.errors import BadInput
from bot.features.photo_chat import subject_of_command
from bot.imaging.boxes import annotate
from bot.messaging.commands import command, command_args
from bot.messaging.replies import reply_photo
from bot.pipeline import UserRequest
from contract.requests import BoxRequest, Task

MAX_TARGET_CHARS = 200


async def box(request: UserRequest) -> None:
    """Draw labelled boxes around the named object on the photo (or the conversation's last photo)."""
    message = request.message
    history = request.services.history
    target = command_args(request.text)
    if not target:
        await request.reply(texts.BOX_USAGE)
        return
    if len(target) > MAX_TARGET_CHARS:
        raise BadInput(
            f"target of {len(target)} chars", user_message=texts.too_long("description", len(target), MAX_TARGET_CHARS)
        )
    await request.admit(Task.BOX)  # a request over a quota or a cap costs no download
    subject = await subject_of_command(
        message, request.bot, history, request.services.decoder, request.update.update_id
    )  # a replay: the same conversation
    if subject is None:
        await request.reply(texts.BOX_USAGE)
        return
    result = await request.run(BoxRequest(subject.image, target), ChatAction.UPLOAD_PHOTO)
    conversation = subject.conversation
    if not result.found:
        sent = await request.answer(texts.nothing_found(target, result.text))
    else:
        photo = await asyncio.to_thread(annotate, subject.image, result.found)
        await request.drop_status()
        sent = await reply_photo(message, photo, texts.boxes_found(target, result.found, subject.image.size))
    # A reply to the boxes (or to "nothing found") asks about the same photo.
    await history.link_messages(conversation.scope, conversation.id, [sent.message_id])


COMMAND = command("box", box, on_photo=True, long_running=True)
