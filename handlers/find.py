"""/find <words> or /find on a photo: this chat's most similar earlier photos (CLIP + the chat's photo index).

Also the handlers that feed the index: every photo message the bot receives, and a group's move to a
supergroup (its photos move with it).
"""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import Update
from telegram.constants import ChatAction, ChatType

from bot import texts
from bot.context import BotContext
from bot.errors import BadInput
from bot.features.find_filters import Mention, parse_filters
from bot.features.matches import send_matches
from bot.messaging.commands import command, command_args, replied_message, text_mentions
from bot.messaging.media import find_photo
from bot.messaging.status import keep_chat_action, send_chat_action
from bot.pipeline import UserRequest
from contract.requests import EmbedImageRequest, EmbedTextRequest, Task

log = logging.getLogger(__name__)

DEFAULT_K = 5
MAX_K = 10
MAX_QUERY_CHARS = 500
# Photos sent just before /find may still be in the indexing lane: wait this long for them before searching.
INDEX_WAIT_S = 20.0

_K_OPTION = re.compile(r"^k=(.*)$", re.IGNORECASE)


def parse_find_args(args: str) -> tuple[str, int]:
    """('a dog on the beach', 8) from 'a dog on the beach k=8'; a bad k raises BadInput naming the range."""
    words, k = [], DEFAULT_K
    for token in args.split():
        option = _K_OPTION.match(token)
        if option is None:
            words.append(token)
            continue
        value = option.group(1)
        if not value.isdigit() or not 1 <= int(value) <= MAX_K:
            raise BadInput(f"bad k {value!r}", user_message=texts.bad_k(value, MAX_K))
        k = int(value)
    query = " ".join(words)
    if len(query) > MAX_QUERY_CHARS:
        raise BadInput(
            f"query of {len(query)} chars", user_message=texts.too_long("query", len(query), MAX_QUERY_CHARS)
        )
    return query, k


async def find(request: UserRequest) -> None:
    """Search this chat's photos by words, or by the photo the command is on or replies to; filters by who
    sent them and when narrow the search inside this chat's own photos."""
    message = request.message
    photos = request.services.photos
    args = command_args(request.text)
    mentions = [Mention(*span) for span in text_mentions(message, args)]
    parsed = parse_filters(args, request.user_id, mentions)
    words, k = parse_find_args(parsed.words)
    filters, where = parsed.filters, parsed.filters.where()
    example = find_photo(message)  # only ever a photo of this chat: a typed file_id is just words
    if example is None and not words and not filters:
        await request.reply(texts.FIND_USAGE)
        return
    if photos.being_indexed(message.chat_id):  # photos sent just before the command: include them
        await send_chat_action(message, ChatAction.UPLOAD_PHOTO)
        waiting = asyncio.create_task(keep_chat_action(message, ChatAction.UPLOAD_PHOTO))
        try:
            await photos.wait_indexed(message.chat_id, INDEX_WAIT_S)
        finally:
            waiting.cancel()
    if not await photos.check_searchable(message.chat_id):
        await request.reply(texts.no_photos_yet(message.chat.type == ChatType.PRIVATE))
        return
    exclude: list[str] = []
    if example is None and not words:  # filters alone: the newest photos that match them
        matches = await photos.newest(message.chat_id, k, where)
        await request.drop_status()
        if not matches:
            await request.reply(texts.NO_FILTER_MATCHES)
            return
        await send_matches(message, matches, photos)
        return
    if example is not None:
        exclude = [example.file_unique_id]
        query = await photos.stored_embedding(message.chat_id, example.file_unique_id)
        if query is None:
            await request.admit(Task.EMBED)  # a request over a quota or a cap costs no download
            image = await photos.example_image(example)
            query = await request.run(EmbedImageRequest(image), ChatAction.UPLOAD_PHOTO)
    else:
        query = await request.run(EmbedTextRequest(words), ChatAction.UPLOAD_PHOTO)
    matches = await photos.search(message.chat_id, query, k, exclude, where)
    await request.drop_status()  # the answer is an album, not an edit of the status message
    if not matches:
        await request.reply(texts.NO_FILTER_MATCHES if filters else texts.NO_OTHER_MATCHES)
        return
    await send_matches(message, matches, photos)


async def index_photo(update: Update, context: BotContext) -> None:
    """Every photo the bot receives is remembered for /find in its chat, also one a message replies to."""
    photos, message = context.services.photos, update.effective_message
    if message is None:
        return
    await photos.note(message)  # on disk before anything else: a kill from now on doesn't lose it
    await context.services.albums.note(message)  # a photo of an album: /ask on the album finds it
    replied = replied_message(message)
    if replied is not None and replied.chat.id == message.chat.id:
        await photos.note(replied)  # in groups with privacy mode on, often the only way the bot sees it
        await context.services.albums.note(replied)


async def chat_migrated(update: Update, context: BotContext) -> None:
    """A group became a supergroup (a new chat id): everything kept for it moves along.

    Telegram says so twice: in the old group (migrate_to_chat_id) and as the first message of the new
    supergroup (migrate_from_chat_id). Either may be the only one the bot gets, so both move; the second
    finds nothing left.
    """
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        await context.services.migrate_chat(message.chat_id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id:
        await context.services.migrate_chat(message.migrate_from_chat_id, message.chat_id)


COMMAND = command("find", find, on_photo=True, long_running=True)
