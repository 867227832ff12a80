"""The negative cross-chat suite: one chat's photos never reach another chat, whatever the way of asking.

Chat A is Ann's private chat; chat B is a group where Ann and Bob both are. Each has photos of its own,
and one photo is in both (forwarded: the same file_unique_id). Every way of asking is tried in every
chat: words, a reply to a photo, a photo captioned /find whose content is another chat's photo, a
typed file_id of the other chat's photo, a reply pointing into the other chat. Then again after a
restart of the bot, after a change of CLIP model and `python -m bot reindex`, and against a real Chroma
server (CHROMA_URL) started by the test.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.stores.photo_index import PhotoIndex, wait_for_server
from tests.support.bot_process import TOKEN, BotProcess
from tests.support.chat import answer_to, photo_bytes
from tests.support.fake_telegram import FakeTelegram
from tests.support.find import find_answer, unique_id

pytestmark = pytest.mark.timeout(240)

WORDS = ("a dog on the beach", "birthday cake")


@dataclass
class Chat:
    """A chat of the scenario: who is in it and which photo messages it holds."""

    chat: dict
    members: list[dict]
    photos: list[dict] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.chat["id"]

    @property
    def keys(self) -> set[str]:
        return {unique_id(m) for m in self.photos}

    @property
    def file_ids(self) -> dict[str, str]:
        """key -> the file_id this chat's copy of the photo has."""
        return {unique_id(m): m["photo"][-1]["file_id"] for m in self.photos}

    def command(self, text: str) -> str:
        return text if self.chat["type"] == "private" else text.replace("/find", "/find@tiny_test_bot", 1)


@dataclass
class Scenario:
    telegram: FakeTelegram
    a: Chat
    b: Chat
    shared: str  # the key of the photo both chats have

    def send(self, chat: Chat, data: bytes, by: dict | None = None) -> dict:
        message = self.telegram.send_message(chat.chat, by or chat.members[0], photo=data)
        chat.photos.append(message)
        return message


def build_scenario(telegram: FakeTelegram) -> Scenario:
    """Photos go in before the bot starts polling, so its first getUpdates returns at once."""
    ann, bob = telegram.user(501, "Ann"), telegram.user(502, "Bob")
    a = Chat(telegram.private_chat(ann), [ann])
    b = Chat(telegram.group_chat(-503, "Ann and Bob"), [bob, ann])
    scenario = Scenario(telegram, a, b, shared="")
    for seed in range(700, 704):
        scenario.send(a, photo_bytes(seed))
    for seed in range(710, 713):
        scenario.send(b, photo_bytes(seed), by=bob)
    scenario.send(b, photo_bytes(715), by=ann)  # Ann posts in the group too: isolation is by chat, not user
    shared = scenario.send(a, photo_bytes(720))
    scenario.send(b, photo_bytes(720), by=bob)  # the same photo forwarded into B
    scenario.shared = unique_id(shared)
    return scenario


def assert_isolated(scenario: Scenario) -> None:
    """Every way of asking, in both chats: only the asking chat's own photos, by its own file_ids."""
    tg = scenario.telegram
    for me, other in ((scenario.a, scenario.b), (scenario.b, scenario.a)):
        asker = me.members[-1]
        only_other = other.keys - me.keys
        assert only_other, "the scenario needs photos only the other chat has"
        # By words: with k=10 every one of the chat's photos comes back, and nothing else.
        for words in WORDS:
            answer = find_answer(tg, tg.send_message(me.chat, asker, text=me.command(f"/find {words} k=10")))
            assert set(answer.keys) == me.keys, (words, answer.keys)
            for match in answer.matches:  # and each by this chat's own copy of the photo
                assert match["photo"][-1]["file_id"] == me.file_ids[unique_id(match)]
        # By example: a reply to one of the chat's photos (the shared one included).
        shared = [m for m in me.photos if unique_id(m) == scenario.shared]
        for example in [me.photos[0], *shared[:1]]:
            request = tg.send_message(me.chat, asker, text=me.command("/find k=10"), reply_to=example)
            answer = find_answer(tg, request)
            assert set(answer.keys) == me.keys - {unique_id(example)}
        # A typed file_id of the other chat's photo is only words.
        foreign = next(m for m in other.photos if unique_id(m) in only_other)
        typed = find_answer(
            tg, tg.send_message(me.chat, asker, text=me.command(f"/find {foreign['photo'][-1]['file_id']} k=10"))
        )
        assert set(typed.keys) == me.keys
        # A reply that points into the other chat (Telegram never sends one; a forged update could).
        forged = tg.send_message(me.chat, asker, text=me.command("/find"), reply_to=foreign)
        text = answer_to(tg, forged, timeout=30)["text"]
        assert "reply /find to a photo" in text
        assert not [m for m in tg.bot_messages(me.id) if m["message_id"] > forged["message_id"] and "photo" in m]


def assert_example_from_another_chat_is_embedded_afresh(scenario: Scenario, bot: BotProcess, seed: int) -> None:
    """B is sent (as /find's photo) the very picture of one of A's photos: B's search uses B's photos only."""
    tg, a, b = scenario.telegram, scenario.a, scenario.b
    a_photo = a.photos[seed - 700]  # A's first photos have the seeds 700, 701, ...
    assert unique_id(a_photo) not in b.keys
    before = len(bot.logs())
    request = tg.send_message(b.chat, b.members[0], photo=photo_bytes(seed), caption="/find@tiny_test_bot k=10")
    key = unique_id(request)
    assert key == unique_id(a_photo)  # same content, same file_unique_id
    answer = find_answer(tg, request)
    assert set(answer.keys) == b.keys
    # A's index knowing that photo counted for nothing in B: B downloaded and embedded its own copy.
    logs = bot.logs()[before:]
    assert f"indexed photo {key} of chat {b.id}" in logs and "already indexed" not in logs
    assert any(c.params.get("file_id") == request["photo"][-1]["file_id"] for c in tg.calls("getFile"))
    b.photos.append(request)


@pytest.fixture(scope="module")
def checkpoint_copy(tiny_clip, tmp_path_factory) -> Path:
    """The tiny CLIP under another path: to the index, another model."""
    copy = tmp_path_factory.mktemp("other-model") / "clip"
    shutil.copytree(tiny_clip, copy)
    return copy


def run_cli(bot: BotProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=bot.workdir,
        env=bot.environment(),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_no_photo_crosses_chats_live_after_restart_and_after_reindex(tmp_path, tiny_clip, checkpoint_copy):
    telegram = FakeTelegram(TOKEN).start()
    scenario = build_scenario(telegram)
    bot = BotProcess(telegram, tmp_path / "bot", clip_model=tiny_clip)
    try:
        bot.start()
        assert_isolated(scenario)
        assert_example_from_another_chat_is_embedded_afresh(scenario, bot, seed=701)

        # A restart: the index is read back from disk.
        bot.stop()
        scenario.send(scenario.a, photo_bytes(730))  # waiting for the bot when it comes back
        bot.start()
        assert_isolated(scenario)

        # Another CLIP model: nothing is mixed, /find asks for a reindex, new photos are still remembered.
        bot.stop()
        bot.settings["clip_model"] = str(checkpoint_copy)
        scenario.send(scenario.b, photo_bytes(740), by=scenario.b.members[0])
        bot.start()
        for chat in (scenario.a, scenario.b):
            text = find_answer(
                telegram, telegram.send_message(chat.chat, chat.members[-1], text=chat.command("/find cats"))
            ).text
            assert "python -m bot reindex" in text
        bot.stop()
        # One photo can't be downloaded any more (deleted on Telegram's side): it is dropped, not retried forever.
        telegram.fail_next("getFile", "Bad Request: wrong file identifier/HTTP URL specified")
        out = run_cli(bot, "reindex")
        assert out.returncode == 0, out.stderr
        photos_before = len(scenario.a.keys) + len(scenario.b.keys) - 1  # 740 was indexed by the new model
        assert f"Re-indexed {photos_before - 1} photos of 2 chats" in out.stdout
        assert "Dropped 1 photo that no longer exists" in out.stdout
        assert "Re-indexing: 100%" in out.stderr  # the progress bar
        forget_dropped(scenario, bot.workdir / "data")
        scenario.send(scenario.a, photo_bytes(741))
        bot.start()
        assert_isolated(scenario)
    finally:
        bot.stop()
        telegram.stop()
    index = PhotoIndex(bot.workdir / "data")
    assert {(g.chat_id, g.spec.model) for g in index.generations()} == {
        (scenario.a.id, str(checkpoint_copy)),
        (scenario.b.id, str(checkpoint_copy)),
    }
    index.close()


def forget_dropped(scenario: Scenario, data_dir: Path) -> None:
    """Take the photo reindex dropped out of the scenario's expectations (which one it was is up to timing)."""
    index = PhotoIndex(data_dir)
    try:
        for chat in (scenario.a, scenario.b):
            stored = {r.key for g in index.generations(chat.id) for page in index.records(g) for r in page}
            gone = chat.keys - stored
            assert len(gone) <= 1 and stored <= chat.keys
            chat.photos = [m for m in chat.photos if unique_id(m) not in gone]
    finally:
        index.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    """A real Chroma server (`chroma run` from the chromadb package) on a free localhost port."""
    executable = Path(sys.executable).parent / "chroma"
    command = [str(executable)] if executable.exists() else [shutil.which("chroma") or "chroma"]
    port = free_port()
    log = (tmp_path / "chroma.log").open("wb")
    server = subprocess.Popen(
        [*command, "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, timeout=60)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_no_photo_crosses_chats_with_a_chroma_server(tmp_path, tiny_clip, chroma_server):
    telegram = FakeTelegram(TOKEN).start()
    scenario = build_scenario(telegram)
    bot = BotProcess(telegram, tmp_path / "bot", clip_model=tiny_clip, chroma_url=chroma_server)
    try:
        bot.start()
        assert_isolated(scenario)
        assert_example_from_another_chat_is_embedded_afresh(scenario, bot, seed=702)
        bot.stop()
        scenario.send(scenario.b, photo_bytes(750), by=scenario.b.members[0])
        bot.start()
        assert_isolated(scenario)
    finally:
        bot.stop()
        telegram.stop()
    # Everything lives on the server, one collection per chat; nothing was written under DATA_DIR.
    index = PhotoIndex(tmp_path / "unused", chroma_server)
    assert sorted(g.chat_id for g in index.generations()) == sorted([scenario.a.id, scenario.b.id])
    assert not (bot.workdir / "data" / "chroma").exists()
    assert "photo index: Chroma server at " + chroma_server in bot.logs()
