"""/gen <prompt> [options]: draw pictures with GEN_MODEL (SDXL-turbo by default), with rerun buttons."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaDocument, InputMediaPhoto, Message, Update
from telegram.constants import ChatAction, ChatType

from bot import texts
from bot.messaging.commands import command, command_args
from bot.context import BotContext
from bot.errors import BotError
from bot.features.gen_options import parse_gen_args
from bot.stores.gen_store import GenParams
from bot.i18n import Lang, language_of, localize
from contract.requests import SEED_LIMIT, GeneratedImages, GenerateRequest
from bot.pipeline import run_job
from bot.messaging.replies import reply
from bot.messaging.requester import job_for

if TYPE_CHECKING:
    from telegram import User

    from bot.features.gen_options import GenProfile
    from bot.messaging.status import StatusMessage


# callback_data of the buttons: "gen:same:<key>" / "gen:new:<key>" (key: 12 characters, see GenStore)
SAME_SEED, NEW_SEED = "same", "new"


async def gen(update: Update, context: BotContext) -> None:
    """Draw what the prompt says, with the options that follow it."""
    message = update.effective_message
    service = context.services.gen
    profile = await service.profile()
    text = command_args(message.text)
    if not text:
        await reply(message, texts.gen_usage(profile.max_steps, profile.min_side, profile.max_side,
                                             profile.max_count, profile.negative_prompt))
        return
    options = parse_gen_args(text, profile)
    params = GenParams(
        prompt=options.prompt,
        seed=options.seed if options.seed is not None else secrets.randbelow(SEED_LIMIT),
        steps=options.steps,
        width=options.width,
        height=options.height,
        count=options.count,
        negative_prompt=options.negative_prompt,
        as_file=options.as_file,
    )
    await draw(update, context, message, params, profile)


async def gen_button(update: Update, context: BotContext) -> None:
    """🔁/🎲 under a result: draw it again, with the same seed or a new one, for whoever pressed."""
    query = update.callback_query
    services = context.services
    message = query.message
    lang = language_of(query.from_user)
    # Presses by people who may not use the bot never get here: the access gate answers them.
    parts = (query.data or "").split(":")
    action, key = (parts[1], parts[2]) if len(parts) == 3 else ("", "")
    params = None
    if isinstance(message, Message) and action in (SAME_SEED, NEW_SEED):
        params = await services.gen.recall(key, message.chat_id)
    if params is None:
        await query.answer(texts.BUTTON_EXPIRED.in_(lang), show_alert=True)
        return
    try:
        profile = await services.gen.profile()
        if not profile.allows(params.steps, params.width, params.height, params.count, params.negative_prompt):
            await query.answer(texts.BUTTON_EXPIRED.in_(lang), show_alert=True)  # saved under another GEN_MODEL
            return
        if await services.gen.safety_on():
            services.gen.check_prompt(params.prompt)
    except BotError as exc:
        await query.answer(localize(exc.user_message, lang), show_alert=True)
        return
    await query.answer(texts.BUTTON_ACCEPTED.in_(lang))
    if action == NEW_SEED:
        params = replace(params, seed=secrets.randbelow(SEED_LIMIT))
    await draw(update, context, message, params, profile, rerun_by=query.from_user)


async def draw(update: Update, context: BotContext, message: Message, params: GenParams, profile: GenProfile,
               rerun_by: User | None = None) -> None:
    """Queue the drawing for the update's sender, then send the pictures as a reply to `message`, with the
    texts (status, caption, buttons) in the sender's language."""
    services = context.services
    lang = language_of(update.effective_user)
    safety = await services.gen.safety_on()
    if safety:
        services.gen.check_prompt(params.prompt)
    request = GenerateRequest(
        prompt=params.prompt,
        seed=params.seed,
        steps=params.steps,
        width=params.width,
        height=params.height,
        guidance=profile.guidance,
        count=params.count,
        negative_prompt=params.negative_prompt,
        check_safety=safety and bool(services.settings.safety_checker_model),
    )
    job = job_for(update, request)
    action = ChatAction.UPLOAD_DOCUMENT if params.as_file else ChatAction.UPLOAD_PHOTO
    result, status = await run_job(message, context, job, action, lang)
    key = await services.gen.remember(params, message.chat_id, job.user_id)
    by = rerun_by.first_name if rerun_by is not None and message.chat.type != ChatType.PRIVATE else None
    sent = await send_result(message, status, params, result, key, by, lang)
    await index_generated_photos(context, sent)


def buttons(key: str, lang: Lang, *, same_seed: bool = True) -> InlineKeyboardMarkup:
    """Rerun buttons; their callback_data (under 64 bytes) names the stored parameters."""
    row = [InlineKeyboardButton(texts.BUTTON_NEW_SEED.in_(lang), callback_data=f"gen:{NEW_SEED}:{key}")]
    if same_seed:
        row.insert(0, InlineKeyboardButton(texts.BUTTON_SAME_SEED.in_(lang), callback_data=f"gen:{SAME_SEED}:{key}"))
    return InlineKeyboardMarkup([row])


async def send_result(message: Message, status: StatusMessage, params: GenParams, result: GeneratedImages,
                      key: str, rerun_by: str | None, lang: Lang) -> list[Message]:
    """A photo, an album, or PNG documents, with the buttons; withheld images become a notice."""
    await status.delete()
    quote = message.build_reply_arguments(allow_sending_without_reply=True)
    images = result.images
    if not images:  # everything was withheld: a notice, and only a new seed can change that
        await message.reply_text(texts.images_withheld(len(result.blocked), params.count).in_(lang),
                                 reply_markup=buttons(key, lang, same_seed=False), do_quote=quote)
        return []
    details = [texts.gen_settings_line(tuple(i.seed for i in images), params.steps, params.width, params.height,
                                       params.negative_prompt).in_(lang)]
    if result.blocked:
        details.append(texts.images_withheld(len(result.blocked), params.count).in_(lang))
    if rerun_by:
        details.append(texts.rerun_for(rerun_by).in_(lang))
    caption = texts.gen_caption(params.prompt, details)
    if len(images) == 1:
        (image,) = images
        if params.as_file:
            sent = await message.reply_document(image.png, filename=f"gen-{image.seed}.png", caption=caption,
                                                reply_markup=buttons(key, lang), do_quote=quote)
        else:
            sent = await message.reply_photo(image.png, caption=caption, reply_markup=buttons(key, lang), do_quote=quote)
        return [sent]
    # An album can't carry buttons: its first item has the caption, and the buttons follow it.
    media = [
        InputMediaDocument(i.png, filename=f"gen-{i.seed}.png", caption=caption if n == 0 else None)
        if params.as_file else InputMediaPhoto(i.png, caption=caption if n == 0 else None)
        for n, i in enumerate(images)
    ]
    album = list(await message.reply_media_group(media, do_quote=quote))
    await album[0].reply_text(texts.GEN_MORE.in_(lang), reply_markup=buttons(key, lang),
                              do_quote=album[0].build_reply_arguments(allow_sending_without_reply=True))
    return album


async def index_generated_photos(context: BotContext, sent: Sequence[Message]) -> None:
    """Every photo and PNG document /gen sends (first runs and button reruns alike) is remembered for
    /find in the chat it was sent to; indexing runs in the background lane and never delays the reply."""
    for message in sent:
        context.services.photos.index_message(message)


COMMAND = command("gen", gen, long_running=True, on_button=gen_button)
