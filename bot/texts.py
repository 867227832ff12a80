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


# --- /gen ------------------------------------------------------------------------------------------

GEN_HELP_DETAILS = (
    "options after the prompt: --seed N · --steps N · --size WxH · --n 1–4 · --no words to avoid · "
    "--file (PNG); /gen alone explains them"
)


def gen_usage(max_steps: int, min_side: int, max_side: int, max_count: int, negative: bool) -> str:
    """The /gen manual, with the configured model's ranges."""
    lines = [
        "Send /gen and what to draw, then any options, e.g.",
        "/gen a red fox in the snow --seed 42 --size 768x512 --n 2",
        "",
        "--seed N — the same seed draws the same picture again (0–4294967295; random if left out)",
        f"--steps N — more steps, more detail (1–{max_steps})",
        f"--size WxH — width×height, multiples of 64 from {min_side} to {max_side}; one number for a square",
        f"--n N — how many pictures (1–{max_count})",
    ]
    if negative:
        lines.append("--no words — what to keep out of the picture (up to the next option)")
    lines += [
        "--file — send full-quality PNG files instead of photos",
        "",
        "Under every result: 🔁 draws it again with the same seed, 🎲 with a new one.",
    ]
    return "\n".join(lines)


GEN_PROMPT_FIRST = "Write what to draw first, then the options, e.g. /gen a red fox --seed 42"
NEGATIVE_UNSUPPORTED = (
    "--no can't be used with this model: it draws without guidance (a turbo model), "
    "so a negative prompt would have no effect."
)
PROMPT_BLOCKED = "🚫 That prompt isn't allowed on this bot."
GEN_MORE = "More like this:"
BUTTON_SAME_SEED = "🔁 Same seed"
BUTTON_NEW_SEED = "🎲 New seed"
BUTTON_EXPIRED = "This button has expired. Send /gen again."
BUTTON_UNKNOWN = "This button no longer works."
BUTTON_ACCEPTED = "On it!"

_OPTION_VALUES = {
    "seed": "--seed 42",
    "steps": "--steps 2",
    "size": "--size 768x512",
    "n": "--n 2",
    "no": "--no blurry, text",
}


def option_range(name: str, low: int, high: int) -> str:
    return f"--{name} must be a whole number from {low} to {high}."


def size_range(min_side: int, max_side: int) -> str:
    return (
        f"--size must be WIDTHxHEIGHT with each side a multiple of 64 from {min_side} to {max_side}, "
        "or one number for a square, e.g. --size 768x512."
    )


def unknown_option(name: str) -> str:
    return (
        f"I don't know the option --{name}. "
        "Options: --seed, --steps, --size, --n, --no, --file (/gen alone explains them)."
    )


def option_twice(name: str) -> str:
    return f"--{name} is given twice."


def option_needs_value(name: str) -> str:
    return f"--{name} needs a value, e.g. {_OPTION_VALUES[name]}"


def stray_words(words: str) -> str:
    if len(words) > 60:
        words = words[:59] + "…"
    return f"I didn't understand “{words}”. Write the prompt first, then the options, e.g. /gen a red fox --seed 42"


def too_long(what: str, length: int, limit: int) -> str:
    return f"{what} is too long ({length} characters; the limit is {limit})."


def images_withheld(blocked: int, total: int) -> str:
    """The notice that replaces images the safety checker flagged."""
    if blocked == total == 1:
        return "🚫 The safety filter withheld this picture."
    if blocked == total:
        return f"🚫 The safety filter withheld all {total} pictures."
    return f"🚫 {blocked} of {total} pictures withheld by the safety filter"


def rerun_for(name: str) -> str:
    return f"🔁 for {name}"


def gen_settings_line(seeds: tuple[int, ...], steps: int, width: int, height: int, negative: str | None) -> str:
    """seed, steps, size (and negative prompt) of a result, as its caption shows them."""
    if len(seeds) == 1:
        seed = f"seed {seeds[0]}"
    elif list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        seed = f"seeds {seeds[0]}–{seeds[-1]}"
    else:
        seed = "seeds " + ", ".join(map(str, seeds))
    line = f"🌱 {seed} · {steps} step{'s' if steps != 1 else ''} · {width}×{height}"
    return line + (f" · no: {negative}" if negative else "")


CAPTION_LIMIT = 1024  # Telegram's, in UTF-16 code units


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def gen_caption(prompt: str, details: list[str]) -> str:
    """The prompt over `details` lines, the prompt shortened (…) if the whole would pass Telegram's limit."""
    tail = "\n" + "\n".join(details) if details else ""
    room = CAPTION_LIMIT - _utf16_len(tail)
    if _utf16_len(prompt) > room:
        while _utf16_len(prompt) > room - 1:
            prompt = prompt[:-1]
        prompt = prompt.rstrip() + "…"
    return prompt + tail


# --- /safety -----------------------------------------------------------------------------------

SAFETY_USAGE = "Use /safety on or /safety off; /safety alone shows the state."
SAFETY_CHECKER_UNAVAILABLE = (
    "The safety checker isn't available, so I'm not drawing pictures right now. The admin can see why in the logs."
)


def safety_status(on: bool, checker: str, blocked_terms: int) -> str:
    lines = [f"/gen safety is {'ON' if on else 'OFF'}."]
    lines.append(f"Image checker: {checker}" if checker else "Image checker: none configured (SAFETY_CHECKER_MODEL)")
    lines.append(
        f"Prompt blocklist: {blocked_terms} term{'s' if blocked_terms != 1 else ''}"
        if blocked_terms else "Prompt blocklist: empty (GEN_PROMPT_BLOCKLIST)"
    )
    if on and not checker and not blocked_terms:
        lines.append("Nothing is checked until one of them is configured.")
    return "\n".join(lines)


def safety_switched(on: bool) -> str:
    if on:
        return "✅ /gen safety is now ON."
    return "⚠️ /gen safety is now OFF: prompts and pictures are not checked."


# --- /classify ---------------------------------------------------------------------------------

CLASSIFY_USAGE = (
    "Send /classify as the caption of a photo, or reply /classify to a photo, and I'll name what's in it."
)


def classification(labels: tuple[tuple[str, float], ...]) -> str:
    """Top labels, most likely first, with their probabilities."""
    return "\n".join(f"{rank}. {label} — {p:.1%}" for rank, (label, p) in enumerate(labels, start=1))
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
