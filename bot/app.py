"""Building the python-telegram-bot Application: handlers from the registration list, start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import re
import uuid

from telegram import BotCommand, BotCommandScope, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import texts
from bot.context import BotContext, Services
from bot.errors import BotError, ShuttingDown
from bot.features.albums import ChatAlbums
from bot.features.generation import GenService
from bot.features.inline_search import InlineSearch
from bot.features.photos import ChatPhotos
from bot.features.reposts import RepostWatcher
from bot.i18n import LANGUAGES, language_of, localize
from bot.imaging.decoding import ImageDecoder
from bot.messaging.access import AccessGate
from bot.messaging.commands import (
    CaptionCommand,
    Command,
    MentionsBot,
    ReplyToBot,
    parse_command,
)
from bot.messaging.replies import reply
from bot.pipeline import UserRequest
from bot.queue.backend import Backend
from bot.queue.gpu_queue import GpuQueue
from bot.settings import Settings
from bot.stores.albums import AlbumStore
from bot.stores.history import ChatHistory
from bot.stores.journal import JobJournal
from bot.stores.pending_photos import PendingPhotos
from bot.stores.photo_index import PhotoIndex
from bot.stores.quotas import Quotas
from bot.stores.reposts import RepostStore

log = logging.getLogger(__name__)

IMAGE_MESSAGE = filters.UpdateType.MESSAGE & (filters.PHOTO | filters.Document.IMAGE)
# A command in the caption of any media (a PDF, a video too): the handler then says what it needs.
CAPTIONED_MEDIA = filters.UpdateType.MESSAGE & filters.CAPTION
# Photo indexing sees every update in a group of its own, beside whatever command handles it.
INDEX_GROUP = 1


def build_application(
    settings: Settings, commands: tuple[Command, ...] | None = None, backend: Backend | None = None
) -> Application:
    """The whole bot, ready for run_polling(): handlers, error handler, queue and backend.

    `commands` defaults to the registration list (handlers.COMMANDS), `backend` to the one QUEUE_BACKEND names;
    tests pass their own to run handlers in-process.
    """
    if commands is None:
        from handlers import COMMANDS

        commands = COMMANDS
    if backend is None:
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
        capacity=getattr(backend, "capacity", None),
    )
    journal = JobJournal(settings.sqlite_path)
    quotas = Quotas(settings.sqlite_path, settings.quota_per_minute, settings.quota_per_day)
    gen = GenService(settings)
    history = ChatHistory(settings.sqlite_path)
    decoder = ImageDecoder(settings.max_image_pixels)
    backlog = PendingPhotos(settings.sqlite_path)
    photos = ChatPhotos(PhotoIndex.from_settings(settings), queue, settings, decoder=decoder, pending=backlog)
    album_store = AlbumStore(settings.sqlite_path)
    albums = ChatAlbums(album_store)
    repost_store = RepostStore(settings.sqlite_path)
    reposts = RepostWatcher(repost_store, photos.index)
    photos.listeners.append(reposts)
    services = Services(
        settings=settings,
        queue=queue,
        backend=backend,
        commands=commands,
        journal=journal,
        quotas=quotas,
        gen=gen,
        history=history,
        photos=photos,
        chat_stores=[photos, history, reposts],
        decoder=decoder,
        albums=albums,
        reposts=reposts,
        inline=InlineSearch(photos, queue, quotas, settings.admin_user_ids),
    )

    async def post_init(application: Application) -> None:
        for store in (history, journal, quotas, backlog, album_store, repost_store):
            await asyncio.to_thread(store.open)
        reposts.start(application.bot)
        await gen.start()
        await backend.start()
        await queue.start()
        await photos.start(application.bot)
        await set_menus(application, commands, settings.admin_user_ids)
        unfinished = await journal.take_unfinished()
        for data, status_message_id in unfinished.set_aside:
            await apologise(Update.de_json(data, application.bot), status_message_id)
        for data in unfinished.replay:
            await application.update_queue.put(Update.de_json(data, application.bot))
        if unfinished.replay:
            log.info("replaying %d unfinished request(s) from the journal", len(unfinished.replay))
        log.info("bot @%s is up; serving %d commands", application.bot.username, len(commands))

    async def post_shutdown(application: Application) -> None:
        await photos.close()
        await queue.close()
        await backend.close()
        await journal.stopped_cleanly()
        journal.close()
        backlog.close()
        album_store.close()
        repost_store.close()
        quotas.close()
        await gen.close()
        history.close()
        decoder.close()

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
        # Long-running commands are journaled: they survive a crash or a stop and are replayed after it.
        callback = UserRequest.handler(command.callback, journaled=command.long_running, admin_only=command.admin_only)
        # New messages only: editing an old "/caption" must not run it again.
        application.add_handler(CommandHandler(command.name, callback, filters.UpdateType.MESSAGE, block=block))
        if command.on_photo:
            application.add_handler(
                MessageHandler(CAPTIONED_MEDIA & CaptionCommand(command.name), callback, block=block)
            )
        if command.on_reply:
            reply_filter = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND & ReplyToBot()
            application.add_handler(MessageHandler(reply_filter, callback, block=block))
        if command.on_mention:
            mention_filter = filters.UpdateType.MESSAGE & (filters.TEXT | CAPTIONED_MEDIA) & MentionsBot()
            application.add_handler(MessageHandler(mention_filter, callback, block=block))
        if command.on_button is not None:
            pattern = f"^{re.escape(command.name)}:"
            on_button = UserRequest.handler(command.on_button, journaled=True)
            application.add_handler(CallbackQueryHandler(on_button, pattern=pattern, block=False))
    application.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND & filters.ChatType.PRIVATE, unknown_command)
    )
    application.add_handler(CallbackQueryHandler(unknown_button))
    from handlers.find import chat_migrated, index_photo
    from handlers.forget import bot_removed
    from handlers.inline import inline_query

    application.add_handler(InlineQueryHandler(inline_query, block=False))

    index_filter = filters.UpdateType.MESSAGE & (IMAGE_MESSAGE | filters.REPLY)
    # Not blocking: noting a photo waits on the disk, and a flood of photos must not hold up the updates
    # behind it (another user's /help); the photo is noted in memory before the handler's first await.
    application.add_handler(MessageHandler(index_filter, index_photo, block=False), group=INDEX_GROUP)
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, chat_migrated), group=INDEX_GROUP)
    application.add_handler(ChatMemberHandler(bot_removed, ChatMemberHandler.MY_CHAT_MEMBER), group=INDEX_GROUP)
    application.add_error_handler(on_error)
    return application


def make_backend(settings: Settings) -> Backend:
    """The backend QUEUE_BACKEND names; with VLM_URL, /ask and /box go to that server instead."""
    device = _device_backend(settings)
    if settings.vlm_url:
        from bot.queue.remote import RemoteVlmBackend

        return RemoteVlmBackend(device, settings)
    return device


def _device_backend(settings: Settings) -> Backend:
    if settings.queue_backend == "ray":
        if importlib.util.find_spec("ray") is None:
            raise SystemExit("QUEUE_BACKEND=ray needs Ray Serve: pip install -e '.[ray]'")
        from bot.queue.ray import RayBackend
        from models.sources import configured_sources

        return RayBackend(settings, list(configured_sources(settings)))
    from bot.queue.local import LocalBackend

    return LocalBackend(settings)


async def set_menus(application: Application, commands: tuple[Command, ...], admins: frozenset[int]) -> None:
    """Telegram's command menu: everyone sees the public commands, admins (in their private chats) all of them.

    English is the menu of every language without its own; Chinese-speaking users get the Chinese one.
    Each scope and language is set on its own: Telegram refuses an admin's scope while that admin has never
    opened a private chat with the bot ("chat not found"), and that must not cost anyone else their menu.
    A refused scope is logged once per start.
    """
    refused: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        code = None if lang == "en" else lang
        public = [BotCommand(c.name, localize(c.summary, lang)) for c in commands if not c.admin_only]
        everything = [BotCommand(c.name, localize(c.summary, lang)) for c in commands]
        menus: list[tuple[str, list[BotCommand], BotCommandScope | None]] = [("everyone", public, None)]
        menus += [(f"admin {admin}", everything, BotCommandScopeChat(admin)) for admin in sorted(admins)]
        for who, menu, scope in menus:
            try:
                await application.bot.set_my_commands(menu, scope=scope, language_code=code)
            except TelegramError as exc:
                refused.setdefault(f"{who}: {exc}", []).append(lang)
    for reason, langs in refused.items():
        log.warning("could not set the command menu for %s (%s)", reason, ", ".join(langs))


class BotApplication(Application):
    """The PTB Application, stopping the job queue first so a stop doesn't wait for every queued job."""

    async def stop(self) -> None:
        await self.bot_data["services"].queue.close()
        await super().stop()


async def apologise(update: Update, status_message_id: int | None) -> None:
    """Tell the user their request was set aside (a poison job): in its status message if it has one."""
    message = update.effective_message
    if message is None:
        return
    lang = language_of(update.effective_user)
    try:
        if status_message_id is not None:
            with contextlib.suppress(TelegramError):
                await message.get_bot().edit_message_text(
                    texts.JOB_SET_ASIDE.in_(lang), message.chat_id, status_message_id
                )
                return
        await reply(message, texts.JOB_SET_ASIDE, lang)
    except TelegramError as exc:
        log.warning("could not send the apology for update %s: %s", update.update_id, exc)


async def unknown_command(update: Update, context: BotContext) -> None:
    """In private chats, point people at /help (in groups, other bots' commands are none of our business)."""
    message = update.effective_message
    if message is None:
        return
    parsed = parse_command(message.text)
    if parsed is not None and parsed[1] is not None and parsed[1].lower() != (context.bot.username or "").lower():
        return  # /cmd@otherbot: addressed to someone else
    await reply(message, texts.UNKNOWN_COMMAND)


async def unknown_button(update: Update, context: BotContext) -> None:
    """Every callback query gets an answer, even one from a button this version no longer knows."""
    query = update.callback_query
    if query is not None:
        await query.answer(texts.BUTTON_UNKNOWN.in_(language_of(query.from_user)))


async def on_error(update: object, context: BotContext) -> None:
    """Log with an id; tell the user the error's own message, or a generic one with that id."""
    error = context.error
    if isinstance(error, ShuttingDown):
        return
    if not isinstance(update, Update):
        log.warning("error outside an update: %s", error, exc_info=not isinstance(error, TelegramError))
        return
    message = update.effective_message
    if update.callback_query is not None:
        # Stop the button's spinner if the handler failed before answering (a second answer just fails).
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
    if isinstance(error, BotError):  # from a handler outside the request pipeline
        log.info("update %s failed: %s", update.update_id, error)
        if message is not None:
            with contextlib.suppress(TelegramError):
                await reply(message, error.user_message, language_of(update.effective_user))
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
