"""Streamed answers: partial text from the worker through the queue to throttled edits on the fake Bot API.

The handler side runs for real (PTB's Bot talking HTTP to the fake server, the GpuQueue, UserRequest.run and
StatusMessage); the backend is a stand-in that reports partial answers on a schedule.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from telegram import Message, Update
from telegram.ext import ExtBot

from bot.errors import JobCancelled
from bot.messaging import status as progress
from bot.messaging.replies import TEXT_LIMIT, split_text, utf16_len
from bot.messaging.status import CURSOR, StatusMessage
from bot.pipeline import UserRequest
from bot.queue.gpu_queue import GpuQueue
from bot.queue.jobs import Job
from bot.settings import Settings
from bot.stores.journal import JobJournal
from bot.stores.quotas import Quotas
from contract.requests import Answer, AskRequest, Caption, CaptionRequest
from contract.worker import Interrupt
from tests.support.bot_process import TOKEN
from tests.support.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(60)
IMAGE = Image.new("RGB", (8, 8))


class StreamingBackend:
    """Reports `partials` of request 0 every `step` seconds, then answers `final`; records its calls."""

    def __init__(self, partials: list[str], final: str, step: float = 0.1) -> None:
        self.partials, self.final, self.step = partials, final, step
        self.calls: list[tuple[str, bool]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def stats(self) -> dict[str, object]:
        return {}

    async def run(self, task, requests, interrupt: Interrupt, on_partial=None):
        self.calls.append((str(task), on_partial is not None))
        if isinstance(requests[0], CaptionRequest):
            return [Caption("a caption")]
        for text in self.partials:
            await asyncio.sleep(self.step)
            on_partial(0, text)
            if interrupt.is_set():
                break
        await self.release.wait()
        return [Answer(self.final, history_used=0)]


@pytest.fixture
def tg():
    server = FakeTelegram(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
async def bot(tg):
    ptb = ExtBot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url)
    await ptb.initialize()
    yield ptb
    await ptb.shutdown()


async def ask(tg, bot, backend, *, group: bool = False, final: str | None = None) -> tuple[StatusMessage, dict]:
    user = tg.user(7, "Ann")
    chat = tg.group_chat(-77, "G") if group else tg.private_chat(user)
    request = tg.message(chat, user, text="/ask tell me")
    message = Message.de_json(request, bot)
    queue = GpuQueue(backend, max_pending=10, max_per_user=5, job_timeout_s=30)
    await queue.start()
    request = UserRequest(Update(1, message=message), SimpleNamespace(services=services(queue), bot=bot))
    result = await request.run(AskRequest(IMAGE, "tell me"), "typing")
    await request.answer(final or result.text)
    await queue.close()
    assert request.status is not None
    return request.status, chat


def services(queue: GpuQueue) -> SimpleNamespace:
    """What UserRequest.run needs besides the queue: a real journal and quotas in a temp folder, and settings."""
    folder = Path(tempfile.mkdtemp(prefix="streaming-"))
    return SimpleNamespace(
        queue=queue,
        journal=JobJournal(folder / "bot.sqlite3"),
        quotas=Quotas(folder / "bot.sqlite3", {}, {}),
        settings=Settings(telegram_bot_token=TOKEN, data_dir=folder),
    )


def answer_calls(tg, chat_id: int, message_id: int) -> list:
    """The sendMessage that created the message and every edit of it, in order."""
    calls = []
    for call in tg.calls():
        if str(call.params.get("chat_id")) != str(chat_id):
            continue
        if (call.method == "sendMessage" and call.ok and call.result["message_id"] == message_id) or (
            call.method == "editMessageText" and call.params.get("message_id") == message_id
        ):
            calls.append(call)
    return calls


def words(n: int) -> str:
    return " ".join(f"word{i}" for i in range(n))


async def test_private_chat_sees_the_answer_grow_at_most_once_a_second(tg, bot):
    partials = [words(i) for i in range(1, 31)]  # 3 s of writing
    backend = StreamingBackend(partials, words(31))
    status, chat = await ask(tg, bot, backend)
    (message,) = status.parts
    history = tg.edits_of(chat["id"], message.message_id)
    assert len(history) >= 3  # a couple of partial edits, then the final text
    assert all(h.endswith(CURSOR.strip()) for h in history[:-1]) and history[-1] == words(31)
    for before, after in itertools.pairwise(history):  # the text only grows
        assert after.removesuffix(CURSOR).startswith(before.removesuffix(CURSOR))
    calls = answer_calls(tg, chat["id"], message.message_id)
    assert all(c.ok for c in calls), [c.result for c in calls if not c.ok]  # never an unchanged edit
    gaps = [b.time - a.time for a, b in itertools.pairwise(calls)]
    assert gaps and min(gaps) >= 0.9, gaps
    assert backend.calls == [("ask", True)]


async def test_groups_get_at_most_one_edit_per_three_seconds(tg, bot):
    partials = [words(i) for i in range(1, 66)]  # 6.5 s of writing
    status, chat = await ask(tg, bot, StreamingBackend(partials, words(66)), group=True)
    (message,) = status.parts
    calls = answer_calls(tg, chat["id"], message.message_id)
    assert len(calls) >= 3 and all(c.ok for c in calls)
    gaps = [b.time - a.time for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 2.9, gaps
    assert tg.bot_messages(chat["id"])[-1]["text"] == words(66)


async def test_a_quick_answer_is_sent_whole_without_streaming(tg, bot):
    backend = StreamingBackend([words(1), words(2)], words(3), step=0.05)
    status, chat = await ask(tg, bot, backend)
    (message,) = status.parts
    assert tg.edits_of(chat["id"], message.message_id) == [words(3)]


async def test_a_long_answer_streams_into_several_messages_within_telegrams_limit(tg, bot):
    final = "\n\n".join(f"Paragraph {p}: " + words(150) for p in range(8))  # ~11k characters
    cuts = [len(final) * k // 12 for k in range(1, 12)]
    backend = StreamingBackend([final[:c] for c in cuts], final, step=0.3)
    status, chat = await ask(tg, bot, backend)
    expected = split_text(final, TEXT_LIMIT - len(CURSOR))  # streamed pieces leave room for the cursor
    assert len(status.parts) == len(expected) >= 3
    texts = [m["text"] for m in tg.bot_messages(chat["id"])]
    assert texts == expected
    assert all(utf16_len(t) <= TEXT_LIMIT for t in texts)
    assert " ".join(" ".join(texts).split()) == " ".join(final.split())  # nothing lost, nothing doubled
    assert all(m.get("reply_to_message") for m in tg.bot_messages(chat["id"]))  # every part replies to the request
    for message in status.parts:  # every message ended complete, without the cursor
        assert not tg.edits_of(chat["id"], message.message_id)[-1].endswith(CURSOR.strip())
    assert all(c.ok for c in tg.calls())


async def test_a_shorter_final_text_removes_extra_streamed_parts(tg, bot):
    long_partial = words(1000)  # ~7.9k characters: two messages while streaming
    backend = StreamingBackend([words(10), long_partial[:5000], long_partial], "A short final answer.", step=0.6)
    status, chat = await ask(tg, bot, backend)
    assert [m["text"] for m in tg.bot_messages(chat["id"])] == ["A short final answer."]
    assert len(status.parts) == 1


async def test_cancelling_a_streamed_answer_removes_what_was_shown(tg, bot):
    backend = StreamingBackend([words(i) for i in range(1, 40)], "never", step=0.1)
    backend.release.clear()
    user = tg.user(8, "Bo")
    chat = tg.private_chat(user)
    message = Message.de_json(tg.message(chat, user, text="/ask go"), bot)
    queue = GpuQueue(backend, max_pending=10, max_per_user=5, job_timeout_s=30)
    await queue.start()
    request = UserRequest(Update(2, message=message), SimpleNamespace(services=services(queue), bot=bot))
    job = asyncio.create_task(request.run(AskRequest(IMAGE, "go"), "typing"))
    deadline = time.monotonic() + 10
    while not tg.bot_messages(chat["id"]):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    queue.cancel(8)
    with pytest.raises(JobCancelled):
        await job
    assert tg.bot_messages(chat["id"]) == []
    backend.release.set()
    await queue.close()


async def test_requests_that_do_not_stream_reach_the_backend_without_a_callback():
    backend = StreamingBackend([], "")
    queue = GpuQueue(backend, max_pending=10, max_per_user=5, job_timeout_s=30)
    await queue.start()
    ticket = queue.submit(Job(CaptionRequest(IMAGE), 1, 1))
    assert (await ticket.result()).text == "a caption"
    assert backend.calls == [("caption", False)] and ticket.partial is None
    await queue.close()


async def test_partials_wake_the_ticket_and_late_ones_are_ignored():
    backend = StreamingBackend(["one", "one two"], "one two three", step=0.05)
    queue = GpuQueue(backend, max_pending=10, max_per_user=5, job_timeout_s=30)
    await queue.start()
    ticket = queue.submit(Job(AskRequest(IMAGE, "q"), 1, 1))
    seen = []
    while not ticket.done():
        await ticket.wait_changed(timeout=1)
        if ticket.partial and ticket.partial not in seen:
            seen.append(ticket.partial)
    assert seen == ["one", "one two"]
    ticket._show_partial("too late")  # after the result: no effect
    assert ticket.partial == "one two"
    await queue.close()


def test_throttle_settings_match_telegrams_limits():
    assert progress.STREAM_INTERVAL_PRIVATE_S == 1.0 and progress.STREAM_INTERVAL_GROUP_S == 3.0


# -- split_text ------------------------------------------------------------------------------------


def test_split_text_prefers_paragraphs_then_lines_then_words():
    text = "a" * 3000 + "\n\n" + "b" * 3000
    assert split_text(text) == ["a" * 3000, "b" * 3000]
    text = "a" * 3000 + "\n" + "b " * 1500
    assert split_text(text)[0] == "a" * 3000
    assert split_text(("word " * 2000).strip())[0].endswith("word")


def test_split_text_counts_utf16_units_and_hard_cuts_unbroken_text():
    emoji = "😀" * 3000  # 6000 UTF-16 units, no break anywhere
    pieces = split_text(emoji)
    assert [utf16_len(p) for p in pieces] == [4096, 6000 - 4096]
    assert "".join(pieces) == emoji
    assert split_text("   ") == [] and split_text("short") == ["short"]


def test_split_text_finished_pieces_do_not_change_as_the_text_grows():
    final = " ".join(f"w{i}" for i in range(3000))
    pieces = split_text(final)
    for end in range(4200, len(final), 997):
        partial = split_text(final[:end])
        assert partial[:-1] == pieces[: len(partial) - 1]
