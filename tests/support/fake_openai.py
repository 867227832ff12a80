"""A fake OpenAI-compatible Chat Completions server (what vLLM, Ollama or llama.cpp serve) for tests.

It follows the published API: `POST /v1/chat/completions` answers a JSON `chat.completion`, or with
`"stream": true` server-sent events, each `data: {chat.completion.chunk}` with the text in
`choices[0].delta.content`, ended by `data: [DONE]`; errors are JSON `{"error": {...}}` with the
API's status codes (401 for a bad key, 404 for an unknown model). `GET /v1/models` lists the model.

It runs on 127.0.0.1 in a thread with its own loop and records every request it received (body,
headers, when it started and ended), so tests can check what the bot sent and how many were in
flight at once.

    with FakeChatServer(lambda body: "It is red.") as server:
        ... VLM_URL=server.url ...
        assert server.requests[0].body["stream"] is True
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"


@dataclass
class ChatRequest:
    """One request the server received."""

    body: dict[str, Any]
    headers: dict[str, str]
    started: float
    ended: float | None = None
    chunks: int = 0  # content chunks sent

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body["messages"]

    @property
    def question(self) -> str:
        """The text of the last user message."""
        content = self.messages[-1]["content"]
        return content if isinstance(content, str) else " ".join(p["text"] for p in content if p["type"] == "text")

    @property
    def images(self) -> list[Image.Image]:
        """Every image part, decoded from its data: URL."""
        found = []
        for message in self.messages:
            if isinstance(message["content"], list):
                for part in message["content"]:
                    if part["type"] == "image_url":
                        header, _, data = part["image_url"]["url"].partition(",")
                        assert header == "data:image/jpeg;base64", header
                        found.append(Image.open(io.BytesIO(base64.b64decode(data))))
        return found


@dataclass
class FakeChatServer:
    """`answer(request)` gives each request's answer; it is streamed in `chunk_chars` pieces every `chunk_delay_s`.

    `api_key`: requests without `Authorization: Bearer <api_key>` get 401. `model`: others get 404.
    `fail_with`: every request gets this HTTP status. `hold_until_concurrent`: each stream pauses after its
    first piece until that many requests are open at once (at most `hold_timeout_s`), so a test can tell
    concurrent requests from one-at-a-time ones without racing the clock.
    """

    answer: Callable[[ChatRequest], str] = lambda request: "An answer."
    api_key: str | None = None
    model: str = MODEL
    chunk_chars: int = 4
    chunk_delay_s: float = 0.02
    fail_with: int | None = None
    hold_until_concurrent: int = 0
    hold_timeout_s: float = 20.0
    requests: list[ChatRequest] = field(default_factory=list)
    open_now: int = 0
    most_open: int = 0

    def __post_init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Condition | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeChatServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True, name="fake-openai")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def wait_for_requests(self, count: int, timeout: float = 60.0) -> list[ChatRequest]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} of {count} requests reached the fake OpenAI server")
            time.sleep(0.02)
        return self.requests

    # -- the server ----------------------------------------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    def _refused(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if self.fail_with is not None:
            return _error(self.fail_with, "The server had an error while processing your request.", None)
        if body.get("model") != self.model:
            return _error(404, f"The model `{body.get('model')}` does not exist.", "model_not_found")
        return None

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}]}
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        record = ChatRequest(body, dict(request.headers), time.monotonic())
        self.requests.append(record)
        refused = self._refused(request, body)
        if refused is not None:
            record.ended = time.monotonic()
            return refused
        text = self.answer(record)
        created = int(time.time())
        ident = f"chatcmpl-{len(self.requests)}"
        if not body.get("stream"):
            record.ended = time.monotonic()
            return web.json_response(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": self.model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        await self._opened(+1)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        try:
            await response.write(chunk({"role": "assistant", "content": ""}))
            pieces = [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)]
            for index, piece in enumerate(pieces):
                await response.write(chunk({"content": piece}))
                record.chunks += 1
                if index == 0 and self.hold_until_concurrent:
                    await self._held()
                await asyncio.sleep(self.chunk_delay_s)
            await response.write(chunk({}, "stop"))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the client went away (a cancelled request)
        finally:
            record.ended = time.monotonic()
            await self._opened(-1)
        return response

    async def _opened(self, change: int) -> None:
        async with self._changed:
            self.open_now += change
            self.most_open = max(self.most_open, self.open_now)
            self._changed.notify_all()

    async def _held(self) -> None:
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.most_open >= self.hold_until_concurrent), self.hold_timeout_s
                )


def _error(status: int, message: str, code: str | None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}, status=status
    )
