"""/find's filters by who and when: the pure parser (bot.features.find_filters) and its chromadb `where`."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import texts
from bot.errors import BadInput
from bot.features.find_filters import FindFilters, Mention, parse_filters
from bot.stores.photo_index import username_hash

ME = 41


def unix(*day: int) -> int:
    return int(dt.datetime(*day, tzinfo=dt.UTC).timestamp())


def test_words_without_filters_are_left_alone():
    query = parse_filters("a dog on the beach k=3", ME)
    assert query.words == "a dog on the beach k=3"
    assert not query.filters
    assert query.filters.where() is None


def test_filters_mixed_with_words_come_out_and_the_words_keep_their_order():
    query = parse_filters("beach from:me sunset FROM:@Ann_B after:2024-06 before:2025-01-31", ME)
    assert query.words == "beach sunset"
    assert query.filters == FindFilters(frozenset({ME}), frozenset({"ann_b"}), unix(2024, 6, 1), unix(2025, 1, 31))


@pytest.mark.parametrize(
    ("token", "after", "before"),
    [
        ("on:2024-12-25", unix(2024, 12, 25), unix(2024, 12, 26)),
        ("on:2024-02", unix(2024, 2, 1), unix(2024, 3, 1)),  # a leap year's February
        ("on:2024", unix(2024, 1, 1), unix(2025, 1, 1)),
        ("after:2024", unix(2024, 1, 1), None),
        ("after:2024-6", unix(2024, 6, 1), None),
        ("before:2025-01-31", None, unix(2025, 1, 31)),
        ("before:2025", None, unix(2025, 1, 1)),
    ],
)
def test_dates_at_year_month_or_day_granularity(token, after, before):
    filters = parse_filters(token, ME).filters
    assert (filters.after, filters.before) == (after, before)


def test_several_bounds_all_hold():
    filters = parse_filters("after:2023 after:2024-03 before:2025 on:2024", ME).filters
    assert (filters.after, filters.before) == (unix(2024, 3, 1), unix(2025, 1, 1))


@pytest.mark.parametrize(
    "bad", ["after:2024-13", "on:2024-02-30", "before:", "after:yesterday", "on:24-12-25", "after:2024-06-01-01"]
)
def test_a_malformed_date_names_itself(bad):
    with pytest.raises(BadInput) as error:
        parse_filters(f"cats {bad}", ME)
    assert repr(bad) in error.value.user_message.en
    assert repr(bad) in error.value.user_message.zh


@pytest.mark.parametrize("bad", ["from:", "from:ann", "from:@", "from:@a-b", "from:@" + "x" * 33])
def test_a_malformed_sender_names_itself(bad):
    with pytest.raises(BadInput) as error:
        parse_filters(bad, ME)
    assert repr(bad) in error.value.user_message.en


def test_a_text_mention_after_from_is_that_user_even_with_spaces_in_the_name():
    text = "cake from:Ann Lee party"
    start = text.index("Ann")
    query = parse_filters(text, ME, [Mention(start, start + len("Ann Lee"), 777)])
    assert query.words == "cake party"
    assert query.filters.sender_ids == {777}


def test_a_text_mention_not_after_from_is_just_words():
    text = "cake with Ann"
    query = parse_filters(text, ME, [Mention(10, 13, 777)])
    assert query.words == "cake with Ann"
    assert not query.filters


def test_the_where_clause():
    assert parse_filters("from:me", ME).filters.where() == {"sender_id": {"$in": [ME]}}
    assert parse_filters("from:@Ann", ME).filters.where() == {"username_hash": {"$in": [username_hash("ann")]}}
    where = parse_filters("from:me from:@ann on:2024-12-25", ME).filters.where()
    assert where == {
        "$and": [
            {"$or": [{"sender_id": {"$in": [ME]}}, {"username_hash": {"$in": [username_hash("ann")]}}]},
            {"date": {"$gte": unix(2024, 12, 25)}},
            {"date": {"$lt": unix(2024, 12, 26)}},
        ]
    }


def test_a_username_is_kept_as_a_hash_whatever_its_case_or_at_sign():
    assert username_hash("@Ann") == username_hash("ann")
    assert "ann" not in username_hash("ann")


# --- /find with filters, in-process against the fake Bot API -------------------------------------------------


async def find_in(app, tg, chat, user, text: str, *, entities: list[dict] | None = None) -> tuple[set[str], str]:
    """Send /find...; returns the file_ids of the matches the bot sent back and its text reply (or "")."""
    import asyncio
    import time

    from tests.support.chat import deliver, is_status

    request = tg.message(chat, user, text=text)
    if entities:
        request["entities"] = [*request.get("entities", []), *entities]
    await deliver(app, tg, request)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        later = [m for m in tg.bot_messages(chat["id"]) if m["message_id"] > request["message_id"]]
        media = {m["photo"][-1]["file_id"] for m in later if "photo" in m}
        words = [m["text"] for m in later if "text" in m and not is_status(m["text"])]
        if media or words:
            await asyncio.sleep(0.05)
            later = [m for m in tg.bot_messages(chat["id"]) if m["message_id"] > request["message_id"]]
            return {m["photo"][-1]["file_id"] for m in later if "photo" in m}, "".join(
                m["text"] for m in later if "text" in m and not is_status(m["text"])
            )
        await asyncio.sleep(0.01)
    raise AssertionError(f"no answer to {text!r}")


async def test_find_by_who_and_when_inside_the_chat_only(start_app, fake_api):
    from tests.support.chat import deliver, photo_bytes

    tg = fake_api
    app = await start_app(clip_model="m")
    bob, ann = tg.user(71, "Bob", username="Bob_B"), tg.user(72, "Ann")
    carl = tg.user(73, "Carl", username="carl")
    club, other = tg.group_chat(-1007100000001, "Club"), tg.group_chat(-1007100000002, "Other")

    async def post(chat, user, seed):
        message = tg.message(chat, user, photo=photo_bytes(seed))
        await deliver(app, tg, message)
        return message["photo"][-1]["file_id"]

    bobs = {await post(club, bob, 1), await post(club, bob, 2)}
    anns = {await post(club, ann, 3)}
    await post(other, carl, 4)
    await post(other, bob, 5)
    photos = app.bot_data["services"].photos
    for chat in (club, other):
        assert await photos.wait_indexed(chat["id"], 10)
    find = "/find@tiny_test_bot"
    assert (await find_in(app, tg, club, ann, f"{find} from:@bob_b k=10"))[0] == bobs  # not Bob's photo elsewhere
    assert (await find_in(app, tg, club, ann, f"{find} a cat from:@BOB_B k=10"))[0] == bobs  # words and a filter
    assert (await find_in(app, tg, club, ann, f"{find} from:me k=10"))[0] == anns
    assert (
        await find_in(
            app,
            tg,
            club,
            bob,
            f"{find} from:me from:Ann k=10",
            entities=[
                {"type": "text_mention", "offset": len(f"{find} from:me from:"), "length": 3, "user": ann},
            ],
        )
    )[0] == bobs | anns
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert (await find_in(app, tg, club, ann, f"{find} on:{today} k=10"))[0] == bobs | anns
    # Carl posted only in the other chat: this chat says nothing matches, the same as for a stranger.
    none_carl = await find_in(app, tg, club, ann, f"{find} from:@carl")
    none_stranger = await find_in(app, tg, club, ann, f"{find} from:@nobody_here")
    assert none_carl == none_stranger == (set(), texts.NO_FILTER_MATCHES.en)
    assert (await find_in(app, tg, club, ann, f"{find} cats before:2001"))[1] == texts.NO_FILTER_MATCHES.en
    malformed = await find_in(app, tg, club, ann, f"{find} cats after:2024-13")
    assert malformed == (set(), texts.bad_date_filter("after:2024-13").en)
    assert "from:@username" in (await find_in(app, tg, club, ann, f"{find} from:bob"))[1]
