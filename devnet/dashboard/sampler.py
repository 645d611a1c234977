"""The dashboard's light client: on each finalized head, sample the newest available blobs, one at a time.

A browser cannot check a KZG proof or a storage read proof, so the dashboard daemon does the sampling the
page shows: it asks a validator for the newest blobs (RPC ``da_blobs``), keeps those marked available in its
:class:`devnet.dashboard.book.SampleBook`, and samples each once with the SDK (``DaApi.sample``: the blob's
commitment proven by a finalized header's state root, random cells fetched from their custodians, every
cell's proof verified in a KZG worker process). One sampling runs at a time and finalized heads that arrive
meanwhile are coalesced into one wake-up, so a burst of blobs costs a queue, never a pile of tasks.

It follows the validators through one :class:`sdk.chain.AsyncClient` given all their URLs, which moves to the
next when its connection fails: the devnet's faults kill validators, and the dashboard should keep reporting
while any one answers. A validator that is stopped rather than killed (``SIGSTOP``) keeps its connections
open and answers nothing, so the client never sees a failure: the sampler takes a validator that sends no
finalized head for :attr:`SamplerSettings.stall_blocks` block times as stalled, leaves it and connects
again (the stalled one costs one connection attempt; the client then moves on to the next).
"""

from __future__ import annotations

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

RECONNECT = ReconnectPolicy(give_up_after=10.0, attempt_timeout=5.0)
"""How long to retry the validators before reporting none answers (and trying again after a pause); a stalled
one's handshake is given up after ``attempt_timeout``."""
RETRY_PAUSE_S = 2.0
"""Pause after every validator failed, so a devnet that is down costs no busy loop."""


@dataclass(frozen=True)
class SamplerSettings:
    samples: int = 20
    """Cells drawn per blob: confidence 1 - 2**-20 when all verify."""
    scan: int = 64
    """Blobs asked of ``da_blobs`` per pass (newest first); the available among them fill the book."""
    timeout_s: float = 60.0
    """One blob's sampling, finality wait included."""
    stall_blocks: int = 10
    """Block times without a new finalized head after which the validator followed is taken as stalled."""

    def __post_init__(self) -> None:
        if self.samples < 1 or self.scan < 1 or self.timeout_s <= 0 or self.stall_blocks < 1:
            raise ValueError(f"sampler settings out of range: {self}")


class ValidatorStalled(Exception):
    """The validator followed sent no finalized head within the deadline: leave it for another."""


def stall_deadline(client: AsyncClient, stall_blocks: int) -> float:
    """Seconds without a finalized head after which the chain at ``client`` is taken as stalled:
    ``stall_blocks`` block times (Aura's slot is twice ``Timestamp.MinimumPeriod``)."""
    return stall_blocks * client.block_time_ms() / 1000


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
        while True:
            try:
                async with AsyncClient(self._urls, reconnect=RECONNECT) as client:
                    await self._follow(client)
            except* (ChainClientError, ValidatorStalled) as lost:  # from the heads task or a pass
                log.warning("lost the chain at %s (%s); connecting again", self.chain or ", ".join(self._urls),
                            lost.exceptions[0])
            self.chain = self.finalized = self.problem = None  # none of them holds without a chain
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
        """Wake a pass on each finalized head; raises :class:`ValidatorStalled` when none comes in time.
        Closing ``wake`` when the heads end lets the passes' loop end too."""
        stall_s = stall_deadline(client, self._settings.stall_blocks)
        async with wake, client.subscribe_finalized_heads() as heads:
            while True:
                self.chain = client.node_url  # the client may have moved to another validator meanwhile
                with trio.move_on_after(stall_s) as waiting:
                    header = await anext(heads, None)
                if waiting.cancelled_caught:
                    raise ValidatorStalled(f"{client.node_url} sent no finalized head for {stall_s:g} s")
                if header is None:
                    return
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
        """Sample one blob and record what came of it. Anything but the chain going away is that blob's error:
        an unexpected one (a bug) is logged with its traceback, and the sampler goes on,
        so one blob can never end the daemon that serves the page (rule 8)."""
        try:
            with trio.fail_after(self._settings.timeout_s):
                report = await api.sample(blob, samples=self._settings.samples)
        except ConnectionFailed:
            raise  # no validator answers: the next connection samples it
        except (DaError, ChainClientError, trio.TooSlowError, OSError) as exc:
            message = str(exc) or type(exc).__name__
            log.info("sampling %s failed: %s", blob, message)
            self._book.record_error(blob, message)
            return
        except Exception as exc:
            log.exception("sampling %s failed unexpectedly", blob)
            self._book.record_error(blob, f"{type(exc).__name__}: {exc}")
            return
        log.info("sampled %s: %d/%d cells verified", blob, report.verified, report.samples)
        self._book.record(blob, report)
