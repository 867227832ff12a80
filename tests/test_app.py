"""The Application in-process against the fake Bot API: the error handler and log hygiene."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from bot.app import build_application
from bot.errors import BadInput
from bot.logs import RedactSecrets
from bot.messaging.commands import Command
from bot.settings import Settings
from tests.support.bot_process import TOKEN
from tests.support.chat import answer_to
from tests.support.fake_telegram import FakeTelegram


async def broken(request):
    """A handler with a bug."""
    raise RuntimeError("secret internals: /home/owner/.cache")


async def refuses(request):
    raise BadInput("log-only detail", user_message="That option is out of range (1-4).")


@pytest.fixture
async def running_app(tmp_path):
    telegram = FakeTelegram(TOKEN).start()
    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_base_url=telegram.base_url,
        telegram_base_file_url=telegram.base_file_url,
        data_dir=tmp_path,
    )
    commands = (Command("broken", "A bug", "/broken", broken), Command("refuses", "Bad input", "/refuses", refuses))
    application = build_application(settings, commands)
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        yield telegram
        await application.updater.stop()
        await application.stop()
    telegram.stop()


async def test_a_bug_gets_a_generic_reply_with_an_id_that_is_in_the_log(running_app, caplog):
    tg = running_app
    user = tg.user(42, "Ann")
    request = tg.send_message(tg.private_chat(user), user, text="/broken")
    text = (await asyncio.to_thread(answer_to, tg, request, 20))["text"]
    assert "secret internals" not in text and "Traceback" not in text
    error_id = re.search(r"error ([0-9a-f]{8})", text).group(1)
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


async def test_a_bot_error_replies_with_its_own_message(running_app):
    tg = running_app
    user = tg.user(43, "Bo")
    request = tg.send_message(tg.private_chat(user), user, text="/refuses")
    text = (await asyncio.to_thread(answer_to, tg, request, 20))["text"]
    assert text == "That option is out of range (1-4)."


def test_token_is_scrubbed_from_messages_arguments_and_tracebacks():
    secret = "123:ABCsecret"
    record_filter = RedactSecrets(secret, "other-secret")
    try:
        raise ValueError(f"https://api.telegram.org/bot{secret}/getMe failed")
    except ValueError as exc:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "url %s", (f"/bot{secret}/x",), (type(exc), exc, exc.__traceback__)
        )
    record_filter.filter(record)
    formatted = logging.Formatter().format(record)
    assert secret not in formatted
    assert "[REDACTED]" in formatted
