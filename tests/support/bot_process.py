"""The real bot, `python -m bot`, as a subprocess talking to a FakeTelegram server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAFakeTokenForTests-NeverLogged_0123456"
ADMIN = 999  # the admin user of the shared test bot
STARTED = "Application started"  # PTB's log line once polling runs


class BotProcess:
    """Starts and stops `python -m bot` with settings pointing at `telegram`; its log goes to a file."""

    def __init__(self, telegram: FakeTelegram, workdir: Path, **settings: str) -> None:
        self.telegram = telegram
        self.workdir = workdir
        self.log_path = workdir / "bot.log"
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.preexec_fn: Callable[[], None] | None = None  # run in the child before the bot starts (e.g. limits)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "HF_"))}
        missing = str(self.workdir / "not-configured")
        env.update(
            TELEGRAM_BOT_TOKEN=self.telegram.token,
            TELEGRAM_BASE_URL=self.telegram.base_url,
            TELEGRAM_BASE_FILE_URL=self.telegram.base_file_url,
            DATA_DIR=str(self.workdir / "data"),
            DEVICE="cpu",
            HF_HUB_OFFLINE="1",  # nothing may reach a model hub
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="DEBUG",
            OMP_NUM_THREADS="1",
            # Quotas are off unless a test sets them: tests send more than a person would.
            QUOTA_PER_MINUTE='{"*": 0}',
            QUOTA_PER_DAY='{"*": 0}',
        )
        for name in ("CAPTION_MODEL", "GEN_MODEL", "VLM_MODEL", "CLIP_MODEL", "CLASSIFY_MODEL"):
            env[name] = missing
        env.update({k.upper(): str(v) for k, v in self.settings.items()})
        return env

    def start(self, timeout: float = 60.0, ready_call: str = "getUpdates") -> BotProcess:
        """Start the bot and wait until it polls for updates (or makes `ready_call`, e.g. setWebhook).

        PTB logs "Application started" once its first getUpdates is under way; the fake server
        records a call only when it returns, which for an idle long poll is 10 s later.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        seen = len(self.telegram.calls(ready_call))
        started = self.logs().count(STARTED)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=self.workdir,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=self.preexec_fn,
        )
        deadline = time.monotonic() + timeout
        while len(self.telegram.calls(ready_call)) <= seen and self.logs().count(STARTED) <= started:
            if self.process.poll() is not None:
                raise AssertionError(f"the bot exited with {self.process.returncode}:\n{self.logs()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not start polling in {timeout} s:\n{self.logs()[-4000:]}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 30.0) -> int:
        """Ctrl-C, as a user would; kill it if it hangs. Returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the bot did not stop within {timeout} s:\n{self.logs()[-4000:]}") from None

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, as a service manager stops it; kill it if it hangs. Returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the bot did not stop within {timeout} s:\n{self.logs()[-4000:]}") from None
