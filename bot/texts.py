"""Every text the bot sends that isn't a model's answer lives here."""

from __future__ import annotations

START = (
    "Hi! I'm a multimodal bot running on my owner's own GPU.\n"
    "Send me a photo with /caption as its caption, or reply /caption to a photo, and I'll describe it.\n"
    "Send a photo with /ask and a question as its caption, and we can talk about it.\n"
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
    "or the command sent as a reply to the photo. /ask and /box without a photo are about the last photo "
    "we talked about here, and a reply to one of my /ask answers continues that conversation."
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


# -- /ask, /box, /reset -------------------------------------------------------------------------

ASK_USAGE = (
    "Send a photo with /ask and your question as its caption, or reply /ask <question> to a photo. "
    "Then keep asking with /ask <question>, or reply to my answer: I remember our conversation "
    "about the last photo here until you send /reset."
)

DEFAULT_QUESTION = "Describe this photo."

NO_ANSWER = "I have no answer to that one."

SINGLE_TURN_NOTE = "ℹ️ The model I use for /ask answers each question on its own: it doesn't see earlier ones."

BOX_USAGE = (
    "Send a photo with /box <object> as its caption (e.g. /box dog), or reply /box <object> to a photo. "
    "Without a photo, I look at the last photo we talked about here."
)

RESET_DONE = "Starting over: I've forgotten our conversations about photos here."

RESET_NOTHING = "There was nothing to forget here."


def too_long(what: str, length: int, limit: int) -> str:
    return f"That {what} is too long ({length} characters; the limit is {limit})."


def nothing_found(target: str, model_text: str) -> str:
    """/box found no box in the model's answer."""
    text = f"I couldn't find “{target}” in this photo."
    said = " ".join(model_text.split())
    if any(c.isalnum() for c in said):  # words worth showing, not an empty "[]"
        text += f"\nThe model said: {said[:300]}{'…' if len(said) > 300 else ''}"
    return text


def boxes_found(target: str, boxes, size: tuple[int, int], limit: int = 1024) -> str:
    """The /box caption: each box's corners in the original photo's pixels, within Telegram's caption limit."""
    header = f"Found {len(boxes)} × “{target}” (pixels of the {size[0]}×{size[1]} photo, x1,y1 – x2,y2):"
    lines = [header]
    for index, box in enumerate(boxes, start=1):
        line = f"{index}. {box.label}: {box.x1},{box.y1} – {box.x2},{box.y2}"
        if len("\n".join(lines + [line])) > limit - 20:
            lines.append(f"…and {len(boxes) - index + 1} more")
            break
        lines.append(line)
    return "\n".join(lines)
