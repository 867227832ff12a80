"""RemoteVlm: /ask and /box answered by an OpenAI-compatible serving engine (VLM_URL), streamed.

Where it runs, and why there: on the bot's event loop, as asyncio code behind the backend seam
(bot.backends.remote.RemoteVlmBackend routes Task.ASK and Task.BOX here, every other task to the
device's backend), not as a ModelPool adapter on the device worker. Waiting on the network needs
no device: run on the worker thread, every answer would hold the one thread that drives the GPU,
so /caption, /find and /gen would queue behind a 20 s answer being decoded elsewhere, and answers
would go to the server one at a time, though the server's whole point is to batch many. Here each
request is one coroutine and one HTTP stream, so many are in flight at once (the queue gives these
tasks their own VLM_MAX_IN_FLIGHT slots beside the device's); the engine batches them, we don't.
It imports no torch (the bot process runs it), only the official `openai` client.

What stays the same as in-process (models.chat_vlm): the conversation with the photo in the first
user turn and the newest turns that fit VLM_CONTEXT_TOKENS, partial answers through `on_partial`
(into the same flood-safe message edits), the visible answer without thinking, and /box's
grounding format and prompt chosen by the model family. The family comes from VLM_FAMILY, else
from VLM_MODEL's name ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5vl:7b" -> qwen2_5_vl), else from
config.json when VLM_MODEL is a local directory. Qwen2.5-VL writes boxes in pixels of the image
its processor made, so the photo is sent already resized the way that processor would resize it
(`smart_resize`: sides multiples of 28, at most VLM_IMAGE_PIXELS): the server keeps it as it is
(as long as its own max_pixels is not lower), and its coordinates map back exactly. An album's photos go
as several image_url parts of the first user message, each scaled to VLM_IMAGE_PIXELS / n.

Server errors become contract WorkerErrors whose kinds the bot puts into words (unreachable, key refused, no such model,
request refused, server failure) and one log line each; users never see a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from contract.errors import ErrorKind, InputRejected, ModelUnavailable, WorkerError
from contract.requests import Answer, AskRequest, Boxes, BoxRequest, Turn
from models.chat_format import GROUNDING, grounding_prompt, visible_answer
from models.grounding import GroundingFormat, parse_boxes

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletionMessageParam
    from PIL.Image import Image

    from bot.settings import Settings
    from contract.worker import Interrupt, OnPartial

log = logging.getLogger(__name__)

# A served model's name -> its family (checkpoint model_type), first match wins: hub ids, Ollama tags
# ("qwen2.5vl:7b"), LM Studio and llama.cpp names ("qwen2.5-vl-7b-instruct-q4_k_m.gguf").
FAMILY_NAMES = (
    (re.compile(r"qwen[-_ ]?2[._]?5[-_ ]?vl", re.I), "qwen2_5_vl"),
    (re.compile(r"qwen[-_ ]?3[-_ ]?vl", re.I), "qwen3_vl"),
    (re.compile(r"qwen[-_ ]?2[-_ ]?vl", re.I), "qwen2_vl"),
    (re.compile(r"glm[-_ ]?4(\.\d)?v", re.I), "glm4v"),
)
# Side multiple of the image each family's processor makes (patch size x merge size).
PIXEL_FACTOR = {"qwen2_vl": 28, "qwen2_5_vl": 28, "qwen3_vl": 32, "qwen3_vl_moe": 32, "glm4v": 28, "glm4v_moe": 28}
MIN_PIXELS = 56 * 56  # Qwen2-VL / Qwen2.5-VL processors' min_pixels
MAX_ASPECT = 200  # Qwen's processors refuse longer and thinner images
JPEG_QUALITY = 90
# Partial answers are reported at most this often (the status message throttles its edits on its own).
PARTIAL_INTERVAL_S = 0.2
# How often a request waiting on the server checks whether it was cancelled or ran past its deadline.
INTERRUPT_POLL_S = 0.1
CONNECT_TIMEOUT_S = 10.0
# Context estimates without the server's tokenizer: UTF-8 bytes / 3 is at least the token count of
# English (~4 bytes a token) and of Chinese (3 bytes a character, ~1 token each); chat markup per message.
BYTES_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 8


def family_of(model: str, hint: str = "auto") -> str | None:
    """The family (checkpoint model_type) of a served model: `hint` unless "auto", else from its name,
    else from config.json when `model` is a local directory; None when unknown."""
    if hint != "auto":
        return None if hint == "other" else hint
    for pattern, family in FAMILY_NAMES:
        if pattern.search(model):
            return family
    config = Path(model) / "config.json"
    if config.is_file():
        with contextlib.suppress(OSError, ValueError):
            return json.loads(config.read_text()).get("model_type") or None
    return None


def smart_resize(
    height: int, width: int, factor: int = 28, min_pixels: int = MIN_PIXELS, max_pixels: int = 1280 * 28 * 28
) -> tuple[int, int]:
    """(height, width) that a Qwen-VL processor resizes an image to: both multiples of `factor`, the
    pixel count within [min_pixels, max_pixels], the aspect ratio as close as it gets.

    The same arithmetic as transformers' qwen2_vl `smart_resize` (which vLLM and SGLang run too),
    written out so that the bot process needs no transformers; a test holds the two together.
    """
    if max(height, width) / min(height, width) > MAX_ASPECT:
        raise InputRejected(f"aspect ratio of {width}x{height} is over {MAX_ASPECT}", ErrorKind.PHOTO_TOO_WIDE)
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def prepared_photo(image: Image, family: str | None, max_pixels: int) -> tuple[bytes, tuple[int, int]]:
    """The photo as the JPEG to send and its (width, height): resized as the family's processor would
    (see smart_resize), or, for an unknown family, only scaled down to `max_pixels`. CPU work: run it
    off the event loop."""
    from PIL import Image as PILImage

    width, height = image.size
    factor = PIXEL_FACTOR.get(family or "")
    if factor is not None:
        new_height, new_width = smart_resize(height, width, factor, MIN_PIXELS, max_pixels)
    else:
        scale = min(1.0, math.sqrt(max_pixels / (width * height)))
        new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    photo = image.convert("RGB")
    if (new_width, new_height) != photo.size:
        photo = photo.resize((new_width, new_height), PILImage.Resampling.BICUBIC)  # as the Qwen processors do
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue(), (new_width, new_height)


def chat_messages(history: Sequence[Turn], question: str, image_url: str | Sequence[str]) -> list[dict[str, Any]]:
    """Chat Completions messages: earlier turns oldest first, then `question`; the photo (an image_url
    part; an album: one part per photo) goes with the first user message, so it stays whichever turns
    are trimmed away."""
    urls = [image_url] if isinstance(image_url, str) else list(image_url)
    messages: list[dict[str, Any]] = []
    questions = [turn.question for turn in history] + [question]
    for index, text in enumerate(questions):
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if index == 0:
            content[:0] = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
        messages.append({"role": "user", "content": content})
        if index < len(history):
            messages.append({"role": "assistant", "content": history[index].answer})
    return messages


def estimated_tokens(text: str) -> int:
    """An upper estimate of `text`'s token count for any of these models' tokenizers."""
    return len(text.encode()) // BYTES_PER_TOKEN + 1


class RemoteVlm:
    """An OpenAI-compatible chat server (vLLM, SGLang, Ollama, LM Studio, llama.cpp, `transformers serve`)
    answering /ask (streamed) and /box. Every method runs on the event loop; call `start()` first."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.vlm_url
        self.model = settings.vlm_model
        self.family = family_of(settings.vlm_model, settings.vlm_family)
        self.max_new_tokens = settings.vlm_max_new_tokens
        self.context_tokens = settings.vlm_context_tokens
        self.image_pixels = settings.vlm_image_pixels
        self._api_key = settings.vlm_api_key
        self._timeout = settings.job_timeout_s
        self._client: AsyncOpenAI | None = None
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0

    @property
    def grounding_format(self) -> GroundingFormat | None:
        return GROUNDING.get(self.family or "")

    async def start(self) -> None:
        from openai import AsyncOpenAI

        # The client refuses to start without a key; servers without auth ignore the header.
        key = self._api_key.get_secret_value() or "none"
        self._client = AsyncOpenAI(base_url=self.url, api_key=key, max_retries=1, timeout=_timeout(self._timeout))
        log.info("/ask and /box go to %s, model %r (family %s)", self.url, self.model, self.family or "unknown")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def stats(self) -> dict[str, object]:
        return {
            "url": self.url,
            "model": self.model,
            "family": self.family,
            "requests": self.requests,
            "in_flight": self.in_flight,
            "most_in_flight": self.most_in_flight,
        }

    async def run(
        self, requests: Sequence[AskRequest | BoxRequest], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Answer | Boxes]:
        """One result per request, in order; all of them in flight at once."""

        async def one(index: int, request: AskRequest | BoxRequest) -> Answer | Boxes:
            if isinstance(request, AskRequest):
                emit = (lambda text: on_partial(index, text)) if on_partial is not None else None
                return await self.ask(request, interrupt, emit)
            if isinstance(request, BoxRequest):
                return await self.box(request, interrupt)
            raise TypeError(f"{type(self).__name__} can't run {type(request).__name__}")

        return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))))

    async def ask(self, request: AskRequest, interrupt: Interrupt, emit: Callable[[str], None] | None = None) -> Answer:
        """Answer one question, with as many of the conversation's newest turns as fit the context; an album's
        photos all go, sharing VLM_IMAGE_PIXELS."""
        images = request.images
        share = max(MIN_PIXELS, self.image_pixels // len(images))
        photos = await asyncio.to_thread(lambda: [prepared_photo(image, self.family, share) for image in images])
        sizes = [size for _, size in photos]
        kept = self.turns_that_fit(request.history, request.question, sizes)
        history = request.history[len(request.history) - kept :]
        messages = chat_messages(history, request.question, [_data_url(jpeg) for jpeg, _ in photos])
        log.debug(
            "ask via %s (%d of %d earlier turns, photos %s): %s",
            self.url,
            kept,
            len(request.history),
            ", ".join(f"{w}x{h}" for w, h in sizes),
            json.dumps(_without_images(messages), ensure_ascii=False),
        )
        raw = await self._complete(messages, interrupt, emit)
        return Answer(visible_answer(raw), history_used=kept, images_used=len(images))

    async def box(self, request: BoxRequest, interrupt: Interrupt) -> Boxes:
        """Ask for every `target` in the photo; parse the boxes back into the photo's own pixels."""
        fmt = self.grounding_format
        if fmt is None:
            raise ModelUnavailable(
                f"VLM_MODEL {self.model!r} is of no known grounding family; set VLM_FAMILY",
                ErrorKind.VLM_FAMILY_UNKNOWN,
            )
        jpeg, size = await asyncio.to_thread(prepared_photo, request.image, self.family, self.image_pixels)
        messages = chat_messages((), grounding_prompt(fmt, request.target), _data_url(jpeg))
        log.debug(
            "box via %s (photo %dx%d): %s", self.url, *size, json.dumps(_without_images(messages), ensure_ascii=False)
        )
        raw = await self._complete(messages, interrupt)
        boxes = parse_boxes(raw, fmt, request.image.size, model_size=size, default_label=request.target)
        log.debug("box answer %s -> %d boxes", json.dumps(raw, ensure_ascii=False), len(boxes))
        return Boxes(tuple(boxes), visible_answer(raw))

    def turns_that_fit(
        self, history: Sequence[Turn], question: str, photo_size: tuple[int, int] | Sequence[tuple[int, int]]
    ) -> int:
        """How many of the newest turns fit VLM_CONTEXT_TOKENS less the answer's room, by estimate.

        The photo (or an album's photos: a list of sizes) and the question always go; raises InputRejected
        when not even they fit.
        """
        sizes = [photo_size] if isinstance(photo_size[0], int) else list(photo_size)
        factor = PIXEL_FACTOR.get(self.family or "", 28)
        budget = self.context_tokens - self.max_new_tokens
        photo_tokens = sum(width * height // factor**2 for width, height in cast("list[tuple[int, int]]", sizes))
        used = photo_tokens + estimated_tokens(question) + TOKENS_PER_MESSAGE
        if used > budget:
            raise InputRejected("question does not fit the context", ErrorKind.QUESTION_TOO_LONG)
        kept = 0
        for turn in reversed(history):
            used += estimated_tokens(turn.question) + estimated_tokens(turn.answer) + 2 * TOKENS_PER_MESSAGE
            if used > budget:
                break
            kept += 1
        return kept

    # -- the server ---------------------------------------------------------------------------------

    async def _complete(
        self, messages: list[dict[str, Any]], interrupt: Interrupt, emit: Callable[[str], None] | None = None
    ) -> str:
        """The model's whole answer, streamed; partial answers go to `emit`. Stops early, with what has
        come so far, once `interrupt` is set (the request is then dropped, which stops the server too)."""
        if self._client is None:
            raise RuntimeError("RemoteVlm used before start()")
        parts: list[str] = []
        self.requests += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        started = time.monotonic()
        try:
            await _until_interrupted(self._stream(messages, parts, emit), interrupt)
        except Exception as exc:
            raise self._error(exc) from None
        finally:
            self.in_flight -= 1
        log.debug("answer from %s in %.2f s: %d chars", self.url, time.monotonic() - started, len("".join(parts)))
        return "".join(parts)

    async def _stream(
        self, messages: list[dict[str, Any]], parts: list[str], emit: Callable[[str], None] | None
    ) -> None:
        client = self._client
        assert client is not None, "start() first"
        stream = await client.chat.completions.create(
            model=self.model,
            messages=cast("list[ChatCompletionMessageParam]", messages),  # built as the API's JSON shapes
            max_tokens=self.max_new_tokens,
            stream=True,
        )
        sent, sent_at = "", 0.0
        async with stream:
            async for chunk in stream:
                if not chunk.choices:
                    continue  # e.g. a final usage chunk
                piece = chunk.choices[0].delta.content
                if not piece:
                    continue  # role-only deltas, or reasoning sent beside the content
                parts.append(piece)
                now = time.monotonic()
                if emit is not None and now - sent_at >= PARTIAL_INTERVAL_S:
                    text = visible_answer("".join(parts))
                    if text and text != sent:
                        sent, sent_at = text, now
                        emit(text)

    def _error(self, exc: Exception) -> Exception:
        """The WorkerError (its kind says what to reply) for a failed request, logged once, without the key."""
        import openai

        where = f"VLM_URL {self.url}"
        if isinstance(exc, openai.APIConnectionError):  # refused, DNS, TLS, timeouts
            log.error("%s can't be reached: %s", where, _cause(exc))
            return ModelUnavailable(f"{where} unreachable", ErrorKind.SERVER_UNREACHABLE)
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            log.error("%s refused the key (HTTP %s): set VLM_API_KEY to a key it accepts", where, exc.status_code)
            return ModelUnavailable(f"{where} refused the key", ErrorKind.SERVER_KEY_REFUSED)
        if isinstance(exc, openai.NotFoundError):
            log.error(
                "%s answers 404 for model %r: check VLM_MODEL against its /models list, and that VLM_URL "
                "ends in /v1 (%s)",
                where,
                self.model,
                _short(exc),
            )
            return ModelUnavailable(f"{where} has no model {self.model!r}", ErrorKind.SERVER_NO_MODEL)
        if isinstance(exc, openai.RateLimitError):
            log.warning("%s is rate limiting (HTTP 429)", where)
            return WorkerError(f"{where} rate limited", ErrorKind.SERVER_BUSY)
        if isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)):
            log.warning("%s refused a request (HTTP %s): %s", where, exc.status_code, _short(exc))
            return WorkerError(f"{where} refused the request", ErrorKind.SERVER_REFUSED)
        if isinstance(exc, openai.APIStatusError):
            log.error("%s failed (HTTP %s): %s", where, exc.status_code, _short(exc))
            return WorkerError(f"{where} failed", ErrorKind.SERVER_FAILED)
        if isinstance(exc, openai.OpenAIError):  # a broken stream, an answer that isn't JSON...
            log.error("%s sent a bad answer: %s", where, _short(exc))
            return WorkerError(f"{where} bad answer", ErrorKind.SERVER_FAILED)
        return exc


async def _until_interrupted(work: Awaitable[None], interrupt: Interrupt) -> None:
    """Await `work`, dropping it once `interrupt` is set (cancelled, or past the job's deadline)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=INTERRUPT_POLL_S)
            if done:
                return task.result()
            if interrupt.is_set():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return None
    finally:
        if not task.done():  # our caller was cancelled (shutdown): don't leave the stream open
            task.cancel()


def _timeout(total: float):
    from openai import Timeout

    # Connecting must be quick; reading may take as long as a job may (a long answer streams for minutes).
    return Timeout(total, connect=CONNECT_TIMEOUT_S)


def _data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _without_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`messages` for the log: the photo's data URL shortened."""

    def part(p: Any) -> Any:
        if isinstance(p, dict) and p.get("type") == "image_url":
            return {"type": "image_url", "image_url": {"url": p["image_url"]["url"][:32] + "..."}}
        return p

    return [
        {**m, "content": [part(p) for p in m["content"]] if isinstance(m["content"], list) else m["content"]}
        for m in messages
    ]


def _cause(exc: BaseException) -> str:
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return f"{type(exc).__name__}: {root}" if root is not exc else f"{type(exc).__name__}: {exc}"


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."
