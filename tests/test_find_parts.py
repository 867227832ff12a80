"""The parts of /find that need no bot: its options, the captions of matches, link-backs, photo records."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from telegram import Chat, Document, Message, PhotoSize, Update, User

from bot.errors import BadInput
from bot.features.matches import match_caption, message_link
from bot.features.photos import photo_record
from bot.pipeline import UserRequest
from bot.stores.photo_index import Match, PhotoRecord
from contract.requests import EmbedTextRequest
from handlers.find import parse_find_args

WHEN = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        ("a dog on the beach", ("a dog on the beach", 5)),
        ("k=8 red car", ("red car", 8)),
        ("red car K=10", ("red car", 10)),
        ("k=1", ("", 1)),
        ("", ("", 5)),
        ("AgACAgIAAxkBAAI3qSJy7Qg", ("AgACAgIAAxkBAAI3qSJy7Qg", 5)),  # a typed file_id is words
    ],
)
def test_find_options(args, parsed):
    assert parse_find_args(args) == parsed


@pytest.mark.parametrize("bad", ["k=0", "k=11", "k=", "k=two", "k=-3"])
def test_a_bad_k_names_the_range(bad):
    with pytest.raises(BadInput) as error:
        parse_find_args(f"cats {bad}")
    assert "from 1 to 10" in error.value.user_message.en


def test_a_too_long_query_is_refused():
    with pytest.raises(BadInput, match="chars") as error:
        parse_find_args("word " * 200)
    assert "limit is 500" in error.value.user_message.en


def test_message_links_exist_only_where_telegram_has_them():
    assert message_link(Chat(-1001234567890, "supergroup"), 42) == "https://t.me/c/1234567890/42"
    assert message_link(Chat(-1001234567890, "channel"), 42) == "https://t.me/c/1234567890/42"
    assert message_link(Chat(-100123, "supergroup", username="club"), 7) == "https://t.me/club/7"
    assert message_link(Chat(-5, "group"), 42) is None
    assert message_link(Chat(5, "private"), 42) is None
    assert message_link(Chat(-1001234567890, "supergroup"), 0) is None  # an imported photo


def test_match_captions_carry_rank_score_sender_date_link_and_the_original_caption():
    record = PhotoRecord(
        "k",
        -1001234567890,
        file_id="f",
        message_id=42,
        sender="Ann",
        date=int(WHEN.timestamp()),
        caption="Sunset at the pier " + "x" * 300,
    )
    caption = match_caption(2, Match(record, 0.8349), Chat(-1001234567890, "supergroup"))
    lines = caption.split("\n")
    assert lines[0] == "#2 · 0.83 · Ann · 2 Mar 2026"
    assert lines[1] == "https://t.me/c/1234567890/42"
    assert lines[2].startswith("“Sunset at the pier") and lines[2].endswith("…”") and len(lines[2]) == 202
    command = PhotoRecord("k", 5, file_id="f", message_id=3, date=int(WHEN.timestamp()), caption="/find cats")
    assert match_caption(1, Match(command, -0.05), Chat(5, "private")) == "#1 · -0.05 · 2 Mar 2026"


def message(**fields) -> Message:
    user = User(7, "Ann", is_bot=False, last_name="Lee")
    return Message(11, WHEN, Chat(-5, "group"), from_user=user, **fields)


def test_the_largest_photo_size_is_indexed_with_its_message():
    sizes = (
        PhotoSize("big", "u-big", 1280, 960, file_size=90_000),
        PhotoSize("small", "u-small", 90, 67),
        PhotoSize("mid", "u-mid", 320, 240),
    )
    record, size = photo_record(message(photo=sizes, caption="our trip"))
    assert (record.key, record.file_id, size, record.kind) == ("u-big", "big", 90_000, "photo")
    assert (record.chat_id, record.message_id, record.sender_id, record.sender) == (-5, 11, 7, "Ann Lee")
    assert record.date == int(WHEN.timestamp()) and record.caption == "our trip"


def test_image_files_are_indexed_and_other_files_are_not():
    image = Document("doc", "u-doc", mime_type="image/png", file_size=1000)
    record, _ = photo_record(message(document=image))
    assert (record.key, record.kind) == ("u-doc", "document")
    assert photo_record(message(document=Document("pdf", "u-pdf", mime_type="application/pdf"))) is None
    assert photo_record(message(text="hello")) is None


def test_jobs_remember_the_command_that_asked_for_them():
    update = Update(5, message=message(text="/find@tiny_test_bot cats"))
    request = UserRequest(update, SimpleNamespace(services=None, bot=None))
    job = request.job(EmbedTextRequest("cats"))
    assert (job.command, job.seq, job.chat_id, job.user_id) == ("find", 5, -5, 7)
