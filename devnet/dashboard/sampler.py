"""The dashboard's light client: on each finalized head, sample the newest available blobs, one at a time.

A browser cannot check a KZG proof or a storage read proof, so the dashboard daemon does the sampling the
page shows: it asks a validator for the newest blobs (RPC ``da_blobs``), keeps those marked available in its
:class:`devnet.dashboard.book.SampleBook`, and samples each once with the SDK (``DaApi.sample``: the blob's
commitment proven by a finalized header's state root, random cells fetched from their custodians, every
cell's proof verified in a KZG worker process). One sampling runs at a time and finalized heads that arrive
meanwhile are coalesced into one wake-up, so a burst of blobs costs a queue, never a pile of tasks.

It follows one validator at a time and moves to the next of ``urls`` when that one cannot be reached: the
devnet's faults kill validators, and the dashboard should keep reporting while any one answers.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import trio

from devnet.dashboard.book import SampleBook
from sdk.chain import AsyncClient
from sdk.chain.errors import ChainClientError, ConnectionFailed, RpcError
from sdk.chain.transport import ReconnectPolicy
from sdk.da.api import DaApi
from sdk.da.errors import DaError
from sdk.da.pool import KzgPool
from sdk.da.wire import parse_blob_id

__all__ = ["Sampler", "SamplerSettings", "available_blobs"]

log = logging.getLogger("cairn.dashboard.sampler")

RECONNECT = ReconnectPolicy(give_up_after=10.0)
"""How long to retry one validator before trying the next."""
RETRY_PAUSE_S = 2.0
"""Pause after every validator failed once, so a devnet that is down costs no busy loop."""


@dataclass(frozen=True)
class SamplerSettings:
    samples: int = 20
    """Cells drawn per blob: confidence 1 - 2**-20 when all verify."""
    scan: int = 64
    """Blobs asked of ``da_blobs`` per pass (newest first); the available among them fill the book."""
    timeout_s: float = 60.0
    """One blob's sampling, finality wait included."""


def available_blobs(page: object) -> list[str]:
    """The ids of the blobs marked available in a ``da_blobs`` answer, in its order; an answer not shaped as
    the contract says raises ``ValueError`` (it comes from another process: checked before use)."""
    if not isinstance(page, Mapping) or not isinstance(page.get("items"), list):
        raise ValueError("da_blobs answered no {items: [...]} object")
    ids = []
    for item in page["items"]:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise ValueError(f"da_blobs item without an id: {str(item)[:100]}")
        parse_blob_id(item["id"])  # ValueError if not 0x + 64 hex digits
        if item.get("state") == "available":
            ids.append(item["id"].lower())
    return ids


class Sampler:
    """``run()`` samples until cancelled; :attr:`chain`, :attr:`finalized` and :attr:`problem` say how it goes
    (the health endpoint shows them)."""

    def __init__(self, urls: Sequence[str], book: SampleBook, pool: KzgPool,
                 settings: SamplerSettings = SamplerSettings()) -> None:
        if not urls:
            raise ValueError("the sampler needs at least one validator URL")
        self._urls = tuple(urls)
        self._book = book
        self._pool = pool
        self._settings = settings
        self.chain: str | None = None
        """The validator followed now (None while none answers)."""
        self.finalized: int | None = None
        self.problem: str | None = None
        """Why the last pass could not list blobs (e.g. the node serves no ``da_blobs``), else None."""

    async def run(self) -> None:
        for index in itertools.count():
            url = self._urls[index % len(self._urls)]
            try:
                async with AsyncClient(url, reconnect=RECONNECT) as client:
                    self.chain = url
                    await self._follow(client)
            except* ChainClientError as lost:  # from the heads task or a pass, grouped by their nursery
                log.warning("lost %s (%s); trying the next validator", url, lost.exceptions[0])
            self.chain = None
            if index % len(self._urls) == len(self._urls) - 1:
                await trio.sleep(RETRY_PAUSE_S)

    async def _follow(self, client: AsyncClient) -> None:
        api = DaApi(client, None, pool=self._pool)
        wake_send, wake_receive = trio.open_memory_channel[None](1)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._heads, client, wake_send)
                async for _ in wake_receive:
                    await self._pass(client, api)
        finally:
            await api.aclose()

    async def _heads(self, client: AsyncClient, wake: trio.MemorySendChannel[None]) -> None:
        async with client.subscribe_finalized_heads() as heads:
            async for header in heads:
                self.finalized = header.number
                try:
                    wake.send_nowait(None)
                except trio.WouldBlock:
                    pass  # a pass is already due: it will see this head's state

    async def _pass(self, client: AsyncClient, api: DaApi) -> None:
        try:
            available = available_blobs(await client.rpc_request("da_blobs", [None, self._settings.scan]))
        except (RpcError, ValueError) as exc:
            if self.problem != str(exc):
                log.warning("cannot list blobs: %s", exc)
            self.problem = str(exc)
            return
        self.problem = None
        for blob in self._book.update(available):
            await self._sample(api, blob)

    async def _sample(self, api: DaApi, blob: str) -> None:
        try:
            with trio.fail_after(self._settings.timeout_s):
                report = await api.sample(blob, samples=self._settings.samples)
        except ConnectionFailed:
            raise  # the validator is gone: the next one samples it
        except (DaError, ChainClientError, trio.TooSlowError, OSError) as exc:
            message = str(exc) or type(exc).__name__
            log.info("sampling %s failed: %s", blob, message)
            self._book.record_error(blob, message)
            return
        log.info("sampled %s: %d/%d cells verified", blob, report.verified, report.samples)
        self._book.record(blob, report)
