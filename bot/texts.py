"""Every text the bot sends that isn't a model's answer lives here."""

from __future__ import annotations

START = (
    "Hi! I'm a multimodal bot running on my owner's own GPU.\n"
    "Send me a photo with /caption as its caption, or reply /caption to a photo, and I'll describe it.\n"
    "Send /help to see everything I can do."
)

HELP_HEADER = "Here's what I can do:"

PRIVACY_NOTE = (
    "In groups: I only see commands, mentions and replies to me while Telegram's privacy mode is on "
    "(the default). To let me see every photo shared in a group, the owner turns privacy mode off "
    "in @BotFather (/setprivacy), or makes me a group admin."
)

PHOTO_FORMS = (
    "Commands that work on a photo take it in any of these forms: the command as the photo's caption, "
    "or the command sent as a reply to the photo."
)

CAPTION_USAGE = (
    "Send /caption as the caption of a photo, or reply /caption to a photo. "
    "Add words after it to have me continue them, e.g. /caption a picture of"
)

UNKNOWN_COMMAND = "I don't know that command. Send /help to see what I can do."

NOT_ALLOWED = "Sorry, this bot is private. Ask its owner for access."

LEAVING_UNLISTED_CHAT = "This bot is private and isn't enabled for this chat, so I'm leaving. Bye!"

ADMINS_ONLY = "That command is for the bot's admins."

NOTHING_TO_CANCEL = "You have no request waiting or running here."


def queued(position: int) -> str:
    return f"⏳ Queued: #{position} in line. /cancel to withdraw it."


WORKING = "⚙️ Working on it…"

RESUMED = "⏳ I was restarted; your request is back in the queue."


def cancelled(command: str) -> str:
    return f"Cancelled the {command} request."


def internal_error(error_id: str) -> str:
    return f"Sorry, something went wrong on my side (error {error_id}). Please try again."
