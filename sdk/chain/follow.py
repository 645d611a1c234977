"""Following the chain's events block by block, without gaps.

Head subscriptions skip blocks: finality moves several blocks at once, a client that reconnects misses
the heads announced meanwhile, and a reorg replaces blocks it already saw. :class:`EventSubscription`
turns each new head into the run of blocks not seen yet (walking parent hashes back to a block it has
seen, or to where it started), so every block on the followed chain is visited once and in order; on the
best chain a reorg's new blocks are visited too (their events may later be retracted: follow finalized
heads for settled events). A gap longer than ``max_gap`` blocks is cut to its newest ``max_gap``.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from types import TracebackType
from typing import Awaitable, Callable

from runtime.primitives import Header
from sdk.chain.transport import Subscription
from sdk.chain.types import BlockEvents, ChainEvent

__all__ = ["EventSubscription"]


class EventSubscription:
    """``async with client.subscribe_events("Balances") as events: async for block in events: ...`` —
    one :class:`BlockEvents` per block with events of the chosen pallets (all pallets when ``None``)."""

    def __init__(self, heads: Subscription[Header], header_at: Callable[[bytes], Awaitable[Header]],
                 events_at: Callable[[bytes], Awaitable[tuple[ChainEvent, ...]]], pallets: frozenset[str] | None,
                 *, max_gap: int = 256) -> None:
        self._heads = heads
        self._header_at = header_at
        self._events_at = events_at
        self._pallets = pallets
        self._max_gap = max_gap
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._floor: int | None = None
        self._ready: deque[BlockEvents] = deque()

    async def __aenter__(self) -> "EventSubscription":
        await self._heads.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._heads.__aexit__(exc_type, exc, tb)

    def __aiter__(self) -> "EventSubscription":
        return self

    async def __anext__(self) -> BlockEvents:
        while not self._ready:
            head = await self._heads.__anext__()
            for header in await self._unseen(head):
                events = await self._events_at(header.hash)
                self._saw(header.hash)  # only now: a block whose events did not come is visited again next time
                if self._pallets is not None:
                    events = tuple(e for e in events if e.pallet in self._pallets)
                if events:
                    self._ready.append(BlockEvents(header.hash, header.number, events))
        return self._ready.popleft()

    async def _unseen(self, head: Header) -> list[Header]:
        """``head`` and its ancestors not visited yet, oldest first."""
        if self._floor is None:
            self._floor = head.number
        run: list[Header] = []
        header = head
        while header.hash not in self._seen and len(run) < self._max_gap:
            run.append(header)
            if header.number <= self._floor or header.parent_hash in self._seen:
                break  # the usual case, one new head on a seen parent, asks the node for nothing
            header = await self._header_at(header.parent_hash)
        return run[::-1]

    def _saw(self, block_hash: bytes) -> None:
        self._seen[block_hash] = None
        while len(self._seen) > 4 * self._max_gap:
            self._seen.popitem(last=False)
