"""The dashboard daemon: serve the page and its API, and run the light client behind ``/v1/sampling``.

Shaped like the other daemons (rule 5): the constructor takes what it needs and does no I/O; ``run`` serves
on the configured port, starts the sampler, reports the bound port through ``task_status`` and runs until
cancelled (:func:`sdk.serving.run_daemon` writes ``endpoints.json`` and handles the signals).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import trio

from devnet.dashboard.book import SampleBook
from devnet.dashboard.sampler import Sampler
from devnet.dashboard.server import DashboardApi, StaticFile
from sdk.serving import serve

__all__ = ["Dashboard", "DashboardConfig"]

log = logging.getLogger("cairn.dashboard")


@dataclass(frozen=True)
class DashboardConfig:
    rpc: Sequence[str]
    """The validators' ``ws://`` JSON-RPC URLs: the page connects to the first that answers."""
    host: str = "127.0.0.1"
    http_port: int = 0


class Dashboard:
    def __init__(self, config: DashboardConfig, static: Mapping[str, StaticFile], book: SampleBook,
                 sampler: Sampler) -> None:
        self.config = config
        self.book = book
        self.sampler = sampler
        self.api = DashboardApi(static, {"rpc": list(config.rpc)}, book, self.health)

    def health(self) -> dict[str, object]:
        entries = self.book.entries()
        return {"status": "ok", "chain": self.sampler.chain, "finalized": self.sampler.finalized,
                "blobs": len(entries), "sampled": sum(entry.state == "sampled" for entry in entries),
                "problem": self.sampler.problem}

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(functools.partial(serve, self.api, self.config.host, self.config.http_port,
                                                         errorlog=log))
            nursery.start_soon(self.sampler.run)
            task_status.started(port)
