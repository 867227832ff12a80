"""End to end: one user's flood of 500 /caption photos is refused before anything is downloaded, answered
once per burst, and another user's /help stays quick meanwhile."""

from __future__ import annotations

import threading
import time

import pytest

from bot.features.photos import CHAT_PENDING_MAX, DEFERRED_QUIET_S
from tests.support.chat import answer_to, answered_at, is_status, photo_bytes

pytestmark = pytest.mark.timeout(300)

FLOOD = 500
QUOTA = 10  # per minute
CAP = 5  # QUEUE_MAX_PER_USER


def _settled(tg, chat_id: int, quiet: float = 3.0, timeout: float = 120.0) -> list[dict]:
    """The bot's messages in the chat once nothing changed for `quiet` s and no status message is left."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = [(m["message_id"], m.get("text")) for m in tg.bot_messages(chat_id)]
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet and not any(is_status(t) for _, t in now):
            return tg.bot_messages(chat_id)
        time.sleep(0.1)
    raise AssertionError(f"the chat did not settle: {last}")


def test_a_flood_of_captions_is_refused_without_downloads_and_help_stays_quick(new_bot, tiny_blip, tiny_clip, user_ids):
    tg, bot = new_bot(
        caption_model=tiny_blip,
        clip_model=tiny_clip,
        quota_per_minute=f'{{"*": {QUOTA}}}',
        queue_max_per_user=str(CAP),
    )
    flooder = tg.user(next(user_ids), "Flo")
    flood_chat = tg.private_chat(flooder)
    other = tg.user(next(user_ids), "Ann")
    other_chat = tg.private_chat(other)
    photos = [photo_bytes(3000 + i) for i in range(FLOOD)]
    # A bot that has been up a while: its models are loaded (a first load is slow whatever comes in meanwhile).
    warm_up = tg.send_message(other_chat, other, photo=photo_bytes(2999), caption="/caption")
    assert answer_to(tg, warm_up, timeout=120)["text"]
    assert "/caption" in answer_to(tg, tg.send_message(other_chat, other, text="/help"), timeout=30)["text"]
    tg.reset_records()

    sent: list[dict] = []

    def flood() -> None:
        start = time.monotonic()
        for i, data in enumerate(photos):
            sent.append(tg.send_message(flood_chat, flooder, photo=data, caption="/caption"))
            ahead = start + (i + 1) / FLOOD - time.monotonic()  # about one second for all of them
            if ahead > 0:
                time.sleep(ahead)

    flooding = threading.Thread(target=flood)
    started = time.time()
    flooding.start()
    latencies = []
    for _ in range(6):
        time.sleep(0.3)
        at = time.time()
        answer = answer_to(tg, tg.send_message(other_chat, other, text="/help"), timeout=60)
        latencies.append(answered_at(tg, answer) - at)
    flooding.join()
    messages = _settled(tg, flood_chat["id"])

    flood_ids = {size["file_id"] for request in sent for size in request["photo"]}
    # Until the flood has been quiet for DEFERRED_QUIET_S; then the photos waiting on disk are indexed.
    before = started + DEFERRED_QUIET_S
    get_files = [c for c in tg.calls("getFile") if c.params.get("file_id") in flood_ids and c.time < before]
    downloads = [c for c in tg.calls("file_download") if c.time < before]
    answers = [m for m in messages if not is_status(m.get("text"))]
    refusals = [m for m in answers if "limit" in (m.get("text") or "") or "waiting" in (m.get("text") or "")]
    print(
        f"\nflood of {len(sent)}: getFile {len(get_files)}, downloads {len(downloads)}, "
        f"messages to the flooder {len(messages)} ({len(refusals)} refusals), "
        f"/help latency max {max(latencies):.2f} s: {[round(x, 2) for x in latencies]}"
    )
    assert len(sent) == FLOOD
    # Only the admitted requests are downloaded for their command; indexing takes a bounded share meanwhile.
    assert len(get_files) <= QUOTA + CHAT_PENDING_MAX, len(get_files)
    assert len(downloads) <= QUOTA + CHAT_PENDING_MAX, len(downloads)
    # At most the quota's answers plus one refusal per reason (the cap, then the quota).
    assert len(messages) <= QUOTA + 3, [m.get("text") for m in messages]
    assert 1 <= len(refusals) <= 3, [m.get("text") for m in refusals]
    assert max(latencies) < 1.0, latencies
    assert bot.alive()
