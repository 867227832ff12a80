"""/ask <question>: chat about a photo with the VLM, the conversation kept per chat and topic; answers stream."""

from __future__ import annotations

from telegram import Message
from telegram.constants import ChatAction

from bot import texts
from bot.errors import BadInput
from bot.features.photo_chat import subject_of_command, subject_of_reply
from bot.messaging.commands import (
    command,
    command_args,
    mentions_bot,
    parse_command,
    without_mention,
)
from bot.pipeline import UserRequest
from bot.stores.history import Conversation
from contract.requests import AskRequest, Task, Turn

MAX_QUESTION_CHARS = 2000


async def ask(request: UserRequest) -> None:
    """Answer a question about the photo the conversation is about; a plain reply to an answer continues it,
    and a mention of the bot ("@bot what is this?") asks like /ask does."""
    message = request.message
    history = request.services.history
    decoder = request.services.decoder
    text = request.text
    if parse_command(text) is None and not mentions_bot(message):  # a plain reply to one of the bot's messages
        question = text.strip()
        subject = await subject_of_reply(message, history, decoder)
        if subject is None or not question:
            return  # not an answer of a conversation (e.g. a caption): none of /ask's business
        _check_length(question)
    else:  # /ask, or "@bot what is this?", which asks the same way
        question = command_args(text) if parse_command(text) else without_mention(text, request.bot.username)
        _check_length(question)  # before a new photo is downloaded and stored
        await request.admit(Task.ASK)  # so is the quota, and the cap
        subject = await subject_of_command(
            message, request.bot, history, decoder, request.update.update_id, albums=request.services.albums
        )
        if subject is None:
            await request.reply(texts.ASK_USAGE)
            return
        default = texts.DEFAULT_QUESTION if len(subject.images) == 1 else texts.DEFAULT_ALBUM_QUESTION
        question = question or default.in_(request.lang)

    conversation = subject.conversation
    update_id = request.update.update_id
    # One turn at a time per conversation, so a quick follow-up sees the answer before it. From here the
    # conversation's lock orders this request, not the queue (a later turn holding it can't wait for us).
    request.release_order()
    async with history.turn_lock(conversation.id):
        # Replayed after a restart that came between storing the turn and answering: show the stored answer.
        stored = await history.answer_of(update_id)
        if stored is not None:
            await request.resume_status()
            sent = await request.answer(stored or texts.NO_ANSWER.in_(request.lang))
            await _link(request, conversation, sent)
            return
        conversation = await history.get(conversation.scope, conversation.id) or conversation
        work = AskRequest(subject.image, question, conversation.turns, more_images=subject.more_images)
        result = await request.run(work, ChatAction.TYPING)
        shown = result.text or texts.NO_ANSWER.in_(request.lang)
        if not result.multi_turn:
            shown += "\n\n" + texts.SINGLE_TURN_NOTE.in_(request.lang)
        if result.images_used < len(subject.images):  # a single-image model, asked about an album
            shown += "\n\n" + texts.album_first_photo_only(len(subject.images)).in_(request.lang)
        # The turn is stored before the answer goes out (keyed by the request, so a replay stores it once):
        # an answer the user saw always has its turn.
        shown_so_far = request.status.parts if request.status is not None else []
        await history.add_turn(
            conversation.scope,
            conversation.id,
            Turn(question, result.text),
            [m.message_id for m in shown_so_far],
            keep_earlier=result.history_used,
            update_id=update_id,
        )
        sent = await request.answer(shown)
        await _link(request, conversation, sent)


async def _link(request: UserRequest, conversation: Conversation, sent: Message) -> None:
    """Replies to the answer's messages continue its conversation."""
    parts = request.status.parts if request.status is not None and request.status.parts else [sent]
    await request.services.history.link_messages(conversation.scope, conversation.id, [m.message_id for m in parts])


def _check_length(question: str) -> None:
    if len(question) > MAX_QUESTION_CHARS:
        raise BadInput(
            f"question of {len(question)} chars",
            user_message=texts.too_long("question", len(question), MAX_QUESTION_CHARS),
        )


COMMAND = command("ask", ask, on_photo=True, long_running=True, on_reply=True, on_mention=True)
