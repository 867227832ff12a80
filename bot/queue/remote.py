"""VLM_URL: /ask and /box go to an OpenAI-compatible serving engine; every other task to the device's backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from contract.requests import AskRequest, BoxRequest, Task

if TYPE_CHECKING:
    from bot.queue.backend import Backend
    from bot.settings import Settings
    from contract.requests import Request, Result
    from contract.worker import Interrupt, OnPartial


REMOTE = "remote"  # the queue's name for the server's slots


class RemoteVlmBackend:
    """Wraps the device's backend (local or ray); ASK and BOX run on the event loop as HTTP streams.

    The queue gives `remote_tasks` a worker of their own ("remote", with VLM_MAX_IN_FLIGHT slots in
    `capacity`), so up to VLM_MAX_IN_FLIGHT
    answers stream at once while the device goes on with captions, searches and images (see
    models.remote_vlm for why the network wait stays off the device worker).
    """

    remote_tasks = frozenset({Task.ASK, Task.BOX})

    def __init__(self, device: Backend, settings: Settings) -> None:
        from models.remote_vlm import RemoteVlm  # torch-free: the bot process runs it

        self.device = device
        self.vlm = RemoteVlm(settings)
        self.capacity = {REMOTE: settings.vlm_max_in_flight}

    @property
    def concurrency(self) -> int:
        return self.device.concurrency

    def worker_for(self, task: Task) -> str:
        return REMOTE if task in self.remote_tasks else self.device.worker_for(task)

    @property
    def batches_in_queue(self) -> bool:
        return self.device.batches_in_queue

    async def start(self) -> None:
        await self.vlm.start()
        await self.device.start()

    async def run(
        self, task: Task, requests: Sequence[Request], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Result]:
        if task in self.remote_tasks:
            asked = [r for r in requests if isinstance(r, AskRequest | BoxRequest)]
            return list(await self.vlm.run(asked, interrupt, on_partial))
        if on_partial is None:
            return await self.device.run(task, requests, interrupt)
        return await self.device.run(task, requests, interrupt, on_partial)

    async def close(self) -> None:
        await self.vlm.close()
        await self.device.close()

    def stats(self) -> dict[str, object]:
        return {**self.device.stats(), "vlm_server": self.vlm.stats()}
