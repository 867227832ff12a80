"""Every text the bot sends that isn't a model's answer lives here, in English and Simplified Chinese.

Each is a `Text` (bot.i18n): constants for fixed texts, functions for texts with values in them.
They are put into one language when sent, the language of the user being answered.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable

from bot.i18n import Text

# --- greeting and /help ----------------------------------------------------------------------------

START = Text(
    "Hi! I'm a multimodal bot running on my owner's own GPU.\n"
    "Send me a photo with /caption as its caption, or reply /caption to a photo, and I'll describe it.\n"
    "Send a photo with /ask and a question as its caption, and we can talk about it.\n"
    "Send /help to see everything I can do.",
    "你好！我是一个多模态机器人，运行在主人自己的 GPU 上。\n"
    "发送照片并以 /caption 作为说明，或用 /caption 回复一张照片，我会描述它。\n"
    "发送照片并以 /ask 加问题作为说明，我们就可以聊聊这张照片。\n"
    "发送 /help 查看我能做的所有事情。",
)

HELP_HEADER = Text("Here's what I can do:", "我能做这些：")
HELP_EXAMPLE = Text("e.g.", "例如")
HELP_ADMINS = Text(" (admins)", "（仅管理员）")

PRIVACY_NOTE = Text(
    "In groups: I only see commands, mentions and replies to me while Telegram's privacy mode is on "
    "(the default). To let me see every photo shared in a group, the owner turns privacy mode off "
    "in @BotFather (/setprivacy), or makes me a group admin.",
    "在群组中：Telegram 的隐私模式开启时（默认开启），我只能看到命令、提到我的消息和对我的回复。"
    "若想让我看到群里分享的每张照片，请机器人主人在 @BotFather 中关闭隐私模式（/setprivacy），"
    "或把我设为群管理员。",
)

PHOTO_FORMS = Text(
    "Commands that work on a photo take it in any of these forms: the command as the photo's caption, "
    "or the command sent as a reply to the photo. /ask and /box without a photo are about the last photo "
    "we talked about here, and a reply to one of my /ask answers continues that conversation. "
    "Mentioning me with a question (@ and my name) works like /ask.",
    "作用于照片的命令可以这样用：把命令写在照片的说明里，或用命令回复那张照片。"
    "不带照片的 /ask 和 /box 针对我们在这里最后谈到的照片；回复我的 /ask 回答即可继续那段对话。"
    "@我并提问，效果和 /ask 一样。",
)


class CommandText:
    """How one command is listed in the menu (summary) and in /help (example, details)."""

    def __init__(self, summary: Text, example: Text, details: Text | None = None) -> None:
        self.summary, self.example, self.details = summary, example, details


COMMANDS = {
    "start": CommandText(Text("Start here", "从这里开始"), Text("/start", "/start")),
    "help": CommandText(Text("What I can do, with examples", "我能做什么（附示例）"), Text("/help", "/help")),
    "caption": CommandText(
        Text("Describe a photo", "描述一张照片"),
        Text("/caption (on a photo), or /caption a picture of", "/caption（写在照片上），或 /caption a picture of"),
    ),
    "classify": CommandText(
        Text("Name what is in a photo", "识别照片里是什么"),
        Text("/classify (on a photo)", "/classify（写在照片上）"),
    ),
    "gen": CommandText(
        Text("Draw a picture from words, or redraw a photo", "根据文字画图，或重画一张照片"),
        Text(
            "/gen a red fox in the snow --seed 42 --size 768x512 --n 2",
            "/gen a red fox in the snow --seed 42 --size 768x512 --n 2（提示词用英文效果最好）",
        ),
        Text(
            "options after the prompt: --seed N · --steps N · --size WxH · --n 1–4 · --no words to avoid · "
            "--file (PNG); /gen alone explains them. On a photo (as its caption, or replying to it) /gen redraws "
            "the photo: /gen a watercolour painting --strength 0.6 (0.1–1.0, how much changes; 0.5 if left out)",
            "提示词后可加选项：--seed N · --steps N · --size 宽x高 · --n 1–4 · --no 要避免的内容 · "
            "--file（PNG 文件）；单独发送 /gen 查看说明。写在照片上（作为说明，或回复照片）时 /gen 会重画这张照片："
            "/gen a watercolour painting --strength 0.6（0.1–1.0，改动多少；不填为 0.5）",
        ),
    ),
    "safety": CommandText(
        Text("Switch the /gen safety filter", "开关 /gen 的安全过滤"), Text("/safety on", "/safety on")
    ),
    "ask": CommandText(
        Text("Chat about a photo or an album", "就一张照片或一个相册聊天"),
        Text(
            "/ask what is the dog doing? (on a photo; then follow up, or reply to my answer)",
            "/ask 这只狗在做什么？（写在照片上；之后可继续追问，或回复我的回答）",
        ),
        Text(
            "On an album (up to 10 photos: /ask as the album's caption, or replying to any of its photos) I look at "
            "all of them at once, e.g. /ask which of these is sharpest?",
            "用在相册上（最多 10 张照片：把 /ask 写在相册说明里，或用它回复相册中的任意一张）时，"
            "我会同时看所有照片，例如 /ask 哪一张最清晰？",
        ),
    ),
    "box": CommandText(
        Text("Draw boxes around objects in a photo", "在照片中框出物体"),
        Text(
            "/box dog (on a photo, or about the last photo we talked about)",
            "/box 狗（写在照片上，或针对我们最后谈到的照片）",
        ),
    ),
    "reset": CommandText(Text("Start the photo chat over", "重新开始照片对话"), Text("/reset", "/reset")),
    "find": CommandText(
        Text("Find earlier photos of this chat", "查找本聊天里以前的照片"),
        Text(
            "/find a dog on the beach from:me after:2024-06, or reply /find to a photo (k=10 for more)",
            "/find a dog on the beach from:me after:2024-06，或用 /find 回复一张照片（加 k=10 显示更多）",
        ),
        Text(
            "I remember every photo I see in a chat, and /find searches only that chat's photos. In groups with "
            "privacy mode on (the default), I only see photos captioned with a command or replied to with one; "
            "see below to let me see them all.",
            "我会记住在每个聊天里看到的照片，/find 只搜索当前聊天的照片。在开启隐私模式（默认）的群组中，"
            "我只能看到说明里带命令或被命令回复的照片；要让我看到全部照片，请看下文。",
        ),
    ),
    "reposts": CommandText(
        Text("Point out photos posted here before", "指出以前在这里发过的照片"),
        Text("/reposts on", "/reposts on"),
        Text(
            "When on, a photo that was already posted in this chat (recompressed, resized or lightly cropped) "
            "gets a short reply linking to the first post. In groups, only admins can switch it.",
            "开启后，若一张照片以前在本聊天发过（重新压缩、缩放或轻微裁剪过的也算），"
            "我会简短回复并附上第一次发布的链接。在群组中只有管理员可以开关。",
        ),
    ),
    "forget": CommandText(
        Text("Delete this chat's photo index and history", "删除本聊天的照片索引和对话记录"),
        Text("/forget", "/forget"),
        Text(
            "In groups, only admins can; when I leave or am removed from a chat, I forget it too.",
            "在群组中只有管理员可以使用；我离开或被移出聊天时，也会忘掉它的一切。",
        ),
    ),
    "cancel": CommandText(
        Text("Cancel your waiting request", "撤回你等待中的请求"),
        Text("/cancel (or as a reply to a request)", "/cancel（或用它回复某个请求）"),
    ),
    "stats": CommandText(Text("Queue, models and memory", "队列、模型和内存"), Text("/stats", "/stats")),
}

UNKNOWN_COMMAND = Text(
    "I don't know that command. Send /help to see what I can do.", "我不认识这个命令。发送 /help 查看我能做什么。"
)

# --- access, queue, progress -------------------------------------------------------------------------

NOT_ALLOWED = Text(
    "Sorry, this bot is private. Ask its owner for access.", "抱歉，这是一个私人机器人。请向它的主人申请使用权限。"
)

LEAVING_UNLISTED_CHAT = Text(
    "This bot is private and isn't enabled for this chat, so I'm leaving. Bye!",
    "这是一个私人机器人，未对本聊天开放，所以我先离开了。再见！",
)

ADMINS_ONLY = Text("That command is for the bot's admins.", "这个命令仅限机器人管理员使用。")

NOTHING_TO_CANCEL = Text("You have no request waiting or running here.", "你在这里没有等待中或进行中的请求。")


def queued(position: int) -> Text:
    return Text(
        f"⏳ Queued: #{position} in line. /cancel to withdraw it.",
        f"⏳ 排队中：第 {position} 位。发送 /cancel 可撤回。",
    )


WORKING = Text("⚙️ Working on it…", "⚙️ 正在处理…")

RESUMED = Text("⏳ I was restarted; your request is back in the queue.", "⏳ 我刚重启过，你的请求已重新排队。")

JOB_SET_ASIDE = Text(
    "Sorry: I stopped twice while working on this request, so I've set it aside. Please try again, "
    "perhaps with a smaller photo or simpler options.",
    "抱歉：处理这个请求时我两次中断，所以先把它搁置了。请再试一次，也许换一张小一点的照片或简单一些的选项。",
)

STORAGE_BUSY = Text("My storage is busy right now; please try again in a minute.", "我的存储暂时繁忙，请一分钟后再试。")


def cancelled(command: str) -> Text:
    return Text(f"Cancelled the {command} request.", f"已撤回 {command} 请求。")


def internal_error(error_id: str) -> Text:
    return Text(
        f"Sorry, something went wrong on my side (error {error_id}). Please try again.",
        f"抱歉，我这边出了点问题（错误 {error_id}）。请再试一次。",
    )


# --- errors (bot.errors) -------------------------------------------------------------------------

ERROR = Text("Sorry, that didn't work.", "抱歉，没有成功。")
BUSY = Text("I'm very busy right now. Please try again in a minute.", "我现在非常忙，请过一分钟再试。")
TOO_MANY_PENDING = Text(
    "You already have several requests waiting. Wait for them, or /cancel one.",
    "你已经有好几个请求在等待了。请等它们完成，或用 /cancel 撤回一个。",
)


def too_many_pending(count: int) -> Text:
    return Text(
        f"You already have {count} requests waiting. Wait for them to finish, or /cancel one.",
        f"你已经有 {count} 个请求在等待。请等它们完成，或用 /cancel 撤回一个。",
    )


QUOTA_EXCEEDED = Text(
    "You've reached your limit for now. Please try again later.", "你暂时已达到使用上限，请稍后再试。"
)


def _duration(seconds: float) -> Text:
    seconds = max(1, round(seconds))
    if seconds < 120:
        return Text(f"{seconds} s", f"{seconds} 秒")
    if seconds < 7200:
        return Text(f"{round(seconds / 60)} min", f"{round(seconds / 60)} 分钟")
    return Text(f"{round(seconds / 3600)} h", f"{round(seconds / 3600)} 小时")


def quota_exceeded(limit: int, task: str, window: str, wait_s: float) -> Text:
    """`window` is "minute" or "day"."""
    wait = _duration(wait_s)
    zh_window = {"minute": "每分钟", "day": "每天"}.get(window, window)
    return Text(
        f"You've reached your limit of {limit} /{task} requests per {window}. Try again in {wait.en}.",
        f"你已达到 /{task} {zh_window} {limit} 次的上限。请在 {wait.zh}后再试。",
    )


CANCELLED = Text("Cancelled.", "已撤回。")
TIMED_OUT = Text(
    "That took too long and was stopped. Please try again, perhaps with a smaller request.",
    "处理时间太长，已被停止。请再试一次，或者把请求改小一些。",
)
MODEL_UNAVAILABLE = Text(
    "That model isn't available on this bot right now. The admin can see why in the logs.",
    "这个模型目前在本机器人上不可用。管理员可以在日志里查看原因。",
)
MODEL_FAILED = Text(
    "The model failed on this request. Please try again or use another photo.",
    "模型处理这个请求时出错了。请再试一次，或换一张照片。",
)
MODEL_TOO_BIG = Text(
    "That model is too big for this machine's memory, so the bot doesn't load it. "
    "The admin can choose a smaller model or another memory setting (see the logs).",
    "这个模型太大，本机内存装不下，所以机器人没有加载它。管理员可以换一个更小的模型或调整内存设置（见日志）。",
)
OUT_OF_MEMORY = Text(
    "The bot ran out of memory on this request. Please try again in a minute, or with a smaller photo.",
    "机器人处理这个请求时内存不足。请过一分钟再试，或换一张小一点的照片。",
)
SHUTTING_DOWN = Text(
    "The bot is restarting; your request will be answered when it is back.", "机器人正在重启，恢复后会回复你的请求。"
)
INDEX_UNAVAILABLE = Text(
    "Photo search isn't available right now. The admin can see why in the logs.",
    "照片搜索目前不可用。管理员可以在日志里查看原因。",
)
REINDEX_NEEDED = Text(
    "This chat's photos were indexed with a different CLIP model than the one I use now, so I can't "
    "search them until the bot's owner runs `python -m bot reindex` (once, for all chats). "
    "New photos are still being remembered meanwhile.",
    "本聊天的照片是用另一个 CLIP 模型建立的索引，与我现在使用的不同，所以在机器人主人运行 "
    "`python -m bot reindex`（对所有聊天运行一次即可）之前，我无法搜索它们。在此期间新照片仍会被记住。",
)


def model_cannot(task: str, model_type: str) -> Text:
    """The configured model's family can't do `task` (e.g. a captioning model set for /box)."""
    return Text(
        f"The model this bot uses for /{task} ({model_type}) can't do that. "
        "The admin can configure one that can (see the README).",
        f"本机器人用于 /{task} 的模型（{model_type}）做不到这一点。管理员可以换一个能做到的模型（见 README）。",
    )


# /ask and /box on a serving engine (VLM_URL)
VLM_SERVER_UNREACHABLE = Text(
    "The /ask and /box model server can't be reached right now. Please try again later; the admin can check VLM_URL.",
    "现在连接不上 /ask 和 /box 的模型服务器。请稍后再试；管理员可以检查 VLM_URL。",
)
VLM_SERVER_KEY_REFUSED = Text(
    "The /ask and /box model server refused this bot's key. The admin can check VLM_API_KEY.",
    "/ask 和 /box 的模型服务器拒绝了本机器人的密钥。管理员可以检查 VLM_API_KEY。",
)
VLM_SERVER_NO_MODEL = Text(
    "The /ask and /box model server doesn't serve the configured model. The admin can check VLM_MODEL and VLM_URL.",
    "/ask 和 /box 的模型服务器没有提供所配置的模型。管理员可以检查 VLM_MODEL 和 VLM_URL。",
)
VLM_SERVER_REFUSED = Text(
    "The model server refused this request. Please try a shorter question or another photo.",
    "模型服务器拒绝了这个请求。请换一个更短的问题或另一张照片。",
)
VLM_SERVER_FAILED = Text(
    "The model server failed on this request. Please try again in a minute.",
    "模型服务器处理这个请求时出错了。请过一分钟再试。",
)
VLM_FAMILY_UNKNOWN = Text(
    "I don't know how the served model writes boxes, so /box can't draw them. "
    "The admin can set VLM_FAMILY (see the README).",
    "我不知道所用模型如何给出方框坐标，所以 /box 画不出来。管理员可以设置 VLM_FAMILY（见 README）。",
)
WIDE_PHOTO = Text(
    "That photo is too long and thin for this model. Please crop it.",
    "这张照片太细长了，这个模型处理不了。请裁剪一下。",
)


QUESTION_TOO_LONG_FOR_MODEL = Text(
    "That question is too long for this model. Please ask something shorter.",
    "这个问题对这个模型来说太长了。请问得简短一些。",
)

# --- images and files ----------------------------------------------------------------------------

BAD_IMAGE = Text(
    "I couldn't read that image. Please send a JPEG, PNG or WebP photo.",
    "我无法读取这张图片。请发送 JPEG、PNG 或 WebP 格式的照片。",
)
EMPTY_FILE = Text("That file is empty.", "这个文件是空的。")
NOT_AN_IMAGE = Text(
    "That isn't an image I can read. Please send a JPEG, PNG or WebP photo.",
    "这不是我能读取的图片。请发送 JPEG、PNG 或 WebP 格式的照片。",
)
CORRUPT_IMAGE = Text(
    "That image looks corrupt or truncated. Please send it again.", "这张图片似乎已损坏或不完整。请重新发送。"
)


def image_too_thin(width: int, height: int, limit: int) -> Text:
    return Text(
        f"That image is too long and thin ({width}×{height}); it may be at most {limit} times longer than it is wide.",
        f"这张图片太细长了（{width}×{height}），长边最多只能是短边的 {limit} 倍。",
    )


def too_many_scans(limit: int) -> Text:
    return Text(
        f"That JPEG is built of too many passes (scans) to decode safely; the limit is {limit}. "
        "Please save it again as an ordinary JPEG or PNG.",
        f"这张 JPEG 由过多的扫描（scan）组成，无法安全解码；上限是 {limit}。请重新保存为普通的 JPEG 或 PNG。",
    )


IMAGE_TOO_SLOW = Text(
    "That image takes too long to decode. Please send a smaller or simpler file.",
    "这张图片解码耗时太久。请发送更小或更简单的文件。",
)


def image_too_large(max_pixels: int, width: int | None = None, height: int | None = None) -> Text:
    limit = f"{max_pixels / 1e6:.0f}"
    if width is None or height is None:
        return Text(
            f"That image is too large; the limit is {limit} megapixels.", f"这张图片太大了，上限是 {limit} 百万像素。"
        )
    return Text(
        f"That image is too large ({width}×{height}); the limit is {limit} megapixels.",
        f"这张图片太大了（{width}×{height}），上限是 {limit} 百万像素。",
    )


FILE_TOO_BIG = Text(
    "That file is over 20 MB, the most a bot can download from Telegram. Please send a smaller one.",
    "这个文件超过 20 MB，这是机器人能从 Telegram 下载的上限。请发送小一些的文件。",
)
DOWNLOAD_FAILED = Text(
    "I couldn't download that file from Telegram. Please send it again.", "我无法从 Telegram 下载这个文件。请重新发送。"
)

_WHAT = {
    "prompt": Text("The prompt", "提示词"),
    "negative": Text("--no", "--no 的内容"),
    "question": Text("The question", "问题"),
    "description": Text("The description", "描述"),
    "prefix": Text("That prefix", "开头的文字"),
    "query": Text("That search", "搜索内容"),
}


def too_long(what: str, length: int, limit: int) -> Text:
    """`what`: prompt, negative, question, description, prefix or query."""
    name = _WHAT[what]
    return Text(
        f"{name.en} is too long ({length} characters; the limit is {limit}).",
        f"{name.zh}太长了（{length} 个字符，上限是 {limit}）。",
    )


# --- /caption and /classify ------------------------------------------------------------------------

CAPTION_USAGE = Text(
    "Send /caption as the caption of a photo, or reply /caption to a photo. "
    "Add words after it to have me continue them, e.g. /caption a picture of",
    "把 /caption 写在照片的说明里，或用 /caption 回复一张照片。"
    "在命令后加几个词，我会接着写下去，例如 /caption a picture of（描述模型只会英文）",
)

NO_CAPTION = Text("I couldn't find words for this one.", "这张照片我想不出该怎么描述。")

CLASSIFY_USAGE = Text(
    "Send /classify as the caption of a photo, or reply /classify to a photo, and I'll name what's in it.",
    "把 /classify 写在照片的说明里，或用 /classify 回复一张照片，我会说出照片里是什么。",
)


def classification(labels: tuple[tuple[str, float], ...]) -> str:
    """Top labels, most likely first, with their probabilities (the model's own labels, in any language)."""
    return "\n".join(f"{rank}. {label} — {p:.1%}" for rank, (label, p) in enumerate(labels, start=1))


# --- /gen ------------------------------------------------------------------------------------------


def gen_usage(max_steps: int, min_side: int, max_side: int, max_count: int, negative: bool) -> Text:
    """The /gen manual, with the configured model's ranges."""
    en = [
        "Send /gen and what to draw, then any options, e.g.",
        "/gen a red fox in the snow --seed 42 --size 768x512 --n 2",
        "",
        "--seed N — the same seed draws the same picture again (0–4294967295; random if left out)",
        f"--steps N — more steps, more detail (1–{max_steps})",
        f"--size WxH — width×height, multiples of 64 from {min_side} to {max_side}; one number for a square",
        f"--n N — how many pictures (1–{max_count})",
    ]
    zh = [
        "发送 /gen 加上要画的内容，再加任意选项，例如",
        "/gen a red fox in the snow --seed 42 --size 768x512 --n 2",
        "（模型主要理解英文提示词，用英文效果最好）",
        "",
        "--seed N — 相同的种子会再画出相同的图（0–4294967295；不填则随机）",
        f"--steps N — 步数越多，细节越多（1–{max_steps}）",
        f"--size 宽x高 — 宽×高，{min_side} 到 {max_side} 之间 64 的倍数；只写一个数则为正方形",
        f"--n N — 画几张（1–{max_count}）",
    ]
    if negative:
        en.append("--no words — what to keep out of the picture (up to the next option)")
        zh.append("--no 内容 — 不希望出现在图中的东西（直到下一个选项为止）")
    en += [
        "--file — send full-quality PNG files instead of photos",
        "",
        "On a photo (the command as its caption, or replying to it), /gen redraws that photo:",
        "/gen a watercolour painting --strength 0.6",
        "--strength S — how much of the photo changes (0.1–1.0; 0.5 if left out); steps × strength must be at least 1",
        "",
        "Under every result: 🔁 draws it again with the same seed, 🎲 with a new one.",
    ]
    zh += [
        "--file — 以原画质 PNG 文件发送，而不是照片",
        "",
        "写在照片上（作为照片说明，或回复照片）时，/gen 会重画这张照片：",
        "/gen a watercolour painting --strength 0.6",
        "--strength S — 照片改动多少（0.1–1.0；不填为 0.5）；步数 × 强度至少要为 1",
        "",
        "每张结果下面：🔁 用相同的种子重画，🎲 换一个新种子。",
    ]
    return Text("\n".join(en), "\n".join(zh))


GEN_PROMPT_FIRST = Text(
    "Write what to draw first, then the options, e.g. /gen a red fox --seed 42",
    "请先写要画的内容，再写选项，例如 /gen a red fox --seed 42",
)
NEGATIVE_UNSUPPORTED = Text(
    "--no can't be used with this model: it draws without guidance (a turbo model), "
    "so a negative prompt would have no effect.",
    "这个模型不能用 --no：它不使用引导（turbo 模型），所以反向提示词不会起作用。",
)
PROMPT_BLOCKED = Text("🚫 That prompt isn't allowed on this bot.", "🚫 本机器人不允许这个提示词。")
GEN_MORE = Text("More like this:", "再来几张：")
BUTTON_SAME_SEED = Text("🔁 Same seed", "🔁 相同种子")
BUTTON_NEW_SEED = Text("🎲 New seed", "🎲 新种子")
BUTTON_EXPIRED = Text("This button has expired. Send /gen again.", "这个按钮已过期。请重新发送 /gen。")
BUTTON_UNKNOWN = Text("This button no longer works.", "这个按钮已失效。")
BUTTON_ACCEPTED = Text("On it!", "马上画！")

_OPTION_VALUES = {
    "seed": "--seed 42",
    "steps": "--steps 2",
    "size": "--size 768x512",
    "n": "--n 2",
    "no": "--no blurry, text",
    "strength": "--strength 0.5",
}

STRENGTH_NEEDS_PHOTO = Text(
    "--strength only works on a photo: send /gen as the photo's caption, or reply /gen to a photo.",
    "--strength 只能用于照片：把 /gen 写在照片说明里，或用 /gen 回复一张照片。",
)


def strength_range(low: float, high: float) -> Text:
    return Text(
        f"--strength must be a number from {low:g} to {high:g}, e.g. --strength 0.5.",
        f"--strength 必须是 {low:g} 到 {high:g} 之间的数，例如 --strength 0.5。",
    )


def no_step_to_run(steps: int, strength: float) -> Text:
    """Image-to-image runs int(steps × strength) steps: these settings would run none."""
    return Text(
        f"--steps {steps} with --strength {strength:g} leaves no step to run: steps × strength must be at least 1. "
        "Raise --steps or --strength.",
        f"--steps {steps} 配 --strength {strength:g} 一步也不会画：步数 × 强度至少要为 1。"
        "请调高 --steps 或 --strength。",
    )


def option_range(name: str, low: int, high: int) -> Text:
    return Text(
        f"--{name} must be a whole number from {low} to {high}.", f"--{name} 必须是 {low} 到 {high} 之间的整数。"
    )


def size_range(min_side: int, max_side: int) -> Text:
    return Text(
        f"--size must be WIDTHxHEIGHT with each side a multiple of 64 from {min_side} to {max_side}, "
        "or one number for a square, e.g. --size 768x512.",
        f"--size 必须写成 宽x高，每边是 {min_side} 到 {max_side} 之间 64 的倍数，"
        "或只写一个数表示正方形，例如 --size 768x512。",
    )


def unknown_option(name: str) -> Text:
    return Text(
        f"I don't know the option --{name}. "
        "Options: --seed, --steps, --size, --n, --no, --file, --strength (/gen alone explains them).",
        f"我不认识选项 --{name}。可用选项：--seed、--steps、--size、--n、--no、--file、--strength"
        "（单独发送 /gen 查看说明）。",
    )


def option_twice(name: str) -> Text:
    return Text(f"--{name} is given twice.", f"--{name} 写了两次。")


def option_needs_value(name: str) -> Text:
    return Text(
        f"--{name} needs a value, e.g. {_OPTION_VALUES[name]}", f"--{name} 需要一个值，例如 {_OPTION_VALUES[name]}"
    )


def stray_words(words: str) -> Text:
    if len(words) > 60:
        words = words[:59] + "…"
    return Text(
        f"I didn't understand “{words}”. Write the prompt first, then the options, e.g. /gen a red fox --seed 42",
        f"我没看懂“{words}”。请先写提示词，再写选项，例如 /gen a red fox --seed 42",
    )


def images_withheld(blocked: int, total: int) -> Text:
    """The notice that replaces images the safety checker flagged."""
    if blocked == total == 1:
        return Text("🚫 The safety filter withheld this picture.", "🚫 安全过滤拦下了这张图。")
    if blocked == total:
        return Text(f"🚫 The safety filter withheld all {total} pictures.", f"🚫 安全过滤拦下了全部 {total} 张图。")
    return Text(
        f"🚫 {blocked} of {total} pictures withheld by the safety filter",
        f"🚫 {total} 张图中有 {blocked} 张被安全过滤拦下",
    )


NAME_LIMIT = 64  # a user's name in a caption or credit is shortened to this many characters


def user_name(name: str, limit: int = NAME_LIMIT) -> str:
    """A user-controlled name made safe to show: control and direction-override characters removed,
    shortened (…) to `limit` characters."""
    clean = "".join(
        c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn") or c in "\u200d"
    )  # keep the zero-width joiner (emoji sequences)
    clean = " ".join(clean.split()) or "?"
    return clean if len(clean) <= limit else clean[: limit - 1].rstrip() + "…"


def rerun_for(name: str) -> Text:
    name = user_name(name)
    return Text(f"🔁 for {name}", f"🔁 为 {name} 重画")


def gen_settings_line(
    seeds: tuple[int, ...], steps: int, width: int, height: int, negative: str | None, strength: float | None = None
) -> Text:
    """seed, steps, size (and negative prompt; for a redrawn photo, the strength) of a result, as its caption
    shows them."""
    if len(seeds) == 1:
        en_seed, zh_seed = f"seed {seeds[0]}", f"种子 {seeds[0]}"
    elif list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        en_seed, zh_seed = f"seeds {seeds[0]}–{seeds[-1]}", f"种子 {seeds[0]}–{seeds[-1]}"
    else:
        en_seed = "seeds " + ", ".join(map(str, seeds))
        zh_seed = "种子 " + "、".join(map(str, seeds))
    en = f"🌱 {en_seed} · {steps} step{'s' if steps != 1 else ''} · {width}×{height}"
    zh = f"🌱 {zh_seed} · {steps} 步 · {width}×{height}"
    if strength is not None:
        en, zh = en + f" · 🖼 from the photo, strength {strength:g}", zh + f" · 🖼 据照片重画，强度 {strength:g}"
    if negative:
        en, zh = en + f" · no: {negative}", zh + f" · 避免：{negative}"
    return Text(en, zh)


CAPTION_LIMIT = 1024  # Telegram's, in UTF-16 code units


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def gen_caption(prompt: str, details: list[str]) -> str:
    """The prompt over `details` lines, the prompt shortened (…) if the whole would pass Telegram's limit."""
    tail = "\n" + "\n".join(details) if details else ""
    while _utf16_len(tail) > CAPTION_LIMIT // 2:  # details are ours, but may carry a user's name
        tail = tail[: len(tail) * 3 // 4]
    room = CAPTION_LIMIT - _utf16_len(tail)
    if _utf16_len(prompt) > room:
        while _utf16_len(prompt) > room - 1:
            prompt = prompt[:-1]
        prompt = prompt.rstrip() + "…"
    return prompt + tail


# --- /safety -----------------------------------------------------------------------------------

SAFETY_USAGE = Text(
    "Use /safety on or /safety off; /safety alone shows the state.",
    "用 /safety on 或 /safety off 开关；单独发送 /safety 查看当前状态。",
)
SAFETY_CHECKER_UNAVAILABLE = Text(
    "The safety checker isn't available, so I'm not drawing pictures right now. The admin can see why in the logs.",
    "安全检查器不可用，所以我现在不画图。管理员可以在日志里查看原因。",
)


def safety_status(on: bool, checker: str, blocked_terms: int) -> Text:
    en = [f"/gen safety is {'ON' if on else 'OFF'}."]
    zh = [f"/gen 安全过滤：{'开启' if on else '关闭'}。"]
    en.append(f"Image checker: {checker}" if checker else "Image checker: none configured (SAFETY_CHECKER_MODEL)")
    zh.append(f"图片检查器：{checker}" if checker else "图片检查器：未配置（SAFETY_CHECKER_MODEL）")
    if blocked_terms:
        en.append(f"Prompt blocklist: {blocked_terms} term{'s' if blocked_terms != 1 else ''}")
        zh.append(f"提示词屏蔽表：{blocked_terms} 个词")
    else:
        en.append("Prompt blocklist: empty (GEN_PROMPT_BLOCKLIST)")
        zh.append("提示词屏蔽表：空（GEN_PROMPT_BLOCKLIST）")
    if on and not checker and not blocked_terms:
        en.append("Nothing is checked until one of them is configured.")
        zh.append("在配置其中之一之前，什么都不会被检查。")
    return Text("\n".join(en), "\n".join(zh))


def safety_switched(on: bool) -> Text:
    if on:
        return Text("✅ /gen safety is now ON.", "✅ /gen 安全过滤已开启。")
    return Text(
        "⚠️ /gen safety is now OFF: prompts and pictures are not checked.",
        "⚠️ /gen 安全过滤已关闭：提示词和图片都不再检查。",
    )


# -- /ask, /box, /reset -------------------------------------------------------------------------

ASK_USAGE = Text(
    "Send a photo with /ask and your question as its caption, or reply /ask <question> to a photo. "
    "On an album, I look at all of its photos at once. "
    "Then keep asking with /ask <question>, or reply to my answer: I remember our conversation "
    "about the last photo here until you send /reset.",
    "发送照片并以 /ask 加问题作为说明，或用 /ask <问题> 回复一张照片。"
    "用在相册上时，我会同时看相册里的所有照片。"
    "之后可以继续用 /ask <问题> 提问，或直接回复我的回答：在你发送 /reset 之前，"
    "我会记住我们关于这里最后一张照片的对话。",
)

# What /ask asks the model when the user gave only a photo (in the user's language: the model answers in it).
DEFAULT_QUESTION = Text("Describe this photo.", "请描述这张照片。")
DEFAULT_ALBUM_QUESTION = Text("Describe these photos.", "请描述这些照片。")


def album_first_photo_only(photos: int) -> Text:
    """A single-image model was asked about an album: it saw the first photo only."""
    return Text(
        f"ℹ️ The model I use for /ask sees one photo at a time: this answer is about the first of the album's "
        f"{photos} photos only.",
        f"ℹ️ 我用于 /ask 的模型一次只能看一张照片：这个回答只针对相册 {photos} 张照片中的第一张。",
    )


NO_ANSWER = Text("I have no answer to that one.", "这个问题我回答不了。")

SINGLE_TURN_NOTE = Text(
    "ℹ️ The model I use for /ask answers each question on its own: it doesn't see earlier ones.",
    "ℹ️ 我用于 /ask 的模型会单独回答每个问题：它看不到之前的问题。",
)

BOX_USAGE = Text(
    "Send a photo with /box <object> as its caption (e.g. /box dog), or reply /box <object> to a photo. "
    "Without a photo, I look at the last photo we talked about here.",
    "发送照片并以 /box <物体> 作为说明（例如 /box 狗），或用 /box <物体> 回复一张照片。"
    "不带照片时，我会看我们在这里最后谈到的照片。",
)

RESET_DONE = Text(
    "Starting over: I've forgotten our conversations about photos here.", "重新开始：我已忘掉我们在这里关于照片的对话。"
)

RESET_NOTHING = Text("There was nothing to forget here.", "这里没有需要忘掉的内容。")


def nothing_found(target: str, model_text: str) -> Text:
    """/box found no box in the model's answer."""
    en, zh = f"I couldn't find “{target}” in this photo.", f"我在这张照片里没有找到“{target}”。"
    said = " ".join(model_text.split())
    if any(c.isalnum() for c in said):  # words worth showing, not an empty "[]"
        quote = f"{said[:300]}{'…' if len(said) > 300 else ''}"
        en, zh = en + f"\nThe model said: {quote}", zh + f"\n模型的回答：{quote}"
    return Text(en, zh)


def boxes_found(target: str, boxes, size: tuple[int, int], limit: int = 1024) -> Text:
    """The /box caption: each box's corners in the original photo's pixels, within Telegram's caption limit."""
    headers = Text(
        f"Found {len(boxes)} × “{target}” (pixels of the {size[0]}×{size[1]} photo, x1,y1 – x2,y2):",
        f"找到 {len(boxes)} 个“{target}”（{size[0]}×{size[1]} 照片中的像素坐标，x1,y1 – x2,y2）：",
    )

    def caption(header: str, more: str) -> str:
        lines = [header]
        for index, box in enumerate(boxes, start=1):
            line = f"{index}. {box.label}: {box.x1},{box.y1} – {box.x2},{box.y2}"
            if len("\n".join([*lines, line])) > limit - 20:
                lines.append(more.format(len(boxes) - index + 1))
                break
            lines.append(line)
        return "\n".join(lines)

    return Text(caption(headers.en, "…and {} more"), caption(headers.zh, "……还有 {} 个"))


# --- /find and /forget -------------------------------------------------------------------------

FIND_USAGE = Text(
    "Send /find with a few words, e.g. /find a dog on the beach, or reply /find to a photo of this chat "
    "to find similar ones. Add k=10 for up to ten matches. Filters: from:me, from:@username, "
    "after:2024-06, before:2025-01-31, on:2024-12-25 (UTC dates); filters alone give the newest matching photos.",
    "发送 /find 加几个词，例如 /find a dog on the beach，或用 /find 回复本聊天的一张照片来找相似的照片。"
    "加上 k=10 最多显示十张。筛选：from:me、from:@用户名、after:2024-06、before:2025-01-31、"
    "on:2024-12-25（UTC 日期）；只写筛选条件时显示符合条件的最新照片。",
)


def bad_date_filter(token: str) -> Text:
    return Text(
        f"I can't read the date in {token!r}: write a year, month or day, e.g. after:2024, after:2024-06 "
        "or on:2024-12-25.",
        f"无法识别 {token!r} 中的日期：请写年、月或日，例如 after:2024、after:2024-06 或 on:2024-12-25。",
    )


def bad_from_filter(token: str) -> Text:
    return Text(
        f"I can't read {token!r}: write from:me, from:@username, or from: followed by a mention.",
        f"无法识别 {token!r}：请写 from:me、from:@用户名，或在 from: 后面提及某人。",
    )


NO_FILTER_MATCHES = Text(
    "None of this chat's photos I know match those filters (who sent them, or when).",
    "本聊天里我知道的照片中，没有符合这些筛选条件（发送者或时间）的。",
)


def bad_k(value: str, max_k: int) -> Text:
    return Text(
        f"k must be a whole number from 1 to {max_k}, not {value!r}.",
        f"k 必须是 1 到 {max_k} 之间的整数，不能是 {value!r}。",
    )


def no_photos_yet(private: bool) -> Text:
    """/find in a chat whose photos the bot hasn't seen (yet)."""
    if private:
        return Text(
            "I haven't seen any photos in this chat yet. Every photo you send me from now on is remembered "
            "for /find (only in this chat).",
            "我在这个聊天里还没见过照片。从现在起你发给我的每张照片都会被记住，供 /find 搜索（仅限本聊天）。",
        )
    return Text(
        "I haven't seen any photos in this group yet. I remember the photos I see here, but while Telegram's "
        "privacy mode is on (the default) I only see commands, replies to me and photos captioned with a "
        "command. To let me remember every photo shared here, the owner turns privacy mode off in "
        "@BotFather (/setprivacy) or makes me an admin.",
        "我在这个群里还没见过照片。我会记住在这里看到的照片，但 Telegram 的隐私模式开启时（默认开启），"
        "我只能看到命令、对我的回复和说明里带命令的照片。若想让我记住这里分享的每张照片，"
        "请机器人主人在 @BotFather 中关闭隐私模式（/setprivacy），或把我设为管理员。",
    )


NO_OTHER_MATCHES = Text(
    "That's the only photo of this chat I know; send me more and try again.",
    "这是我在本聊天里知道的唯一一张照片；再发几张给我后重试吧。",
)
MATCHES_UNSENDABLE = Text(
    "I found matches, but Telegram wouldn't let me send them again (they may have been deleted).",
    "我找到了匹配的照片，但 Telegram 不允许我再次发送它们（它们可能已被删除）。",
)


def matches_missing(missing: int) -> Text:
    return Text(
        f"({missing} more {'match' if missing == 1 else 'matches'} could not be sent: the file is gone.)",
        f"（另有 {missing} 张匹配的照片无法发送：文件已不存在。）",
    )


def match_date(timestamp: int) -> Text:
    """The day a /find match was sent, as its caption shows it."""
    day = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return Text(day.strftime("%-d %b %Y"), f"{day.year}年{day.month}月{day.day}日")


FORGET_ADMINS_ONLY = Text(
    "Only this group's admins can make me forget its photos and history.",
    "只有本群管理员才能让我忘掉群里的照片和对话记录。",
)

# What each ChatStore keeps (its `what`), after a number: "3 indexed photos".
INDEXED_PHOTOS = Text("indexed photos", "张已索引的照片")
PHOTO_CONVERSATIONS = Text("photo conversations", "段照片对话")
REPOST_FINGERPRINTS = Text("photo fingerprints for /reposts", "个用于 /reposts 的照片指纹")


def forgotten(counts: dict[Text, int]) -> Text:
    """The /forget answer, from {what: how many} of each store."""
    kept = [(what, n) for what, n in counts.items() if n]
    if not kept:
        return Text(
            "Done. There was nothing to forget: I had kept nothing from this chat.",
            "完成。没有需要忘掉的：我没有保存这个聊天的任何内容。",
        )
    en = ", ".join(f"{n} {what.en}" for what, n in kept)
    zh = "、".join(f"{n} {what.zh}" for what, n in kept)
    return Text(
        f"Done. I deleted everything I kept from this chat: {en}.", f"完成。我已删除为这个聊天保存的一切：{zh}。"
    )


# --- /reposts and inline search -----------------------------------------------------------------

REPOSTS_USAGE = Text(
    "Send /reposts on to have me point out photos already posted in this chat, /reposts off to stop, "
    "or /reposts alone to see which it is.",
    "发送 /reposts on 让我指出本聊天里以前发过的照片，/reposts off 关闭，单独发送 /reposts 查看当前状态。",
)
REPOSTS_ADMINS_ONLY = Text(
    "Only this group's admins can switch /reposts.",
    "只有本群管理员才能开关 /reposts。",
)


def reposts_status(on: bool) -> Text:
    if on:
        return Text(
            "/reposts is on here: a photo already posted in this chat gets a reply linking to the first post.",
            "本聊天已开启 /reposts：以前发过的照片会收到一条附有第一次发布链接的回复。",
        )
    return Text(
        "/reposts is off here. Send /reposts on to have me point out photos posted here before.",
        "本聊天未开启 /reposts。发送 /reposts on 让我指出以前在这里发过的照片。",
    )


def reposts_switched(on: bool) -> Text:
    if on:
        return Text(
            "/reposts is on: from now on, a photo already posted here gets a reply linking to the first post.",
            "/reposts 已开启：从现在起，以前在这里发过的照片会收到一条附有第一次发布链接的回复。",
        )
    return Text(
        "/reposts is off, and the photo fingerprints it kept for this chat are deleted.",
        "/reposts 已关闭，为本聊天保存的照片指纹已删除。",
    )


def repost_seen(sender: str, timestamp: int, link: str | None) -> Text:
    """The reply to a repost: who posted the picture first, when, and a link where Telegram has one."""
    day = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")  # the same digits in both languages
    who_en = f" by {user_name(sender)}" if sender else ""
    who_zh = f"由 {user_name(sender)} " if sender else ""
    where = f"\n{link}" if link else ""
    return Text(
        f"🔁 Posted again: this picture was first posted here{who_en} on {day}.{where}",
        f"🔁 重复发布：这张照片最早{who_zh}于 {day} 发在这里。{where}",
    )


def inline_note(bot_username: str) -> Text:
    """/help's line about inline mode."""
    bot = f"@{bot_username}" if bot_username else "@bot"
    return Text(
        f"In any chat, type {bot} and a few words (with /find's filters) to pick one of the photos you sent me "
        "here in private; nobody else's photos, and no group's, are ever offered.",
        f"在任何聊天中输入 {bot} 加几个词（可用 /find 的筛选条件），即可从你私聊发给我的照片中挑选一张发送；"
        "绝不会出现别人的或群里的照片。",
    )


INLINE_NOT_ALLOWED = Text("This bot is private", "这是私人机器人")
INLINE_NO_PHOTOS = Text("Send me photos first", "请先给我发送照片")
INLINE_UNAVAILABLE = Text("Search is unavailable right now", "搜索暂时不可用")
INLINE_BAD_FILTER = Text("Can't read a filter: tap for help", "无法识别筛选条件：点此查看帮助")


# --- /stats (admins) ------------------------------------------------------------------------------


def stats_report(queue, backend: dict) -> Text:
    """The /stats message for a snapshot of the queue (GpuQueue.stats()) and the backend (Backend.stats())."""
    waiting = queue.waiting
    per_task = ", ".join(f"{task} {n}" for task, n in sorted(waiting.items()))
    total = sum(waiting.values())
    device = backend.get("device")
    loaded = backend.get("loaded", {})
    memory = backend.get("memory", {})

    def report(words: dict[str, str]) -> str:
        lines = [
            words["title"],
            words["queue"].format(total=total, tasks=f" ({per_task})" if per_task else "", running=queue.running),
            words["jobs"].format(served=queue.served, failed=queue.failed),
            words["indexing"].format(waiting=queue.background, done=queue.indexed, failed=queue.index_failed),
        ]
        where = device or words["not_started"]
        if loaded:
            lines.append(words["models"].format(device=where))
            lines += [
                f"  {task}: {m['source']} ({m['mb']} MB, {words['idle']} {m['idle_s']} s)" for task, m in loaded.items()
            ]
        else:
            lines.append(words["no_models"].format(device=where))
        if memory:
            lines.append(words["memory"] + ", ".join(f"{k.removesuffix('_mb')} {v} MB" for k, v in memory.items()))
        if "loads" in backend:
            lines.append(words["loads"].format(loads=backend["loads"], unloads=backend["unloads"]))
        server = backend.get("vlm_server")
        if server:  # VLM_URL: /ask and /box on a serving engine
            lines.append(words["vlm_server"].format(**server))
        return "\n".join(lines)

    return Text(
        report(
            {
                "title": "📊 Bot status",
                "queue": "Queue: {total} waiting{tasks}, {running} running",
                "jobs": "Jobs: {served} served, {failed} failed",
                "indexing": "Photo indexing: {waiting} waiting, {done} done, {failed} failed",
                "not_started": "not started",
                "models": "Models on {device}:",
                "idle": "idle",
                "no_models": "Models on {device}: none loaded",
                "memory": "Memory: ",
                "loads": "Model loads: {loads}, unloads: {unloads}",
                "vlm_server": "/ask and /box: {model} at {url}, {in_flight} in flight "
                "(at most {most_in_flight} so far), "
                "{requests} sent",
            }
        ),
        report(
            {
                "title": "📊 机器人状态",
                "queue": "队列：{total} 个等待{tasks}，{running} 个运行中",
                "jobs": "任务：已完成 {served} 个，失败 {failed} 个",
                "indexing": "照片索引：{waiting} 张等待，{done} 张完成，{failed} 张失败",
                "not_started": "尚未启动",
                "models": "{device} 上的模型：",
                "idle": "空闲",
                "no_models": "{device} 上的模型：未加载",
                "memory": "内存：",
                "loads": "模型加载 {loads} 次，卸载 {unloads} 次",
                "vlm_server": "/ask 和 /box：{url} 上的 {model}，{in_flight} 个进行中（最多时 {most_in_flight} 个），"
                "已发送 {requests} 个",
            }
        ),
    )


def all_texts() -> Iterable[Text]:
    """Every fixed Text of this module (for the check that each has both languages)."""
    yield from (value for value in list(globals().values()) if isinstance(value, Text))
    for command in COMMANDS.values():
        yield from (t for t in (command.summary, command.example, command.details) if t is not None)
    yield from _WHAT.values()
