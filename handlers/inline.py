"""Inline mode: `@bot beach sunset` in any chat offers the asker's own photos (from their private chat with the
bot) to pick and send. Needs inline mode switched on in @BotFather (/setinline)."""

from __future__ import annotations

import logging

from telegram import InlineQueryResultCachedPhoto, InlineQueryResultsButton, Update
from telegram.error import TelegramError

from bot import texts
from bot.context import BotContext
from bot.errors import BadInput, BotError
from bot.features.inline_search import CACHE_S
from bot.i18n import language_of

log = logging.getLogger(__name__)

START_PARAMETER = "inline"  # /start inline: what the button above empty results opens


async def inline_query(update: Update, context: BotContext) -> None:
    """Answer with the asker's own photos that match (never anyone else's), cached briefly for that user only."""
    query = update.inline_query
    if query is None:
        return
    lang = language_of(query.from_user)
    button = None
    try:
        matches = await context.services.inline.search(query.from_user.id, query.query)
    except BadInput as exc:  # a malformed filter (after:2024-13): say so above the (empty) results
        matches = []
        log.info("inline query of user %s refused: %s", query.from_user.id, exc)
        button = InlineQueryResultsButton(texts.INLINE_BAD_FILTER.in_(lang), start_parameter=START_PARAMETER)
    except BotError as exc:  # busy, over quota, model or index unavailable: nothing to offer this time
        log.info("inline query of user %s not answered: %s", query.from_user.id, exc)
        matches = []
        button = InlineQueryResultsButton(texts.INLINE_UNAVAILABLE.in_(lang), start_parameter=START_PARAMETER)
    if not matches and button is None and not query.query.strip():
        button = InlineQueryResultsButton(texts.INLINE_NO_PHOTOS.in_(lang), start_parameter=START_PARAMETER)
    results = [
        # No caption: the photo goes out as the user picks it, without what it was said with in private.
        InlineQueryResultCachedPhoto(id=f"{rank}-{match.record.key}"[:64], photo_file_id=match.record.file_id)
        for rank, match in enumerate(matches, start=1)
    ]
    try:
        await query.answer(results, cache_time=int(CACHE_S), is_personal=True, button=button)
    except TelegramError as exc:  # the query expired (10 s) or a photo is gone: the user types on
        log.warning("could not answer inline query of user %s: %s", query.from_user.id, exc)
