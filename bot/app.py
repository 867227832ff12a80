"""Building the python-telegram-bot Application: handlers from the registration list, start-up and shutdown."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import uuid

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import texts
from bot.access import AccessGate, is_admin
from bot.backends import make_backend
from bot.commands import Callback, CaptionCommand, Command, MentionsBot, ReplyToBot, parse_command
from bot.context import BotContext, Services
from bot.errors import BotError, ShuttingDown
from bot.generation import GenService
from bot.history import ChatHistory
from bot.i18n import LANGUAGES, language_of, localize
from bot.journal import JobJournal
from bot.photo_index import PhotoIndex
from bot.photos import ChatPhotos
from bot.replies import reply
from bot.requester import requester_id
from bot.queue import GpuQueue
from bot.quotas import Quotas
from bot.settings import Settings

log = logging.getLogger(__name__)

IMAGE_MESSAGE = filters.UpdateType.MESSAGE & (filters.PHOTO | filters.Document.IMAGE)
# A command in the caption of any media (a PDF, a video too): the handler then says what it needs.
CAPTIONED_MEDIA = filters.UpdateType.MESSAGE & filters.CAPTION
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
        max_batch_size=settings.max_batch_size if backend.batches_in_queue else 1,
        batch_sizes=settings.batch_sizes if backend.batches_in_queue else {},
        batch_window_s=settings.batch_window_ms / 1000 if backend.batches_in_queue else 0.0,
        concurrency=backend.concurrency,
        worker_for=backend.worker_for,
    )
    journal = JobJournal(settings.sqlite_path)
    quotas = Quotas(settings.sqlite_path, settings.quota_per_minute, settings.quota_per_day)
    gen = GenService(settings)
    history = ChatHistory(settings.sqlite_path)
    photos = ChatPhotos(PhotoIndex.from_settings(settings), queue, settings)
    services = Services(settings=settings, queue=queue, backend=backend, commands=commands, journal=journal,
                        quotas=quotas, gen=gen, history=history, photos=photos, chat_stores=[photos, history])

    async def post_init(application: Application) -> None:
        history.open()
        await gen.start()
        await backend.start()
        await queue.start()
        await photos.start(application.bot)
        await set_menus(application, commands, settings.admin_user_ids)
        unfinished = journal.take_unfinished()
        for data in unfinished:
            await application.update_queue.put(Update.de_json(data, application.bot))
        if unfinished:
            log.info("replaying %d unfinished request(s) from the journal", len(unfinished))
        log.info("bot @%s is up; serving %d commands", application.bot.username, len(commands))

    async def post_shutdown(application: Application) -> None:
        await photos.close()
        await queue.close()
        await backend.close()
        journal.close_db()
        quotas.close()
        await gen.close()
        history.close()

    application = (
        ApplicationBuilder()
        .application_class(BotApplication)
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
    application.add_handler(TypeHandler(Update, AccessGate(settings)), group=-1)
    for command in commands:
        block = not command.long_running
        callback = journaled(command.callback) if command.long_running else command.callback
        if command.admin_only:
            callback = admins_only(callback)
        # New messages only: editing an old "/caption" must not run it again.
        application.add_handler(CommandHandler(command.name, callback, filters.UpdateType.MESSAGE, block=block))
        if command.on_photo:
            application.add_handler(MessageHandler(CAPTIONED_MEDIA & CaptionCommand(command.name), callback, block=block))
        if command.on_reply:
            reply_filter = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND & ReplyToBot()
            application.add_handler(MessageHandler(reply_filter, callback, block=block))
        if command.on_mention:
            mention_filter = filters.UpdateType.MESSAGE & (filters.TEXT | CAPTIONED_MEDIA) & MentionsBot()
            application.add_handler(MessageHandler(mention_filter, callback, block=block))
        if command.on_button is not None:
            pattern = f"^{re.escape(command.name)}:"
            application.add_handler(CallbackQueryHandler(journaled(command.on_button), pattern=pattern, block=False))
    application.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND & filters.ChatType.PRIVATE, unknown_command)
    )
    application.add_handler(CallbackQueryHandler(unknown_button))
    from handlers.find import chat_migrated, index_photo
    from handlers.forget import bot_removed

    index_filter = filters.UpdateType.MESSAGE & (IMAGE_MESSAGE | filters.REPLY)
    application.add_handler(MessageHandler(index_filter, index_photo), group=INDEX_GROUP)
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, chat_migrated), group=INDEX_GROUP)
    application.add_handler(ChatMemberHandler(bot_removed, ChatMemberHandler.MY_CHAT_MEMBER), group=INDEX_GROUP)
    application.add_error_handler(on_error)
    return application


async def set_menus(application: Application, commands: tuple[Command, ...], admins: frozenset[int]) -> None:
    """Telegram's command menu: everyone sees the public commands, admins (in their private chats) all of them.

    English is the menu of every language without its own; Chinese-speaking users get the Chinese one.
    """
    try:
        for lang in LANGUAGES:
            code = None if lang == "en" else lang
            public = [BotCommand(c.name, localize(c.summary, lang)) for c in commands if not c.admin_only]
            everything = [BotCommand(c.name, localize(c.summary, lang)) for c in commands]
            await application.bot.set_my_commands(public, language_code=code)
            for admin in sorted(admins):
                await application.bot.set_my_commands(everything, scope=BotCommandScopeChat(admin), language_code=code)
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)


def journaled(callback: Callback) -> Callback:
    """Keep the update in the job journal from before the handler starts until it has answered."""

    @functools.wraps(callback)
    async def run(update: Update, context: BotContext) -> None:
        journal = context.services.journal
        fresh = journal.open(update.update_id, update.effective_chat.id, update.to_dict())
        if not fresh and update.update_id not in journal.replaying:
            log.info("update %s was already handled; ignoring it delivered again", update.update_id)
            return
        journal.replaying.discard(update.update_id)
        # Until this request has queued its job, the same user's later jobs wait for it (their order).
        queue, user_id = context.services.queue, requester_id(update)
        queue.announce(user_id, update.update_id)
        try:
            await callback(update, context)
        except ShuttingDown:
            return  # left in the journal: it is replayed when the bot is back
        except BotError as error:
            # Answered here, before the entry is closed, so a crash can't lose the reply.
            await reply_error(update, error)
        except Exception:
            journal.close(update.update_id)  # a bug would only repeat on replay
            raise
        finally:
            queue.withdraw(user_id, update.update_id)
        journal.close(update.update_id)

    return run


def admins_only(callback: Callback) -> Callback:
    """Refuse the command, with one short reply, to anyone not in ADMIN_USER_IDS."""

    @functools.wraps(callback)
    async def run(update: Update, context: BotContext) -> None:
        if not is_admin(update, context.services.settings):
            await reply(update.effective_message, texts.ADMINS_ONLY)
            return
        await callback(update, context)

    return run


class BotApplication(Application):
    """The PTB Application, stopping the job queue first so a stop doesn't wait for every queued job."""

    async def stop(self) -> None:
        await self.bot_data["services"].queue.close()
        await super().stop()


async def unknown_command(update: Update, context: BotContext) -> None:
    """In private chats, point people at /help (in groups, other bots' commands are none of our business)."""
    parsed = parse_command(update.effective_message.text)
    if parsed is not None and parsed[1] is not None and parsed[1].lower() != (context.bot.username or "").lower():
        return  # /cmd@otherbot: addressed to someone else
    await reply(update.effective_message, texts.UNKNOWN_COMMAND)


async def unknown_button(update: Update, context: BotContext) -> None:
    """Every callback query gets an answer, even one from a button this version no longer knows."""
    query = update.callback_query
    await query.answer(texts.BUTTON_UNKNOWN.in_(language_of(query.from_user)))


async def on_error(update: object, context: BotContext) -> None:
    """Log with an id; tell the user the error's own message, or a generic one with that id."""
    error = context.error
    message = update.effective_message if isinstance(update, Update) else None
    if isinstance(error, ShuttingDown):
        return
    if isinstance(update, Update) and update.callback_query is not None:
        # Stop the button's spinner if the handler failed before answering (a second answer just fails).
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
    if isinstance(error, BotError):
        await reply_error(update, error)
        return
    if message is None:
        log.warning("error outside an update: %s", error, exc_info=not isinstance(error, TelegramError))
        return
    error_id = uuid.uuid4().hex[:8]
    log.error("unhandled error %s on update %s", error_id, update.update_id, exc_info=error)
    try:
        await reply(message, texts.internal_error(error_id), language_of(update.effective_user))
    except TelegramError as exc:
        log.warning("could not send the error reply: %s", exc)


async def reply_error(update: object, error: BotError) -> None:
    """Tell the user what went wrong with their request, in the error's own words."""
    log.info("request failed for update %s: %s", getattr(update, "update_id", "-"), error)
    message = update.effective_message if isinstance(update, Update) else None
    if message is None:
        return
    try:
        await reply(message, error.user_message, language_of(update.effective_user))
    except TelegramError as exc:
        log.warning("could not send the error reply: %s", exc)
