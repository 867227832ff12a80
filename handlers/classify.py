"""/classify: name what is in a photo with the classifier (ViT by default): the top 5 labels with probabilities."""

from __future__ import annotations

from telegram.constants import ChatAction

from bot import texts
from bot.messaging.commands import command
from bot.messaging.media import find_photo
from bot.pipeline import UserRequest
from contract.requests import ClassifyRequest, Task


async def classify(request: UserRequest) -> None:
    """Classify the photo the command is on or replies to."""
    photo = find_photo(request.message)
    if photo is None:
        await request.reply(texts.CLASSIFY_USAGE)
        return
    await request.admit(Task.CLASSIFY)  # a request over a quota or a cap costs no download
    image = await request.fetch_image(photo)
    result = await request.run(ClassifyRequest(image), ChatAction.TYPING)
    await request.answer(texts.classification(result.labels))


COMMAND = command("classify", classify, on_photo=True, long_running=True)
