"""Building the python-telegram-bot Application: handlers from the registration list, start-up and shutdown."""

from __future__ import annotations

import logging
import uuid

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import texts
from bot.backends import make_backend
from bot.commands import CaptionCommand, Command
from bot.context import BotContext, Services
from bot.errors import BotError
from bot.photo_index import PhotoIndex
from bot.photos import ChatPhotos
from bot.replies import reply
from bot.queue import GpuQueue
from bot.settings import Settings

log = logging.getLogger(__name__)

IMAGE_MESSAGE = filters.PHOTO | filters.Document.IMAGE
# Photo indexing sees every update in a group of its own, beside whatever command handles it.
INDEX_GROUP = 1


def build_application(settings: Settings, commands: tuple[Command, ...] | None = None) -> Application:
    """The whole bot, ready for run_polling(): handlers, error handler, queue and backend."""
    if commands is None:
        from handlers import COMMANDS

        commands = COMMANDS
    backend = make_backend(settings)
    queue = GpuQueue(
        backend,
        max_pending=settings.queue_max_pending,
        max_per_user=settings.queue_max_per_user,
        job_timeout_s=settings.job_timeout_s,
        max_batch_size=settings.max_batch_size,
    )
    photos = ChatPhotos(PhotoIndex.from_settings(settings), queue, settings)
    services = Services(settings=settings, queue=queue, commands=commands, photos=photos, chat_stores=[photos])

    async def post_init(application: Application) -> None:
        await backend.start()
        await queue.start()
        await photos.start(application.bot)
        try:
            await application.bot.set_my_commands([BotCommand(c.name, c.summary) for c in commands])
        except TelegramError as exc:
            log.warning("could not set the command menu: %s", exc)
        log.info("bot @%s is up; serving %d commands", application.bot.username, len(commands))

    async def post_shutdown(application: Application) -> None:
        await photos.close()
        await queue.close()
        await backend.close()

    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .context_types(ContextTypes(context=BotContext))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.bot_data["services"] = services
    for command in commands:
        block = not command.long_running
        application.add_handler(CommandHandler(command.name, command.callback, block=block))
        if command.on_photo:
            application.add_handler(
                MessageHandler(IMAGE_MESSAGE & CaptionCommand(command.name), command.callback, block=block)
            )
    application.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, unknown_command))
    from handlers.find import chat_migrated, index_photo
    from handlers.forget import bot_removed

    application.add_handler(MessageHandler(IMAGE_MESSAGE | filters.REPLY, index_photo), group=INDEX_GROUP)
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, chat_migrated), group=INDEX_GROUP)
    application.add_handler(ChatMemberHandler(bot_removed, ChatMemberHandler.MY_CHAT_MEMBER), group=INDEX_GROUP)
    application.add_error_handler(on_error)
    return application


async def unknown_command(update: Update, context: BotContext) -> None:
    """In private chats, point people at /help (in groups, other bots' commands are none of our business)."""
    await reply(update.effective_message, texts.UNKNOWN_COMMAND)


async def on_error(update: object, context: BotContext) -> None:
    """Log with an id; tell the user the error's own message, or a generic one with that id."""
    error = context.error
    message = update.effective_message if isinstance(update, Update) else None
    if isinstance(error, BotError):
        log.info("request failed for update %s: %s", getattr(update, "update_id", "-"), error)
        text = error.user_message
    elif message is None:
        log.warning("error outside an update: %s", error, exc_info=not isinstance(error, TelegramError))
        return
    else:
        error_id = uuid.uuid4().hex[:8]
        log.error("unhandled error %s on update %s", error_id, update.update_id, exc_info=error)
        text = texts.internal_error(error_id)
    if message is not None:
        try:
            await reply(message, text)
        except TelegramError as exc:
            log.warning("could not send the error reply: %s", exc)
