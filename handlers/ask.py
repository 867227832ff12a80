"""/ask <question>: chat about a photo with the VLM, the conversation kept per chat and topic; answers stream."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatAction

from bot import texts
from bot.commands import command, command_args, mentions_bot, parse_command, without_mention
from bot.context import BotContext
from bot.errors import BadInput
from bot.i18n import language_of_message
from bot.jobs import AskRequest, Turn
from bot.photo_chat import subject_of_command, subject_of_reply
from bot.progress import run_job
from bot.replies import reply
from bot.requester import job_for, requester_id

MAX_QUESTION_CHARS = 2000


async def ask(update: Update, context: BotContext) -> None:
    """Answer a question about the photo the conversation is about; a plain reply to an answer continues it,
    and a mention of the bot ("@bot what is this?") asks like /ask does."""
    message = update.effective_message
    services = context.services
    history = services.history
    decoder = services.decoder
    text = message.text or message.caption or ""
    if parse_command(text) is None and not mentions_bot(message):  # a plain reply to one of the bot's messages
        question = text.strip()
        subject = await subject_of_reply(message, history, decoder)
        if subject is None or not question:
            return  # not an answer of a conversation (e.g. a caption): none of /ask's business
        _check_length(question)
    else:  # /ask, or "@bot what is this?", which asks the same way
        question = command_args(text) if parse_command(text) else without_mention(text, context.bot.username)
        _check_length(question)  # before a new photo is downloaded and stored
        subject = await subject_of_command(message, context.bot, history, decoder)
        if subject is None:
            await reply(message, texts.ASK_USAGE)
            return
        question = question or texts.DEFAULT_QUESTION.in_(language_of_message(message))

    conversation = subject.conversation
    # One turn at a time per conversation, so a quick follow-up sees the answer before it. From here the
    # conversation's lock orders this request, not the queue (a later turn holding it can't wait for us).
    services.queue.withdraw(requester_id(update), update.update_id)
    async with history.turn_lock(conversation.id):
        conversation = await history.get(conversation.scope, conversation.id) or conversation
        job = job_for(update, AskRequest(subject.image, question, conversation.turns))
        result, status = await run_job(message, context, job, ChatAction.TYPING)
        shown = result.text or texts.NO_ANSWER.in_(status.lang)
        if not result.multi_turn:
            shown += "\n\n" + texts.SINGLE_TURN_NOTE.in_(status.lang)
        await status.answer(shown)
        await history.add_turn(conversation.scope, conversation.id, Turn(question, result.text),
                               [m.message_id for m in status.parts], keep_earlier=result.history_used)


def _check_length(question: str) -> None:
    if len(question) > MAX_QUESTION_CHARS:
        raise BadInput(f"question of {len(question)} chars",
                       user_message=texts.too_long("question", len(question), MAX_QUESTION_CHARS))


COMMAND = command("ask", ask, on_photo=True, long_running=True, on_reply=True, on_mention=True)
