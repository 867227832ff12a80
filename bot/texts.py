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

NOTHING_TO_CANCEL = "You have no request waiting or running here."


def queued(position: int) -> str:
    return f"⏳ Queued: #{position} in line. /cancel to withdraw it."


WORKING = "⚙️ Working on it…"


def cancelled(command: str) -> str:
    return f"Cancelled your {command} request."


def internal_error(error_id: str) -> str:
    return f"Sorry, something went wrong on my side (error {error_id}). Please try again."


# --- /find and /forget -------------------------------------------------------------------------

FIND_USAGE = (
    "Send /find with a few words, e.g. /find a dog on the beach, or reply /find to a photo of this chat "
    "to find similar ones. Add k=10 for up to ten matches."
)

FIND_DETAILS = (
    "I remember every photo I see in a chat, and /find searches only that chat's photos. In groups with "
    "privacy mode on (the default), I only see photos captioned with a command or replied to with one; "
    "see below to let me see them all."
)


def no_photos_yet(private: bool) -> str:
    """/find in a chat whose photos the bot hasn't seen (yet)."""
    if private:
        return (
            "I haven't seen any photos in this chat yet. Every photo you send me from now on is remembered "
            "for /find (only in this chat)."
        )
    return (
        "I haven't seen any photos in this group yet. I remember the photos I see here, but while Telegram's "
        "privacy mode is on (the default) I only see commands, replies to me and photos captioned with a "
        "command. To let me remember every photo shared here, the owner turns privacy mode off in "
        "@BotFather (/setprivacy) or makes me an admin."
    )


NO_OTHER_MATCHES = "That's the only photo of this chat I know; send me more and try again."
MATCHES_UNSENDABLE = "I found matches, but Telegram wouldn't let me send them again (they may have been deleted)."
FORGET_ADMINS_ONLY = "Only this group's admins can make me forget its photos and history."
FORGET_DETAILS = "In groups, only admins can; when I leave or am removed from a chat, I forget it too."


def forgotten(counts: dict[str, int]) -> str:
    """The /forget answer, from {what: how many} of each store."""
    kept = [f"{n} {what}" for what, n in counts.items() if n]
    if not kept:
        return "Done. There was nothing to forget: I had kept nothing from this chat."
    return "Done. I deleted everything I kept from this chat: " + ", ".join(kept) + "."


def matches_missing(missing: int) -> str:
    return f"({missing} more {'match' if missing == 1 else 'matches'} could not be sent: the file is gone.)"
