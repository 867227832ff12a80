"""Forgetting and moving a chat's data, in-process against the fake Bot API: /forget, the bot removed, and
a user's own /forget leave no byte of the chat's texts in any file under DATA_DIR; a group that becomes a
supergroup keeps its photos, conversations and rerun buttons, whichever of Telegram's two notices arrives."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from telegram import Update

from bot.stores.history import Scope
from tests.support.chat import deliver, photo_bytes
from tests.test_handlers import answer

SETTINGS = dict(
    quota_per_minute={"*": 100}, quota_per_day={"*": 1000}, gen_model_kind="turbo", admin_user_ids=frozenset({900})
)


@pytest.fixture
def tg(fake_api):
    return fake_api


def unique(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex}"


def files_holding(data_dir: Path, *needles: str) -> dict[str, list[str]]:
    """needle -> the files under data_dir whose bytes contain it (UTF-8)."""
    found: dict[str, list[str]] = {}
    for path in data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                if needle.encode() in data:
                    found.setdefault(needle, []).append(str(path.relative_to(data_dir)))
    return found


async def fill_chat(app, tg, chat, user) -> dict[str, str]:
    """A photo with a caption, a conversation about it, and a drawing with rerun buttons: the unique texts."""
    words = {"caption": unique("caption"), "question": unique("question"), "prompt": unique("prompt")}
    photo = tg.message(chat, user, photo=photo_bytes(31), caption=words["caption"])
    await deliver(app, tg, photo)
    ask = tg.message(chat, user, text=f"/ask {words['question']}", reply_to=photo)
    await deliver(app, tg, ask)
    words["answer"] = (await answer(tg, ask))["text"]
    assert words["answer"] == f"answer to {words['question']}"
    gen = tg.message(chat, user, text=f"/gen {words['prompt']}")
    await deliver(app, tg, gen)
    drawn = await answer(tg, gen)
    assert drawn["caption"].startswith(words["prompt"])
    # The drawing is noted for indexing only once Telegram has answered its sendPhoto, which can be just after the
    # test sees it: wait for both photos (the user's and the drawing) rather than for what is noted at this instant.
    photos = app.bot_data["services"].photos
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while await asyncio.to_thread(photos.index.count, chat["id"]) < 2:
        assert loop.time() < deadline, "the photo and the drawing were not both indexed in 30 s"
        await photos.wait_indexed(chat["id"], 5)
        await asyncio.sleep(0.05)
    return words


async def test_a_users_forget_in_private_leaves_no_byte_of_the_chats_texts(start_app, tg, tmp_path):
    app = await start_app(**SETTINGS)
    services = app.bot_data["services"]
    ann = tg.user(41, "Ann")
    chat = tg.private_chat(ann)
    words = await fill_chat(app, tg, chat, ann)
    data_dir = services.settings.data_dir
    assert set(files_holding(data_dir, *words.values())) == set(words.values())  # the scan sees them before
    forget = tg.message(chat, ann, text="/forget")
    await deliver(app, tg, forget)
    assert "photo" in (await answer(tg, forget))["text"]
    assert files_holding(data_dir, *words.values()) == {}
    assert await asyncio.to_thread(services.photos.index.count, chat["id"]) == 0
    assert await services.history.current(Scope(chat["id"])) is None
    db = services.history._db
    assert db.execute("SELECT count(*) FROM gen_buttons WHERE chat_id = ?", (chat["id"],)).fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM job_journal WHERE chat_id = ?", (chat["id"],)).fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM quota_use WHERE user_id = ?", (ann["id"],)).fetchone() == (0,)


@pytest.mark.parametrize("how", ["forget", "removed"])
async def test_a_groups_forget_or_the_bot_removed_leaves_no_byte_of_its_texts(start_app, tg, how):
    app = await start_app(**SETTINGS)
    services = app.bot_data["services"]
    bo, admin = tg.user(42, "Bo"), tg.user(900, "Root")
    group = tg.group_chat(-4200, "Family")
    words = await fill_chat(app, tg, group, bo)
    if how == "forget":
        forget = tg.message(group, admin, text="/forget")
        await deliver(app, tg, forget)
        await answer(tg, forget)
    else:
        change = {
            "chat": group,
            "from": bo,
            "date": 0,
            "old_chat_member": {"status": "member", "user": tg.bot_user},
            "new_chat_member": {"status": "kicked", "user": tg.bot_user, "until_date": 0},
        }
        await app.process_update(
            Update.de_json({"update_id": tg.inject(change, "my_chat_member"), "my_chat_member": change}, app.bot)
        )
    assert files_holding(services.settings.data_dir, *words.values()) == {}
    assert await asyncio.to_thread(services.photos.index.count, group["id"]) == 0


@pytest.mark.parametrize("notice", ["migrate_from", "migrate_to", "both"])
async def test_a_group_that_becomes_a_supergroup_keeps_everything(start_app, tg, notice):
    app = await start_app(**SETTINGS)
    services = app.bot_data["services"]
    cy = tg.user(43, "Cy")
    group = tg.group_chat(-4300, "Club")
    words = await fill_chat(app, tg, group, cy)
    drawn = next(m for m in tg.bot_messages(group["id"]) if m.get("caption", "").startswith(words["prompt"]))
    key = drawn["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[2]
    supergroup, first, last = tg.migrate_to_supergroup(group, -1001000004300, by=cy)
    # Telegram sends the supergroup's first message (migrate_from) first; the bot may see only one of them.
    for message in {"migrate_from": [first], "migrate_to": [last], "both": [first, last]}[notice]:
        await deliver(app, tg, message)
    new, old = supergroup["id"], group["id"]
    assert await asyncio.to_thread(services.photos.index.count, new) >= 2
    assert await asyncio.to_thread(services.photos.index.count, old) == 0
    conversation = await services.history.current(Scope(new))
    assert conversation is not None and [t.question for t in conversation.turns] == [words["question"]]
    assert await services.history.current(Scope(old)) is None
    assert await services.gen.recall(key, new) is not None and await services.gen.recall(key, old) is None
    # The conversation goes on in the supergroup, and /find there still quotes the caption.
    follow_up = tg.message(supergroup, cy, text="/ask and then?")
    await deliver(app, tg, follow_up)
    assert (await answer(tg, follow_up))["text"] == "answer to and then?"
    for _ in range(200):  # the turn is stored right after the answer is sent
        conversation = await services.history.current(Scope(new))
        if len(conversation.turns) == 2:
            break
        await asyncio.sleep(0.01)
    assert [t.question for t in conversation.turns] == [words["question"], "and then?"]
    found = await asyncio.to_thread(services.photos.index.query, new, services.photos.spec, (1.0,), 5)
    assert words["caption"] in [m.record.caption for m in found]
