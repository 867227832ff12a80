"""A fake Telegram Bot API server for end-to-end tests.

The real bot runs unchanged (python-telegram-bot pointed at ``base_url`` / ``base_file_url``) and
talks HTTP to this server, which runs in a background thread with its own asyncio loop (aiohttp on
127.0.0.1, random free port). The test thread drives it through a thread-safe synchronous API:
build users/chats/messages, ``inject`` updates that ``getUpdates`` long polling hands to the bot,
and inspect what the bot did (``calls``, ``bot_messages``, ``wait_for_call``...).

Replies use Telegram's JSON shapes, and bad calls fail with Telegram's own error codes and
descriptions (``message is not modified``, ``message is too long``, ``file is too big``...), so
the bot's error handling is exercised as in production.

    with FakeTelegram("123:TEST") as tg:
        alice = tg.user(1, "Alice")
        tg.send_message(tg.private_chat(alice), alice, text="/start")
        reply = tg.wait_for_bot_message(alice["id"], lambda m: "Hello" in m.get("text", ""))
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import html
import io
import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

try:
    from PIL import Image
except ImportError:  # pragma: no cover - Pillow is a test dependency
    Image = None  # type: ignore[assignment]

Json = dict[str, Any]
T = TypeVar("T")

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
DOWNLOAD_LIMIT = 20 * 1024 * 1024
UPLOAD_LIMIT = 50 * 1024 * 1024
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024
ALBUM_LIMIT = 10
CALLBACK_DATA_LIMIT = 64
LONG_POLL_LIMIT = 50.0
PHOTO_THUMB_SIDES = (90, 320, 800, 1280)
PHOTO_MAX_SIDE = 2560
UPDATE_KINDS = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "callback_query",
        "my_chat_member",
        "chat_member",
        "inline_query",
        "message_reaction",
    }
)
DEFAULT_ALLOWED_UPDATES = UPDATE_KINDS - {"chat_member", "message_reaction"}
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Form/query values that are plain strings; every other value is JSON-decoded (PTB JSON-encodes
# every non-string parameter, Telegram accepts "true", "123", ... in forms).
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_query_id",
        "next_offset",
        "url",
        "secret_token",
        "action",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "file_id",
        "photo",
        "document",
        "thumbnail",
        "message_effect_id",
        "ip_address",
        "title",
        "description",
        "short_description",
        "name",
        "emoji",
        "custom_title",
        "sticker",
        "question",
    }
)
ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": True,
    "can_edit_stories": True,
    "can_delete_stories": True,
    "can_pin_messages": True,
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup of "
    "the existing message are exactly the same"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
CONFLICT_POLLING = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
MD_V2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
MD_V2_MARKERS = (("||", "spoiler"), ("__", "underline"), ("*", "bold"), ("_", "italic"), ("~", "strikethrough"))
MD_V1_MARKERS = (("*", "bold"), ("_", "italic"))
MD_ENTITY_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}

_LOGGER = logging.getLogger(__name__)


class ApiError(Exception):
    """A Bot API error reply: HTTP status ``code`` and Telegram's ``description``."""

    def __init__(self, code: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def payload(self) -> Json:
        body: Json = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, "Bad Request: " + description)


@dataclass(frozen=True)
class FileRef:
    """A file stored on the fake server, as a test refers to it."""

    file_id: str
    file_unique_id: str
    file_size: int


@dataclass
class Call:
    """One recorded HTTP request to the Bot API (``params`` JSON-decoded, ``files`` uploads)."""

    method: str
    params: Json
    files: dict[str, bytes]
    time: float
    ok: bool = True
    result: Any = None  # the returned ``result`` or, when not ok, the error description

    def describe(self) -> str:
        params = json.dumps(self.params, ensure_ascii=False, default=str)
        files = f" files={sorted(self.files)}" if self.files else ""
        outcome = "ok" if self.ok else f"ERROR {self.result}"
        return f"{self.method} {params[:300]}{files} -> {outcome}"


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_size: int
    file_path: str
    kind: str  # "photo", "document" or "" (from add_file: usable as anything)
    fail_download: bool = False
    file_name: str | None = None
    mime_type: str | None = None


@dataclass
class _Upload:
    data: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass
class _Result:
    """A handler result with the ``description`` Telegram adds to some successful replies."""

    value: Any
    description: str


@dataclass
class _Failure:
    error: ApiError
    times: int = 1


@dataclass
class _Formatted:
    text: str | None
    entities: list[Json] = field(default_factory=list)


# ----------------------------------------------------------------------------- text formatting


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entities_error(message: str) -> ApiError:
    return _bad("can't parse entities: " + message)


def _parse_html(source: str) -> _Formatted:
    """Telegram's HTML parse mode: returns plain text and entities, or raises its errors."""
    out: list[str] = []
    entities: list[Json] = []
    stack: list[tuple[str, Json]] = []
    pos, i = 0, 0
    while i < len(source):
        byte = len(source[:i].encode())
        end = source.find(">", i)
        if source.startswith("</", i):
            if end < 0:
                raise _entities_error(f"Unclosed end tag at byte offset {byte}")
            name = source[i + 2 : end].strip().lower()
            if not stack:
                raise _entities_error(f"Unexpected end tag at byte offset {byte}")
            open_name, entity = stack.pop()
            if name != open_name:
                raise _entities_error(
                    f'Unmatched end tag at byte offset {byte}, expected "</{open_name}>", found "</{name}>"'
                )
            entity["length"] = pos - entity["offset"]
            if name == "code" and stack and stack[-1][0] == "pre" and "language" in entity:
                stack[-1][1]["language"] = entity["language"]  # <pre><code class="language-x">
            elif entity["length"] > 0 and (entity["type"] != "text_link" or entity.get("url")):
                entities.append(entity)
            i = end + 1
            continue
        if source[i] == "<":
            match = re.match(r"<([a-zA-Z][a-zA-Z0-9-]*)", source[i:])
            if match is None:
                raise _entities_error(f"Unexpected end of name token at byte offset {byte}")
            name = match.group(1).lower()
            if end < 0:
                raise _entities_error(f"Unclosed start tag at byte offset {byte}")
            raw_attrs = source[i + match.end() : end]
            attrs = {
                key.lower(): html.unescape(v1 or v2 or v3)
                for key, v1, v2, v3 in re.findall(
                    r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", raw_attrs
                )
            }
            if name not in HTML_TAGS or (name == "span" and attrs.get("class") != "tg-spoiler"):
                raise _entities_error(f'Unsupported start tag "{name}" at byte offset {byte}')
            entity: Json = {"type": HTML_TAGS[name], "offset": pos}
            if name == "a":
                entity["url"] = attrs.get("href", "")
            elif name == "code" and attrs.get("class", "").startswith("language-"):
                entity["language"] = attrs["class"].removeprefix("language-")
            elif name == "tg-emoji":
                entity["custom_emoji_id"] = attrs.get("emoji-id", "")
            elif name == "blockquote" and re.search(r"\bexpandable\b", raw_attrs):
                entity["type"] = "expandable_blockquote"
            stack.append((name, entity))
            i = end + 1
            continue
        escape = re.match(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);", source[i:])
        chunk = html.unescape(escape.group(0)) if escape else source[i]
        out.append(chunk)
        pos += _utf16_len(chunk)
        i += len(escape.group(0)) if escape else 1
    if stack:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{stack[0][0]}"')
    return _Formatted("".join(out), entities)


def _find_unescaped(source: str, token: str, start: int, v2: bool) -> int:
    j = start
    while j < len(source):
        if v2 and source[j] == "\\":
            j += 2
        elif source.startswith(token, j):
            return j
        else:
            j += 1
    return -1


def _parse_markdown(source: str, v2: bool) -> _Formatted:
    """Telegram's MarkdownV2 (``v2``) or legacy Markdown parse mode, simplified but strict."""
    out: list[str] = []
    entities: list[Json] = []
    stack: list[tuple[str, Json, int]] = []
    pos, i = 0, 0
    quote: Json | None = None
    quote_open = False

    def emit(chunk: str) -> None:
        nonlocal pos
        out.append(chunk)
        pos += _utf16_len(chunk)

    def unclosed(entity_type: str, byte: int) -> ApiError:
        if v2:
            return _entities_error(f"Can't find end of {MD_ENTITY_NAMES[entity_type]} entity at byte offset {byte}")
        return _entities_error(f"Can't find end of the entity starting at byte offset {byte}")

    while i < len(source):
        ch, byte = source[i], len(source[:i].encode())
        if v2 and ch == ">" and (i == 0 or source[i - 1] == "\n"):
            if quote is None or quote["offset"] + quote["length"] + 1 != pos:
                quote = {"type": "blockquote", "offset": pos, "length": 0}
                entities.append(quote)
            quote_open = True
            i += 1
            continue
        if ch == "\n" and quote is not None and quote_open:
            quote["length"], quote_open = pos - quote["offset"], False
        if ch == "\\" and i + 1 < len(source) and ((v2 and 0 < ord(source[i + 1]) < 127) or source[i + 1] in "_*`["):
            emit(source[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = "```" if source.startswith("```", i) else "`"
            close = _find_unescaped(source, fence, i + len(fence), v2)
            if close < 0:
                raise unclosed("pre" if fence == "```" else "code", byte)
            content = source[i + len(fence) : close]
            if v2:
                content = re.sub(r"\\([\\`])", r"\1", content)
            entity: Json = {"type": "pre" if fence == "```" else "code", "offset": pos}
            first, newline, rest = content.partition("\n")
            if fence == "```" and newline and first and not re.search(r"\s", first):
                entity["language"], content = first, rest
            emit(content)
            entity["length"] = pos - entity["offset"]
            if entity["length"]:
                entities.append(entity)
            i = close + len(fence)
            continue
        if ch == "[":
            stack.append(("[", {"type": "text_link", "offset": pos}, byte))
            i += 1
            continue
        if ch == "]" and stack and stack[-1][0] == "[" and source.startswith("(", i + 1):
            close = _find_unescaped(source, ")", i + 2, v2)
            if close < 0:
                raise unclosed("text_link", stack[-1][2])
            _, entity, _ = stack.pop()
            entity["url"] = re.sub(r"\\([\\)])", r"\1", source[i + 2 : close])
            entity["length"] = pos - entity["offset"]
            if entity["length"]:
                entities.append(entity)
            i = close + 1
            continue
        marker = next(
            ((m, t) for m, t in (MD_V2_MARKERS if v2 else MD_V1_MARKERS) if source.startswith(m, i)),
            None,
        )
        if marker is not None:
            if stack and stack[-1][0] == marker[0]:
                _, entity, _ = stack.pop()
                entity["length"] = pos - entity["offset"]
                if entity["length"]:
                    entities.append(entity)
            else:
                stack.append((marker[0], {"type": marker[1], "offset": pos}, byte))
            i += len(marker[0])
            continue
        if v2 and ch in MD_V2_RESERVED:
            raise _entities_error(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
        emit(ch)
        i += 1
    if quote is not None and quote_open:
        quote["length"] = pos - quote["offset"]
    if stack:
        raise unclosed(stack[0][1]["type"], stack[0][2])
    return _Formatted("".join(out), [e for e in entities if e["length"] > 0])


def _strip(formatted: _Formatted) -> _Formatted:
    """Telegram trims leading/trailing whitespace of texts and captions, shifting entities."""
    text = formatted.text or ""
    stripped = text.strip()
    shift, total = _utf16_len(text[: len(text) - len(text.lstrip())]), _utf16_len(stripped)
    entities = []
    for entity in formatted.entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return _Formatted(stripped, entities)


def _auto_entities(text: str) -> list[Json]:
    """Entities Telegram's clients add to user texts: bot commands and @mentions."""
    entities = []
    for pattern, kind in (
        (r"(?:^|(?<=\s))/[A-Za-z0-9_]{1,32}(?:@[A-Za-z][A-Za-z0-9_]{2,31})?(?![\w/])", "bot_command"),
        (r"(?:^|(?<=[\s(]))@[A-Za-z][A-Za-z0-9_]{3,31}\b", "mention"),
    ):
        for match in re.finditer(pattern, text):
            entities.append(
                {"offset": _utf16_len(text[: match.start()]), "length": _utf16_len(match.group(0)), "type": kind}
            )
    return sorted(entities, key=lambda e: e["offset"])


# ----------------------------------------------------------------------------- images


def _image_size(data: bytes) -> tuple[int, int] | None:
    if Image is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None


def _fit(width: int, height: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _thumbnail_jpeg(data: bytes, width: int, height: int) -> bytes | None:
    if Image is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            buffer = io.BytesIO()
            image.convert("RGB").resize((width, height)).save(buffer, "JPEG", quality=80)
            return buffer.getvalue()
    except Exception:
        return None


# ----------------------------------------------------------------------------- the server


class FakeTelegram:
    """A fake Bot API server on 127.0.0.1 with a thread-safe synchronous test API."""

    def __init__(
        self,
        token: str,
        bot_username: str = "tiny_test_bot",
        bot_id: int | None = None,
        *,
        bot_first_name: str = "Tiny Test Bot",
        can_read_all_group_messages: bool = False,
    ) -> None:
        prefix = token.split(":", 1)[0]
        self.token = token
        self.bot_id = bot_id if bot_id is not None else int(prefix) if prefix.isdigit() else 7000000001
        self.bot_username = bot_username
        self.bot_user: Json = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self._can_read_all = can_read_all_group_messages
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._stopping = False
        self._poll_event: asyncio.Event | None = None
        self._poll_generation = 0
        self._users: dict[int, Json] = {self.bot_id: self.bot_user}
        self._chats: dict[int, Json] = {}
        self._messages: dict[int, dict[int, Json]] = {}
        self._deleted: dict[int, dict[int, Json]] = {}
        self._last_message_id: dict[int, int] = {}
        self._bot_messages: set[tuple[int, int]] = set()
        self._edit_history: dict[tuple[int, int], list[str | None]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._photo_sets: dict[str, list[Json]] = {}
        self._counter = 0
        self._pending: list[Json] = []
        self._last_update_id = 100000
        self._confirmed = 0
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._webhook: Json = {"url": "", "secret_token": None}
        self._commands: dict[tuple[str, str], list[Json]] = {}
        self._callback_queries: dict[str, bool] = {}
        self._inline_queries: dict[str, Json | None] = {}  # id -> the answer (answerInlineQuery's parameters)
        self._members: dict[tuple[int, int], str] = {}
        self._forbidden: dict[int, str] = {}
        self._migrated: dict[int, int] = {}  # old group id -> its supergroup's id
        self._failures: dict[str, list[_Failure]] = {}
        self._calls: list[Call] = []
        self._chat_actions: dict[int, list[str]] = {}
        self._internal_errors: list[str] = []
        self._handlers: dict[str, Callable[[Json, dict[str, _Upload]], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._no_handler,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setWebhook": self._set_webhook,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendMediaGroup": self._send_media_group,
            "editMessageText": self._edit_text,
            "editMessageCaption": self._edit_caption,
            "editMessageReplyMarkup": self._edit_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "leaveChat": self._leave_chat,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "close": lambda p, f: True,
            "logOut": lambda p, f: True,
        }
        self._method_names = {name.lower(): name for name in self._handlers}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeTelegram:
        """Start the server thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("FakeTelegram already started")
        ready = threading.Event()
        errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready, errors), name="fake-telegram", daemon=True)
        self._thread.start()
        if not ready.wait(10) or errors:
            raise RuntimeError(f"fake Telegram server failed to start: {errors!r}")
        return self

    def stop(self) -> None:
        """Stop the server (pending long polls return empty) and join its thread."""
        if self._thread is None or self._loop is None:
            return
        with self._lock:
            self._stopping = True
        self._loop.call_soon_threadsafe(self._wake_pollers)
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)
        self._thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}/file/bot"

    def _require_port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._port

    def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._startup())
        except BaseException as error:
            errors.append(error)
            ready.set()
            return
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _startup(self) -> None:
        app = web.Application(client_max_size=UPLOAD_LIMIT + 10 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        self._poll_event = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _wake_pollers(self) -> None:
        """Wake every waiting getUpdates (runs in the loop thread)."""
        if self._poll_event is not None:
            event, self._poll_event = self._poll_event, asyncio.Event()
            event.set()

    def _notify(self) -> None:
        """Wake test-side waiters and long polls after a state change (caller holds the lock)."""
        self._cond.notify_all()
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is polling
                self._loop.call_soon_threadsafe(self._wake_pollers)

    # ------------------------------------------------------------------ builders

    def user(
        self,
        id: int,
        first_name: str = "Test",
        language_code: str | None = "en",
        username: str | None = None,
        *,
        last_name: str | None = None,
    ) -> Json:
        """A Telegram User (registered, so the bot may message them)."""
        user: Json = {"id": id, "is_bot": False, "first_name": first_name}
        for key, value in (("last_name", last_name), ("username", username), ("language_code", language_code)):
            if value is not None:
                user[key] = value
        with self._lock:
            self._users[id] = user
        return copy.deepcopy(user)

    def private_chat(self, user: Json) -> Json:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        return self._register_chat(chat)

    def group_chat(
        self, id: int, title: str = "Test group", is_forum: bool = False, *, username: str | None = None
    ) -> Json:
        """A group (ids below -10**12 and forums are supergroups, as on Telegram)."""
        if id >= 0:
            raise ValueError("group chat ids are negative")
        chat: Json = {"id": id, "title": title, "type": "supergroup" if is_forum or id < -(10**12) else "group"}
        if is_forum:
            chat["is_forum"] = True
        if username:
            chat["username"] = username
        return self._register_chat(chat)

    def message(
        self,
        chat: Json,
        from_user: Json | None,
        *,
        text: str | None = None,
        caption: str | None = None,
        photo: FileRef | bytes | None = None,
        document: FileRef | bytes | None = None,
        document_mime: str = "application/octet-stream",
        document_name: str = "document.bin",
        reply_to: Json | None = None,
        message_thread_id: int | None = None,
        media_group_id: str | int | None = None,
    ) -> Json:
        """A user's Message in ``chat`` (stored, not injected: see ``send_message``)."""
        if text is not None and (photo is not None or document is not None or caption is not None):
            raise ValueError("a message has either text or media with a caption")
        with self._lock:
            chat = self._register_chat(chat)
            msg: Json = {"message_id": self._next_message_id(chat["id"])}
            if from_user is not None:
                msg["from"] = copy.deepcopy(from_user)
                self._users.setdefault(from_user["id"], copy.deepcopy(from_user))
                self._members.setdefault((chat["id"], from_user["id"]), "member")
            else:
                msg["sender_chat"] = chat
            msg.update(chat=chat, date=int(time.time()))
            if message_thread_id is not None:
                msg["message_thread_id"] = message_thread_id
                if chat.get("is_forum"):
                    msg["is_topic_message"] = True
            if reply_to is not None:
                target = self._messages.get(reply_to["chat"]["id"], {}).get(reply_to["message_id"], reply_to)
                msg["reply_to_message"] = {k: v for k, v in copy.deepcopy(target).items() if k != "reply_to_message"}
            else:
                self._reply_to_topic_root(chat, msg)
            if media_group_id is not None:
                msg["media_group_id"] = str(media_group_id)
            try:
                if photo is not None:
                    stored = self._test_file(photo, "photo")
                    msg["photo"] = self._photo_set(stored.data, full=stored)
                if document is not None:
                    stored = self._test_file(document, "document", document_name, document_mime)
                    msg["document"] = self._document_json(stored)
                    # a file stored with add_file() has no name or type until it is sent as a document
                    msg["document"].setdefault("mime_type", document_mime)
                    msg["document"].setdefault("file_name", document_name)
            except ApiError as error:
                raise ValueError(error.description) from None
            for key, value in (("text", text), ("caption", caption)):
                if value is not None:
                    msg[key] = value
                    entities = _auto_entities(value)
                    if entities:
                        msg["entities" if key == "text" else "caption_entities"] = entities
            self._messages.setdefault(chat["id"], {})[msg["message_id"]] = msg
            return copy.deepcopy(msg)

    def forum_topic(self, chat: Json, name: str, creator: Json | None = None) -> Json:
        """A new topic in forum ``chat``: its first message, the ``forum_topic_created`` service message
        (stored, not injected). Its ``message_id`` is the topic's ``message_thread_id``; Telegram marks
        every later message of the topic as a reply to it."""
        if not chat.get("is_forum"):
            raise ValueError("topics exist only in forum supergroups")
        with self._lock:
            chat = self._register_chat(chat)
            # Topic 1 is the General topic, which has no forum_topic_created message.
            self._last_message_id[chat["id"]] = max(self._last_message_id.get(chat["id"], 0), 1)
            message_id = self._next_message_id(chat["id"])
            msg: Json = {
                "message_id": message_id,
                "message_thread_id": message_id,
                "from": copy.deepcopy(creator or self.bot_user),
                "chat": chat,
                "date": int(time.time()),
                "is_topic_message": True,
                "forum_topic_created": {"name": name, "icon_color": 7322096},
            }
            self._messages.setdefault(chat["id"], {})[message_id] = msg
            return copy.deepcopy(msg)

    def migrate_to_supergroup(self, group: Json, new_id: int, by: Json) -> tuple[Json, Json, Json]:
        """``by`` turns basic group ``group`` into a supergroup with id ``new_id`` (Telegram gives it a new id).

        Returns (the supergroup, its first message carrying ``migrate_from_chat_id``, the old group's last
        message carrying ``migrate_to_chat_id``); both messages are stored, not injected: Telegram sends the
        supergroup's first, and a bot may get only one of them. Later calls on the old id answer 400 with
        ``parameters.migrate_to_chat_id``, as Telegram does.
        """
        if group.get("type") != "group" or new_id > -(10**12):
            raise ValueError("only a basic group migrates, to a -100... supergroup id")
        with self._lock:
            supergroup = self._register_chat(
                {k: v for k, v in group.items() if k != "type"} | {"id": new_id, "type": "supergroup"}
            )
            for (chat_id, user_id), status in list(self._members.items()):
                if chat_id == group["id"]:
                    self._members[(new_id, user_id)] = status
            first = {
                "message_id": self._next_message_id(new_id),
                "from": copy.deepcopy(by),
                "chat": supergroup,
                "date": int(time.time()),
                "migrate_from_chat_id": group["id"],
            }
            last = {
                "message_id": self._next_message_id(group["id"]),
                "from": copy.deepcopy(by),
                "chat": self._chats[group["id"]],
                "date": int(time.time()),
                "migrate_to_chat_id": new_id,
            }
            self._messages.setdefault(new_id, {})[first["message_id"]] = first
            self._messages.setdefault(group["id"], {})[last["message_id"]] = last
            self._migrated[group["id"]] = new_id
            return copy.deepcopy(supergroup), copy.deepcopy(first), copy.deepcopy(last)

    def delete_by_user(self, message: Json) -> None:
        """The user deletes their ``message`` (a reply to it is then refused unless
        ``allow_sending_without_reply``)."""
        with self._lock:
            chat_id = message["chat"]["id"]
            self._deleted.setdefault(chat_id, {})[message["message_id"]] = self._messages[chat_id].pop(
                message["message_id"]
            )
            self._notify()

    def _reply_to_topic_root(self, chat: Json, msg: Json) -> None:
        """Telegram marks a forum topic's messages (not the General topic's) as replies to the topic's
        first message, the forum_topic_created service message."""
        thread_id = msg.get("message_thread_id")
        if not chat.get("is_forum") or not thread_id or thread_id == 1:
            return
        root = self._messages.get(chat["id"], {}).get(thread_id)
        if root is not None and "forum_topic_created" in root and root["message_id"] != msg["message_id"]:
            msg["reply_to_message"] = copy.deepcopy(root)

    def inject(self, update_payload: Json, kind: str = "message", *, update_id: int | None = None) -> int:
        """Queue an update for getUpdates; returns its update_id.

        ``update_id`` re-delivers an earlier update, as Telegram does when a bot died before its
        confirming getUpdates reached the server.
        """
        if kind not in UPDATE_KINDS:
            raise ValueError(f"unknown update kind {kind!r}")
        with self._lock:
            if update_id is None:
                self._last_update_id += 1
                update_id = self._last_update_id
            else:
                self._confirmed = min(self._confirmed, update_id - 1)
            payload = copy.deepcopy(update_payload)
            self._pending.append({"update_id": update_id, kind: payload})
            if kind == "callback_query":
                self._callback_queries.setdefault(payload["id"], False)
            if kind in ("edited_message", "edited_channel_post"):
                self._messages.setdefault(payload["chat"]["id"], {})[payload["message_id"]] = payload
            self._notify()
            return update_id

    def send_message(self, chat: Json, from_user: Json | None, **kwargs: Any) -> Json:
        """``message(...)`` + ``inject``: the user sends it; returns the Message."""
        msg = self.message(chat, from_user, **kwargs)
        self.inject(msg, "channel_post" if chat.get("type") == "channel" else "message")
        return msg

    def press_button(self, message: Json, callback_data: str, from_user: Json) -> Json:
        """The user presses an inline button of ``message`` (its current state); returns the
        injected CallbackQuery (its ``id`` is what the bot must answer)."""
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        with self._lock:
            current = self._messages.get(chat_id, {}).get(message_id)
            if current is None:
                raise AssertionError(f"message {message_id} in chat {chat_id} does not exist")
            buttons = [b for row in current.get("reply_markup", {}).get("inline_keyboard", []) for b in row]
            if not any(b.get("callback_data") == callback_data for b in buttons):
                raise AssertionError(
                    f"message {message_id} has no button with callback_data {callback_data!r}; "
                    f"buttons: {[(b.get('text'), b.get('callback_data')) for b in buttons]}"
                )
            self._counter += 1
            query = {
                "id": str(4_000_000_000_000_000_000 + self._counter),
                "from": copy.deepcopy(from_user),
                "message": copy.deepcopy(current),
                "chat_instance": str(int(hashlib.sha256(str(chat_id).encode()).hexdigest()[:15], 16)),
                "data": callback_data,
            }
            self.inject(query, "callback_query")
            return query

    def inline_query(self, from_user: Json, query: str, *, offset: str = "", chat_type: str | None = "sender") -> Json:
        """The user types ``@bot query`` in some chat: the InlineQuery Telegram sends (injected; returned).

        ``chat_type`` is the type of the chat the query was typed in ("sender" is the private chat with the
        bot itself, "private", "group", "supergroup", "channel"); None when Telegram doesn't know it (secret
        chats). The query holds no chat id: Telegram never tells a bot where an inline query was typed.
        """
        if len(query) > 256:
            raise ValueError("an inline query holds at most 256 characters")
        with self._lock:
            self._counter += 1
            payload: Json = {
                "id": str(5_000_000_000_000_000_000 + self._counter),
                "from": copy.deepcopy(from_user),
                "query": query,
                "offset": offset,
            }
            if chat_type is not None:
                payload["chat_type"] = chat_type
            self._users.setdefault(from_user["id"], copy.deepcopy(from_user))
            self._inline_queries[payload["id"]] = None
            self.inject(payload, "inline_query")
            return payload

    def inline_answer(self, query: Json) -> Json | None:
        """The bot's answerInlineQuery parameters for ``query`` (results JSON-decoded), None before it answers."""
        with self._lock:
            return copy.deepcopy(self._inline_queries.get(query["id"]))

    def wait_for_inline_answer(self, query: Json, timeout: float = 10.0) -> Json:
        return self._wait(lambda: self.inline_answer(query), timeout, f"an answer to inline query {query['query']!r}")

    def add_file(self, data: bytes, *, file_size: int | None = None, fail_download: bool = False) -> FileRef:
        """Store a file (e.g. one a user sends); ``file_size`` may claim a size over getFile's
        20 MB limit; ``fail_download`` makes its download URL answer 404."""
        with self._lock:
            stored = self._new_file(data, "", "files", file_size=file_size, fail_download=fail_download)
            return FileRef(stored.file_id, stored.file_unique_id, stored.file_size)

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes behind a file_id (e.g. what the bot uploaded)."""
        with self._lock:
            return self._files[file_id].data

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """Set a chat member's status: creator, administrator, member, left or kicked."""
        if status not in ("creator", "administrator", "member", "left", "kicked"):
            raise ValueError(f"unsupported status {status!r}")
        with self._lock:
            self._members[(chat_id, user_id)] = status

    def block(self, chat_id: int, description: str | None = None) -> None:
        """The user blocks the bot / the bot is kicked: later calls on the chat answer 403."""
        with self._lock:
            private = self._chats.get(chat_id, {}).get("type", "private") == "private"
            self._forbidden[chat_id] = description or (
                "Forbidden: bot was blocked by the user" if private else "Forbidden: bot was kicked from the group chat"
            )

    def fail_next(
        self,
        method: str,
        description: str | None = None,
        *,
        error_code: int = 400,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (429 with ``retry_after`` = flood
        control, description defaults to Telegram's)."""
        if retry_after is not None:
            error_code = 429
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after or 1}"
                if error_code == 429
                else "Bad Request: injected failure"
            )
        parameters = {"retry_after": retry_after or 1} if error_code == 429 else None
        with self._lock:
            name = self._method_names.get(method.lower(), method)
            self._failures.setdefault(name, []).append(_Failure(ApiError(error_code, description, parameters), times))

    # ------------------------------------------------------------------ recording

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls (all, or of one method, case-insensitive), oldest first."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method is None or c.method.lower() == method.lower()]

    def wait_for_call(
        self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 10.0, *, start: int = 0
    ) -> Call:
        """The first call of ``method`` matching ``predicate`` among calls recorded since
        ``reset_records()`` (skipping the first ``start`` of them); waits for it."""

        def find() -> Call | None:
            for call in self._calls[start:]:
                if call.method.lower() == method.lower() and (predicate is None or predicate(call)):
                    return copy.deepcopy(call)
            return None

        return self._wait(find, timeout, f"a {method} call")

    def bot_messages(self, chat_id: int) -> list[Json]:
        """Current state (after edits) of the bot's undeleted messages in the chat."""
        with self._lock:
            return [
                copy.deepcopy(m)
                for mid, m in sorted(self._messages.get(chat_id, {}).items())
                if (chat_id, mid) in self._bot_messages
            ]

    def deleted_messages(self, chat_id: int) -> list[Json]:
        """Messages (the bot's and users') deleted in the chat, in their last state."""
        with self._lock:
            return [copy.deepcopy(m) for _, m in sorted(self._deleted.get(chat_id, {}).items())]

    def wait_for_bot_message(
        self, chat_id: int, predicate: Callable[[Json], bool] | None = None, timeout: float = 10.0
    ) -> Json:
        """The first current bot message in the chat matching ``predicate``; waits for it."""

        def find() -> Json | None:
            return next((m for m in self.bot_messages(chat_id) if predicate is None or predicate(m)), None)

        return self._wait(find, timeout, f"a bot message in chat {chat_id}", chat_id)

    def edits_of(self, chat_id: int, message_id: int) -> list[str | None]:
        """Texts (or captions) a bot message had: the original first, then each edit's."""
        with self._lock:
            return list(self._edit_history.get((chat_id, message_id), []))

    def chat_actions(self, chat_id: int) -> list[str]:
        with self._lock:
            return list(self._chat_actions.get(chat_id, []))

    def my_commands(self, scope: Json | None = None, language_code: str = "") -> list[Json]:
        with self._lock:
            return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    def webhook(self) -> Json:
        """The webhook set by the bot: ``url`` ("" when none) and ``secret_token``."""
        with self._lock:
            return dict(self._webhook)

    def updates_confirmed(self) -> int:
        """The highest update_id the bot confirmed (getUpdates with offset = that + 1)."""
        with self._lock:
            return self._confirmed

    def wait_for_confirmed(self, update_id: int, timeout: float = 10.0) -> None:
        self._wait(
            lambda: True if self._confirmed >= update_id else None,
            timeout,
            f"update {update_id} to be confirmed (confirmed: {self._confirmed})",
        )

    def pending_updates(self) -> list[Json]:
        """Updates not yet confirmed by the bot."""
        with self._lock:
            return copy.deepcopy(self._pending)

    def reset_records(self) -> None:
        """Forget recorded calls and chat actions (messages, files and edits stay)."""
        with self._lock:
            self._calls.clear()
            self._chat_actions.clear()

    def _wait(self, find: Callable[[], T | None], timeout: float, what: str, chat_id: int | None = None) -> T:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = find()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self._report(chat_id)}")
                self._cond.wait(remaining)

    def _report(self, chat_id: int | None) -> str:
        polls = sum(c.method == "getUpdates" for c in self._calls)
        lines = [f"recorded calls ({polls} getUpdates not shown):"]
        lines += ["  " + c.describe() for c in self._calls if c.method != "getUpdates"][-40:]
        if chat_id is not None:
            lines.append(f"bot messages in chat {chat_id}:")
            lines += [
                f"  #{m['message_id']}: {m.get('text', m.get('caption', '<media>'))!r}"
                for m in self.bot_messages(chat_id)
            ]
        if self._internal_errors:
            lines.append("FAKE SERVER ERRORS:\n" + "\n".join(self._internal_errors))
        return "\n".join(lines)

    # ------------------------------------------------------------------ HTTP

    async def _handle_api(self, request: web.Request) -> web.Response:
        raw_method = request.match_info["method"]
        method = self._method_names.get(raw_method.lower(), raw_method)
        params: Json = {}
        uploads: dict[str, _Upload] = {}
        received = time.time()
        try:
            if request.match_info["token"] != self.token:
                # Telegram: a well-formed token it doesn't know is 401, a malformed one 404.
                well_formed = re.fullmatch(r"\d+:[A-Za-z0-9_-]{30,}", request.match_info["token"])
                raise ApiError(401, "Unauthorized") if well_formed else ApiError(404, "Not Found")
            params, uploads = await self._read_params(request)
            if raw_method.lower() not in self._method_names:
                raise ApiError(404, "Not Found")
            with self._lock:
                self._take_failure(method)
            if method == "getUpdates":
                result = await self._get_updates(params)
            else:
                with self._lock:
                    result = self._handlers[method](params, uploads)
            body: Json = {"ok": True, "result": result}
            if isinstance(result, _Result):
                body = {"ok": True, "result": result.value, "description": result.description}
            status = 200
        except ApiError as error:
            body, status = error.payload(), error.code
        except Exception:
            trace = traceback.format_exc()
            _LOGGER.error("fake Telegram failed on %s:\n%s", method, trace)
            body = {"ok": False, "error_code": 500, "description": f"Internal Server Error: {trace}"}
            status = 500
            with self._lock:
                self._internal_errors.append(trace)
        with self._lock:
            self._calls.append(
                Call(
                    method,
                    params,
                    {name: u.data for name, u in uploads.items()},
                    received,
                    ok=body["ok"],
                    result=body.get("result") if body["ok"] else body["description"],
                )
            )
            self._cond.notify_all()
        return web.json_response(body, status=status)

    async def _handle_download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        path = request.match_info["path"]
        with self._lock:
            stored = self._files_by_path.get(path)
            ok = stored is not None and not stored.fail_download
            self._calls.append(
                Call("file_download", {"file_path": path}, {}, time.time(), ok=ok, result=None if ok else "Not Found")
            )
            self._cond.notify_all()
        if not ok or stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _read_params(self, request: web.Request) -> tuple[Json, dict[str, _Upload]]:
        params = {key: self._decode(key, value) for key, value in request.query.items()}
        uploads: dict[str, _Upload] = {}
        if not request.body_exists:
            return params, uploads
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise _bad("parameters must be a JSON object")
            for key, value in body.items():
                params[key] = self._decode(key, value) if key == "chat_id" else value
        else:
            try:
                form = await request.post()
            except web.HTTPRequestEntityTooLarge:
                raise ApiError(413, "Request Entity Too Large") from None
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = _Upload(value.file.read(), value.filename, value.content_type)
                else:
                    params[key] = self._decode(key, value)
        return params, uploads

    @staticmethod
    def _decode(key: str, value: Any) -> Any:
        if not isinstance(value, str) or key in STRING_PARAMS:
            return value
        if key == "chat_id":
            return int(value) if re.fullmatch(r"-?\d+", value) else value
        try:
            return json.loads(value)
        except ValueError:
            return value

    def _take_failure(self, method: str) -> None:
        queue = self._failures.get(method)
        if queue:
            failure = queue[0]
            failure.times -= 1
            if failure.times <= 0:
                queue.pop(0)
            raise failure.error

    # ------------------------------------------------------------------ updates

    def _no_handler(self, params: Json, uploads: dict[str, _Upload]) -> Any:
        raise AssertionError("getUpdates is handled asynchronously")

    async def _get_updates(self, params: Json) -> list[Json]:
        with self._lock:
            if self._webhook["url"]:
                raise ApiError(409, CONFLICT_WEBHOOK)
            self._poll_generation += 1
            generation = self._poll_generation
            offset = int(params.get("offset") or 0)
            if offset < 0:
                drop = self._pending[:offset]
                self._pending = self._pending[offset:]
                if drop:
                    self._confirmed = max(self._confirmed, drop[-1]["update_id"])
            elif offset > 0:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
                self._confirmed = max(self._confirmed, offset - 1)
            limit = int(params.get("limit") or 100)
            limit = min(max(limit, 1), 100)
            allowed = params.get("allowed_updates")
            if isinstance(allowed, list):
                self._allowed_updates = frozenset(allowed) or DEFAULT_ALLOWED_UPDATES
            self._cond.notify_all()
        self._wake_pollers()  # an older poller now answers 409
        timeout = min(float(params.get("timeout") or 0), LONG_POLL_LIMIT)
        assert self._loop is not None
        deadline = self._loop.time() + timeout
        while True:
            event = self._poll_event
            with self._lock:
                if generation != self._poll_generation:
                    raise ApiError(409, CONFLICT_POLLING)
                self._pending = [
                    u for u in self._pending if next(k for k in u if k != "update_id") in self._allowed_updates
                ]
                if self._pending or self._stopping:
                    return copy.deepcopy(self._pending[:limit])
            remaining = deadline - self._loop.time()
            if remaining <= 0 or event is None:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _get_me(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": self._can_read_all,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _set_webhook(self, params: Json, uploads: dict[str, _Upload]) -> _Result:
        url = params.get("url") or ""
        if not url:
            return self._delete_webhook(params, uploads)
        if not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            # Bot API: secret_token is 1-256 characters, only A-Z, a-z, 0-9, _ and -.
            raise _bad(
                "secret token contains unallowed characters" if len(str(secret)) <= 256 else "secret token is too long"
            )
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self._webhook = {"url": url, "secret_token": params.get("secret_token")}
        return _Result(True, "Webhook was set")

    def _delete_webhook(self, params: Json, uploads: dict[str, _Upload]) -> _Result:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        had = bool(self._webhook["url"])
        self._webhook = {"url": "", "secret_token": None}
        return _Result(True, "Webhook was deleted" if had else "Webhook is already deleted")

    def _get_webhook_info(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        return {
            "url": self._webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    # ------------------------------------------------------------------ chats

    def _register_chat(self, chat: Json) -> Json:
        with self._lock:
            self._chats[chat["id"]] = copy.deepcopy(chat)
            return copy.deepcopy(chat)

    def _target_chat(self, params: Json, key: str = "chat_id") -> Json:
        chat_id = params.get(key)
        chat = None
        if isinstance(chat_id, int):
            chat = self._chats.get(chat_id)
            user = self._users.get(chat_id)
            if chat is None and user is not None and not user["is_bot"]:
                chat = self.private_chat(user)
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            chat = next((c for c in self._chats.values() if c.get("username", "").lower() == chat_id[1:].lower()), None)
        if chat is None:
            raise _bad("chat not found")
        if chat["id"] in self._forbidden:
            raise ApiError(403, self._forbidden[chat["id"]])
        if chat["id"] in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat["id"]]},
            )
        return copy.deepcopy(chat)

    def _member_status(self, chat: Json, user_id: int) -> str | None:
        if chat["type"] == "private" and user_id in (chat["id"], self.bot_id):
            return "member"
        default = "member" if user_id == self.bot_id else "left" if user_id in self._users else None
        return self._members.get((chat["id"], user_id), default)

    def _chat_member_json(self, chat: Json, user_id: int, status: str) -> Json:
        member: Json = {"status": status, "user": copy.deepcopy(self._users[user_id])}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(ADMIN_RIGHTS, can_manage_topics=bool(chat.get("is_forum")))
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _get_chat(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        return {
            **self._target_chat(params),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _get_chat_member(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        chat = self._target_chat(params)
        user_id = params.get("user_id")
        status = self._member_status(chat, user_id) if isinstance(user_id, int) else None
        if status is None or user_id not in self._users:
            raise _bad("user not found")
        return self._chat_member_json(chat, user_id, status)

    def _get_chat_administrators(self, params: Json, uploads: dict[str, _Upload]) -> list[Json]:
        chat = self._target_chat(params)
        if chat["type"] == "private":
            raise _bad("there are no administrators in the private chat")
        admins = sorted(
            (
                (uid, status)
                for (cid, uid), status in self._members.items()
                if cid == chat["id"] and status in ("creator", "administrator")
            ),
            key=lambda item: item[1] != "creator",
        )
        return [self._chat_member_json(chat, uid, status) for uid, status in admins]

    def _leave_chat(self, params: Json, uploads: dict[str, _Upload]) -> bool:
        chat = self._target_chat(params)
        if chat["type"] == "private":
            raise _bad("chat member status can't be changed in private chats")
        self._members[(chat["id"], self.bot_id)] = "left"
        self._forbidden[chat["id"]] = f"Forbidden: bot is not a member of the {chat['type']} chat"
        return True

    # ------------------------------------------------------------------ files

    def _new_file(
        self,
        data: bytes,
        kind: str,
        folder: str,
        *,
        salt: str = "",
        file_size: int | None = None,
        fail_download: bool = False,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> _StoredFile:
        self._counter += 1
        digest = hashlib.sha256(salt.encode() + data).digest()
        unique = {"photo": "AQAD", "document": "AgAD"}.get(kind, "AwAD") + base64.urlsafe_b64encode(digest[:9]).decode()
        file_id = {"photo": "AgACAgIAAxkBAAI", "document": "BQACAgIAAxkBAAI"}.get(
            kind, "CAACAgIAAxkBAAI"
        ) + base64.urlsafe_b64encode(hashlib.sha256(f"{self._counter}:{unique}".encode()).digest()[:30]).decode()
        suffix = ".jpg" if kind == "photo" else re.sub(r"^[^.]*|[^\w.]", "", (file_name or "").rsplit("/", 1)[-1])[-10:]
        stored = _StoredFile(
            file_id,
            unique,
            data,
            len(data) if file_size is None else file_size,
            f"{folder}/file_{self._counter}{suffix}",
            kind,
            fail_download,
            file_name,
            mime_type,
        )
        self._files[file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _test_file(
        self, source: FileRef | bytes, kind: str, name: str | None = None, mime: str | None = None
    ) -> _StoredFile:
        if isinstance(source, FileRef):
            return self._files[source.file_id]
        if kind == "document":
            return self._new_file(source, kind, "documents", file_name=name, mime_type=mime)
        return self._new_file(source, kind, "photos")

    def _lookup_file(self, file_id: str) -> _StoredFile:
        if re.match(r"https?://", file_id):
            raise _bad("failed to get HTTP URL content")
        stored = self._files.get(file_id)
        if stored is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        return stored

    def _photo_set(self, data: bytes, full: _StoredFile | None = None) -> list[Json]:
        """PhotoSizes Telegram makes of an image: thumbnails, then the full-size entry."""
        size = _image_size(data)
        if size is None:
            raise _bad("IMAGE_PROCESS_FAILED")
        width, height = size
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            raise _bad("PHOTO_INVALID_DIMENSIONS")
        sizes = []
        for side in PHOTO_THUMB_SIDES:
            if side != PHOTO_THUMB_SIDES[0] and max(width, height) <= side:
                break
            thumb_w, thumb_h = _fit(width, height, side)
            thumb = _thumbnail_jpeg(data, thumb_w, thumb_h) or data
            stored = self._new_file(thumb, "photo", "photos", salt=f"thumb{side}")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": stored.file_size,
                    "width": thumb_w,
                    "height": thumb_h,
                }
            )
        full = full or self._new_file(data, "photo", "photos")
        full_w, full_h = _fit(width, height, PHOTO_MAX_SIDE)
        sizes.append(
            {
                "file_id": full.file_id,
                "file_unique_id": full.file_unique_id,
                "file_size": full.file_size,
                "width": full_w,
                "height": full_h,
            }
        )
        for entry in sizes:
            self._photo_sets[entry["file_id"]] = sizes
        return copy.deepcopy(sizes)

    def _photo_from(self, source: _Upload | str | None) -> list[Json]:
        if isinstance(source, _Upload):
            if len(source.data) > PHOTO_UPLOAD_LIMIT:
                raise _bad("file is too big")
            return self._photo_set(source.data)
        if not source:
            raise _bad("there is no photo in the request")
        stored = self._lookup_file(source)
        if stored.file_id in self._photo_sets:
            return copy.deepcopy(self._photo_sets[stored.file_id])
        if stored.kind == "document":
            raise _bad("type of file mismatch")
        return self._photo_set(stored.data, full=stored)

    def _document_from(self, source: _Upload | str | None) -> Json:
        if isinstance(source, _Upload):
            if len(source.data) > UPLOAD_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            stored = self._new_file(
                source.data, "document", "documents", file_name=source.filename, mime_type=source.content_type
            )
        elif not source:
            raise _bad("there is no document in the request")
        else:
            stored = self._lookup_file(source)
        return self._document_json(stored)

    @staticmethod
    def _document_json(stored: _StoredFile) -> Json:
        document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.file_size}
        for key in ("file_name", "mime_type"):
            if getattr(stored, key):
                document[key] = getattr(stored, key)
        return document

    @staticmethod
    def _input_file(value: Any, uploads: dict[str, _Upload], name: str) -> _Upload | str | None:
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad("wrong file identifier/HTTP URL specified")
            return upload
        if value in (None, ""):
            return uploads.get(name)
        return str(value)

    def _get_file(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _bad("invalid file_id")
        if stored.file_size > DOWNLOAD_LIMIT:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    # ------------------------------------------------------------------ messages

    def _next_message_id(self, chat_id: int) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _formatted(self, params: Json, key: str, entities_key: str, limit: int) -> _Formatted:
        raw = params.get(key)
        if raw is None or raw == "":
            return _Formatted(None)
        raw, given = str(raw), params.get(entities_key)
        mode = str(params.get("parse_mode") or "").lower()
        if isinstance(given, list):
            formatted = _Formatted(raw, copy.deepcopy(given))
        elif mode == "html":
            formatted = _parse_html(raw)
        elif mode in ("markdownv2", "markdown"):
            formatted = _parse_markdown(raw, v2=mode == "markdownv2")
        elif mode:
            raise _bad("unsupported parse_mode")
        else:
            formatted = _Formatted(raw)
        formatted = _strip(formatted)
        if _utf16_len(formatted.text or "") > limit:
            raise _bad("message is too long" if key == "text" else "message caption is too long")
        return formatted if formatted.text else _Formatted(None)

    def _text(self, params: Json) -> _Formatted:
        formatted = self._formatted(params, "text", "entities", TEXT_LIMIT)
        if formatted.text is None:
            raise _bad("message text is empty")
        return formatted

    def _caption(self, params: Json) -> _Formatted:
        return self._formatted(params, "caption", "caption_entities", CAPTION_LIMIT)

    def _reply_target(self, chat: Json, params: Json) -> Json | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id, allow = reply.get("message_id"), reply.get("allow_sending_without_reply")
        elif params.get("reply_to_message_id"):
            message_id = params["reply_to_message_id"]
            allow = params.get("allow_sending_without_reply")
        else:
            return None
        target = self._messages.get(chat["id"], {}).get(message_id)
        if target is None:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return {k: v for k, v in copy.deepcopy(target).items() if k != "reply_to_message"}

    @staticmethod
    def _markup(params: Json) -> Json | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return None  # reply keyboards are not echoed back in the Message
        for button in (b for row in rows for b in row):
            if set(button) == {"text"}:
                raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            if len(str(button.get("callback_data", "")).encode()) > CALLBACK_DATA_LIMIT:
                raise _bad("BUTTON_DATA_INVALID")
        return copy.deepcopy(markup) if any(rows) else None

    def _post(self, chat: Json, params: Json, reply: Json | None, markup: Json | None, **content: Any) -> Json:
        """Store a new bot message in ``chat`` (all validation done) and return it."""
        msg: Json = {"message_id": self._next_message_id(chat["id"])}
        if chat["type"] == "channel":
            msg["sender_chat"] = chat
        else:
            msg["from"] = copy.deepcopy(self.bot_user)
        msg.update(chat=chat, date=int(time.time()))
        if params.get("message_thread_id"):
            msg["message_thread_id"] = params["message_thread_id"]
            if chat.get("is_forum"):
                msg["is_topic_message"] = True
        if reply is not None:
            msg["reply_to_message"] = reply
        else:
            self._reply_to_topic_root(chat, msg)
        msg.update({k: v for k, v in content.items() if v not in (None, [])})
        if params.get("has_spoiler") and "photo" in msg:
            msg["has_media_spoiler"] = True
        if params.get("protect_content"):
            msg["has_protected_content"] = True
        if markup is not None:
            msg["reply_markup"] = markup
        self._messages.setdefault(chat["id"], {})[msg["message_id"]] = msg
        self._bot_messages.add((chat["id"], msg["message_id"]))
        self._edit_history[(chat["id"], msg["message_id"])] = [msg.get("text", msg.get("caption"))]
        self._notify()
        return copy.deepcopy(msg)

    def _send_message(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        chat = self._target_chat(params)
        text = self._text(params)
        reply, markup = self._reply_target(chat, params), self._markup(params)
        return self._post(chat, params, reply, markup, text=text.text, entities=text.entities)

    def _send_photo(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        chat = self._target_chat(params)
        caption = self._caption(params)
        reply, markup = self._reply_target(chat, params), self._markup(params)
        photo = self._photo_from(self._input_file(params.get("photo"), uploads, "photo"))
        return self._post(
            chat, params, reply, markup, photo=photo, caption=caption.text, caption_entities=caption.entities
        )

    def _send_document(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        chat = self._target_chat(params)
        caption = self._caption(params)
        reply, markup = self._reply_target(chat, params), self._markup(params)
        document = self._document_from(self._input_file(params.get("document"), uploads, "document"))
        return self._post(
            chat, params, reply, markup, document=document, caption=caption.text, caption_entities=caption.entities
        )

    def _send_media_group(self, params: Json, uploads: dict[str, _Upload]) -> list[Json]:
        chat = self._target_chat(params)
        media = params.get("media")
        if media is None:
            raise _bad('parameter "media" is required')
        if not isinstance(media, list) or not media:
            raise _bad("there are no messages to send")
        if len(media) > ALBUM_LIMIT:
            raise _bad("too many messages to send as an album")
        types = [item.get("type") for item in media]
        for kind in types:
            if kind not in ("photo", "document"):
                raise _bad(f'can\'t parse InputMedia: type "{kind}" is not supported by the fake')
        if "document" in types and set(types) != {"document"}:
            raise _bad("document can't be mixed with other media types")
        reply = self._reply_target(chat, params)
        contents = []
        for number, item in enumerate(media, start=1):
            caption = self._caption(item)
            source = self._input_file(item.get("media"), uploads, "")
            try:
                content = self._photo_from(source) if item["type"] == "photo" else self._document_from(source)
            except ApiError as error:
                detail = error.description.removeprefix("Bad Request: ")
                raise _bad(
                    f'failed to send message #{number} with the error message "{detail[:1].upper()}{detail[1:]}"'
                ) from None
            contents.append({item["type"]: content, "caption": caption.text, "caption_entities": caption.entities})
        group_id = None
        if len(contents) > 1:
            self._counter += 1
            group_id = str(13_000_000_000_000_000 + self._counter)
        return [self._post(chat, params, reply, None, media_group_id=group_id, **content) for content in contents]

    def _edit_target(self, params: Json) -> Json:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._target_chat(params)
        msg = self._messages.get(chat["id"], {}).get(params.get("message_id"))
        if msg is None:
            raise _bad("message to edit not found")
        if (chat["id"], msg["message_id"]) not in self._bot_messages:
            raise _bad("message can't be edited")
        return msg

    def _apply_edit(self, msg: Json, fields: Json, markup: Json | None) -> Json:
        new = {k: v for k, v in fields.items() if v not in (None, [])}
        old = {k: msg[k] for k in fields if msg.get(k) not in (None, [])}
        if new == old and markup == msg.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        for key in fields:
            msg.pop(key, None)
        msg.update(new)
        msg.pop("reply_markup", None)
        if markup is not None:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        if fields:
            self._edit_history[(msg["chat"]["id"], msg["message_id"])].append(new.get("text", new.get("caption")))
        self._notify()
        return copy.deepcopy(msg)

    def _edit_text(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        msg = self._edit_target(params)
        if "text" not in msg:
            raise _bad("there is no text in the message to edit")
        text = self._text(params)
        return self._apply_edit(msg, {"text": text.text, "entities": text.entities}, self._markup(params))

    def _edit_caption(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        msg = self._edit_target(params)
        if "text" in msg:
            raise _bad("there is no caption in the message to edit")
        caption = self._caption(params)
        return self._apply_edit(
            msg, {"caption": caption.text, "caption_entities": caption.entities}, self._markup(params)
        )

    def _edit_reply_markup(self, params: Json, uploads: dict[str, _Upload]) -> Json:
        return self._apply_edit(self._edit_target(params), {}, self._markup(params))

    def _delete_one(self, chat: Json, message_id: Any) -> bool:
        msg = self._messages.get(chat["id"], {}).get(message_id)
        if msg is None:
            return False
        if (
            chat["type"] != "private"
            and (chat["id"], message_id) not in self._bot_messages
            and self._member_status(chat, self.bot_id) not in ("administrator", "creator")
        ):
            raise _bad("message can't be deleted")
        self._deleted.setdefault(chat["id"], {})[message_id] = self._messages[chat["id"]].pop(message_id)
        self._notify()
        return True

    def _delete_message(self, params: Json, uploads: dict[str, _Upload]) -> bool:
        if not self._delete_one(self._target_chat(params), params.get("message_id")):
            raise _bad("message to delete not found")
        return True

    def _delete_messages(self, params: Json, uploads: dict[str, _Upload]) -> bool:
        chat = self._target_chat(params)
        for message_id in params.get("message_ids") or []:
            self._delete_one(chat, message_id)
        return True

    def _send_chat_action(self, params: Json, uploads: dict[str, _Upload]) -> bool:
        chat = self._target_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self._chat_actions.setdefault(chat["id"], []).append(params["action"])
        return True

    def _answer_callback_query(self, params: Json, uploads: dict[str, _Upload]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self._callback_queries.get(query_id, True):
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._callback_queries[query_id] = True
        return True

    def _answer_inline_query(self, params: Json, uploads: dict[str, _Upload]) -> bool:
        """answerInlineQuery, checked as Telegram checks it: a known query answered once, at most 50
        results with unique ids of 1-64 bytes, cached photos by a file_id Telegram knows, a valid button."""
        query_id = str(params.get("inline_query_id") or "")
        if query_id not in self._inline_queries or self._inline_queries[query_id] is not None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        results = params.get("results")
        if isinstance(results, str):
            results = json.loads(results)
        if not isinstance(results, list):
            raise _bad("can't parse inline query results JSON object")
        if len(results) > 50:
            raise _bad("RESULTS_TOO_MUCH")
        ids = [str(r.get("id", "")) for r in results]
        if any(not 1 <= len(i.encode()) <= 64 for i in ids):
            raise _bad("RESULT_ID_INVALID")
        if len(set(ids)) != len(ids):
            raise _bad("RESULT_ID_DUPLICATE")
        for result in results:
            if result.get("type") == "photo" and "photo_file_id" in result:
                self._lookup_file(str(result["photo_file_id"]))
                if _utf16_len(str(result.get("caption", ""))) > 1024:
                    raise _bad("MEDIA_CAPTION_TOO_LONG")
            elif result.get("type") not in ("article", "photo", "document"):
                raise _bad(f"unsupported inline query result type {result.get('type')!r}")
        if len(str(params.get("next_offset") or "").encode()) > 64:
            raise _bad("NEXT_OFFSET_INVALID")
        button = params.get("button")
        if isinstance(button, str):
            button = json.loads(button)
        if button is not None:
            start = str(button.get("start_parameter", ""))
            if "web_app" not in button and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", start):
                raise _bad("START_PARAM_INVALID")
        self._inline_queries[query_id] = {**params, "results": results, "button": button}
        return True

    # ------------------------------------------------------------------ commands

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), str(language_code or "")

    def _set_my_commands(self, params: Json, uploads: dict[str, _Upload]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad("command description must be non-empty")
        scope = params.get("scope")
        if isinstance(scope, dict) and scope.get("type") in ("chat", "chat_administrators", "chat_member"):
            # Telegram knows a chat only once it has talked to the bot: an admin who never opened a
            # private chat with it gives "chat not found".
            chat_id = scope.get("chat_id")
            if chat_id not in self._chats:
                raise _bad("chat not found")
            if scope["type"] == "chat_member" and scope.get("user_id") not in self._users:
                raise _bad("user not found")
        key = self._commands_key(scope, params.get("language_code"))
        self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _get_my_commands(self, params: Json, uploads: dict[str, _Upload]) -> list[Json]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return copy.deepcopy(self._commands.get(key, []))

    def _delete_my_commands(self, params: Json, uploads: dict[str, _Upload]) -> bool:
        self._commands.pop(self._commands_key(params.get("scope"), params.get("language_code")), None)
        return True
