"""Files that cost too much, through the real bot process: scan-heavy JPEGs and ribbons are refused with a
clear reply, high bit depths, HEIC and AVIF are read, and one photo is downloaded and decoded once for both
its command and its indexing."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.support.chat import answer_to, photo_bytes
from tests.support.find import find_answer
from tests.support.hostile_images import encode, gray16_png, heic, many_scan_jpeg, strip_png

pytestmark = pytest.mark.timeout(600)


def doc(data: bytes, mime: str, name: str, caption: str) -> dict:
    return dict(document=data, document_mime=mime, document_name=name, caption=caption)


def test_costly_files_get_clear_replies(full_bot, user_ids):
    tg, bot = full_bot
    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)
    colourful = Image.open(io.BytesIO(photo_bytes(7, size=(96, 64))))
    cases = [
        (
            "scan-heavy JPEG",
            doc(many_scan_jpeg(2000, (512, 512)), "image/jpeg", "a.jpg", "/caption"),
            "too many passes",
        ),
        ("1×10000 strip to /ask", doc(strip_png(1, 10_000), "image/png", "b.png", "/ask what is it?"), "long and thin"),
        # Over the VLM's own limit (Qwen's processor refuses ratios over 200): our refusal, not "the model failed".
        ("2×450 strip to /ask", doc(strip_png(2, 450), "image/png", "c.png", "/ask what is it?"), "long and thin"),
        ("1×10000 strip to /box", doc(strip_png(1, 10_000), "image/png", "d.png", "/box cat"), "long and thin"),
        ("16-bit grayscale PNG", doc(gray16_png(), "image/png", "e.png", "/classify"), "%"),
        ("HEIC from an iPhone", doc(heic(colourful), "image/heic", "IMG_0001.HEIC", "/classify"), "%"),
        ("AVIF", doc(encode(colourful, "AVIF"), "image/avif", "f.avif", "/classify"), "%"),
    ]
    sent = [(name, tg.send_message(chat, user, **kwargs), expected) for name, kwargs, expected in cases]
    for name, request, expected in sent:
        text = answer_to(tg, request, timeout=180).get("text") or ""
        assert expected in text, f"{name}: {text!r}"
        assert "try again" not in text and "Traceback" not in text, name
    # In Chinese for a user whose Telegram is in Chinese.
    li = tg.user(next(user_ids), "李", language_code="zh-hans")
    li_chat = tg.private_chat(li)
    for name, kwargs, expected in cases:
        if expected == "%":
            continue
        text = answer_to(tg, tg.send_message(li_chat, li, **kwargs), timeout=180)["text"]
        assert re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"\b(Please|That|too|long)\b", text), (name, text)
    assert bot.alive()


def test_a_photo_is_downloaded_once_for_its_command_and_its_indexing(full_bot, user_ids):
    tg, _bot = full_bot
    user = tg.user(next(user_ids), "Bo")
    chat = tg.private_chat(user)
    request = tg.send_message(chat, user, photo=photo_bytes(21, size=(320, 240)), caption="/caption")
    assert answer_to(tg, request, timeout=120)["text"]
    found = find_answer(tg, tg.send_message(chat, user, text="/find coloured blocks"), timeout=120)
    ids = {size["file_id"] for size in request["photo"]}
    assert [m["photo"][-1]["file_unique_id"] for m in found.matches] == [request["photo"][-1]["file_unique_id"]]
    downloads = [c for c in tg.calls("getFile") if c.params.get("file_id") in ids]
    assert len(downloads) == 1, [c.describe() for c in downloads]
