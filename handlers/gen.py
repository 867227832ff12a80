"""/gen <prompt> [options]: draw pictures with GEN_MODEL (SDXL-turbo by default), with rerun buttons; on a photo
(its caption, or a reply to it) redraw that photo (image-to-image, --strength)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    Message,
)
from telegram.constants import ChatAction, ChatType

from bot import texts
from bot.errors import BotError
from bot.features.gen_options import parse_gen_args
from bot.i18n import Lang, localize
from bot.messaging.commands import command, command_args
from bot.messaging.media import download_file, find_photo
from bot.messaging.replies import reply, reply_media
from bot.pipeline import UserRequest
from bot.stores.gen_store import GenParams
from contract.requests import GeneratedImages

if TYPE_CHECKING:
    from PIL.Image import Image
    from telegram import User

    from bot.features.gen_options import GenProfile


# callback_data of the buttons: "gen:same:<key>" / "gen:new:<key>" (key: 12 characters, see GenStore)
SAME_SEED, NEW_SEED = "same", "new"


async def gen(request: UserRequest) -> None:
    """Draw what the prompt says, with the options that follow it; on a photo, redraw the photo."""
    profile = await request.services.gen.profile()
    text = command_args(request.text)
    if not text:
        await request.reply(
            texts.gen_usage(
                profile.max_steps, profile.min_side, profile.max_side, profile.max_count, profile.negative_prompt
            )
        )
        return
    photo = find_photo(request.message)
    params = parse_gen_args(text, profile, on_photo=photo is not None).seeded()  # bad options: no download
    source = None
    if photo is not None:
        source = await request.fetch_image(photo)
        shaped = parse_gen_args(text, profile, on_photo=True, photo_size=source.size)
        params = replace(params, width=shaped.width, height=shaped.height, source_file_id=photo.file_id)
    await draw(request, params, profile, source=source)


async def gen_button(request: UserRequest) -> None:
    """🔁/🎲 under a result: draw it again, with the same seed or a new one, for whoever pressed."""
    query = request.update.callback_query
    assert query is not None
    services = request.services
    message = query.message
    lang = request.lang
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
        params = replace(params, seed=None).seeded()
    await draw(request, params, profile, rerun_by=query.from_user)


async def draw(
    request: UserRequest,
    params: GenParams,
    profile: GenProfile,
    rerun_by: User | None = None,
    source: Image | None = None,
) -> None:
    """Queue the drawing for the request's sender, then send the pictures as a reply to the request's message
    (for a rerun: the message with the buttons), with the texts (status, caption, buttons) in the sender's language.
    An image-to-image request redraws `source`, or (a rerun) the photo behind its source_file_id, downloaded again."""
    services = request.services
    message, lang = request.message, request.lang
    safety = await services.gen.safety_on()
    if safety:
        services.gen.check_prompt(params.prompt)
    if params.source_file_id is not None and source is None:
        file_id = params.source_file_id
        source = await services.decoder.for_command(None, lambda: download_file(request.bot, file_id, None))
    work = params.request(
        guidance=profile.guidance,
        check_safety=safety and bool(services.settings.safety_checker_model),
        source=source,
    )
    action = ChatAction.UPLOAD_DOCUMENT if params.as_file else ChatAction.UPLOAD_PHOTO
    result = await request.run(work, action)
    key = await services.gen.remember(params, message.chat_id, request.user_id)
    by = rerun_by.first_name if rerun_by is not None and message.chat.type != ChatType.PRIVATE else None
    await request.sending()
    sent = await send_result(message, params, result, key, by, lang)
    for picture in sent:  # remembered for /find in the chat it was sent to, in the background lane
        await services.photos.note(picture)
    if sent:
        await request.sent(sent[0])  # a replay after a death from here on never draws it again
    # Removed only now: a death before the pictures went out leaves the status for the replay to resume.
    await request.drop_status()


def buttons(key: str, lang: Lang, *, same_seed: bool = True) -> InlineKeyboardMarkup:
    """Rerun buttons; their callback_data (under 64 bytes) names the stored parameters."""
    row = [InlineKeyboardButton(texts.BUTTON_NEW_SEED.in_(lang), callback_data=f"gen:{NEW_SEED}:{key}")]
    if same_seed:
        row.insert(0, InlineKeyboardButton(texts.BUTTON_SAME_SEED.in_(lang), callback_data=f"gen:{SAME_SEED}:{key}"))
    return InlineKeyboardMarkup([row])


async def send_result(
    message: Message, params: GenParams, result: GeneratedImages, key: str, rerun_by: str | None, lang: Lang
) -> list[Message]:
    """A photo, an album, or PNG documents, with the buttons; withheld images become a notice."""
    images = result.images
    if not images:  # everything was withheld: a notice, and only a new seed can change that
        await reply(
            message,
            texts.images_withheld(len(result.blocked), params.count),
            lang,
            markup=buttons(key, lang, same_seed=False),
        )
        return []
    details = [
        texts.gen_settings_line(
            tuple(i.seed for i in images),
            params.steps,
            params.width,
            params.height,
            params.negative_prompt,
            params.strength if params.source_file_id is not None else None,
        ).in_(lang)
    ]
    if result.blocked:
        details.append(texts.images_withheld(len(result.blocked), params.count).in_(lang))
    if rerun_by:
        details.append(texts.rerun_for(rerun_by).in_(lang))
    caption = texts.gen_caption(params.prompt, details)
    media = [
        InputMediaDocument(i.png, filename=f"gen-{i.seed}.png", caption=caption if n == 0 else None)
        if params.as_file
        else InputMediaPhoto(i.png, caption=caption if n == 0 else None)
        for n, i in enumerate(images)
    ]
    if len(media) == 1:
        return await reply_media(message, media, markup=buttons(key, lang))
    # An album can't carry buttons: its first item has the caption, and the buttons follow it.
    album = await reply_media(message, media)
    await reply(album[0], texts.GEN_MORE, lang, markup=buttons(key, lang))
    return album


COMMAND = command("gen", gen, on_photo=True, long_running=True, on_button=gen_button)
