"""Authorship: in each of our Aura slots, build a block from the pool, add it to the chain, announce it.

A validator authors only once it has caught up with its peers (an author on a stale chain makes forks that
lose) and never while it is behind them. The slot's author is read from the best block's state; the key is
whichever of the keystore's keys that authority is, so a key rotated in over RPC is used from its session
on. Building runs on the block lane (see ``block_import``) until ``authoring_fraction`` of the slot has passed,
so the block has the rest of the slot to reach the other validators. The parent is the best block once the
lane is ours: under load the previous slot's block may still be importing when the slot begins, and building
on its parent instead would only make a fork that loses; and the time spent waiting comes out of the budget,
so a late author builds a smaller block rather than a late one.
"""

from __future__ import annotations

import logging
from typing import Protocol

import trio

from node.authorship import author_block
from node.chain import Chain
from node.clock import SlotClock
from node.consensus import aura
from node.keystore import Keystore
from node.network import NetworkService
from node.protocol import TOPIC_BLOCKS
from node.txpool import TxPool
from runtime.keyring import Keypair

__all__ = ["Authorship", "SyncProgress"]

log = logging.getLogger("cairn.authorship")


class SyncProgress(Protocol):
    """What authorship needs to know of sync (``node.services.sync.Sync``)."""

    initial_sync: trio.Event

    @property
    def is_syncing(self) -> bool: ...


class Authorship:
    def __init__(self, chain: Chain, pool: TxPool, keystore: Keystore, clock: SlotClock, sync: SyncProgress,
                 network: NetworkService, block_lane: trio.CapacityLimiter, *, authoring_fraction: float = 0.5) -> None:
        self.chain = chain
        self.pool = pool
        self.keystore = keystore
        self.clock = clock
        self.sync = sync
        self.network = network
        self.block_lane = block_lane
        self.authoring_fraction = authoring_fraction

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await self.sync.initial_sync.wait()  # never author on a chain we have not caught up with
        last_slot = -1
        while True:
            now_ms = self.clock.now_ms()
            slot = aura.slot_at(now_ms, self.clock.slot_ms)
            if slot == last_slot:
                await trio.sleep((self.clock.slot_start_ms(slot + 1) - now_ms) / 1000)
                continue
            last_slot = slot
            key = self._our_author(slot)
            if key is not None:
                try:
                    await self.author(slot, key)
                except Exception:  # a block that cannot be built is a missed slot, never the end of the node
                    log.exception("could not author a block in slot %d", slot)

    def _our_author(self, slot: int) -> Keypair | None:
        """Our key if ``slot`` is ours to author on the best block (and we are not behind)."""
        best = self.chain.tree.best
        if best.slot is not None and best.slot >= slot or self.sync.is_syncing:
            return None
        authorities = self.chain.authority_set(best.state).authorities
        if not authorities:
            return None
        return self.keystore.get(aura.slot_author(slot, authorities))

    async def author(self, slot: int, key: Keypair) -> bool:
        """Build, add and announce our block for ``slot`` on the best block; whether it was added."""
        runtime = self.chain.runtime
        async with self.block_lane:
            parent = self.chain.tree.best
            if parent.slot is not None and parent.slot >= slot:
                return False
            parent_state = parent.state  # (here: after a restart it may still be read from the database)
            candidates = list(self.pool.best())
            deadline_ms = self.clock.slot_start_ms(slot) + self.clock.slot_ms * self.authoring_fraction
            budget = max(0.0, (deadline_ms - self.clock.now_ms()) / 1000)
            authored = await trio.to_thread.run_sync(
                lambda: author_block(runtime, parent.block, parent_state, slot=slot,
                                     timestamp_ms=self.clock.slot_start_ms(slot), secret=key.secret,
                                     candidates=candidates, budget_s=budget))
        for tx_hash, reason in authored.rejected:
            self.pool.remove_invalid(tx_hash, reason)
        log.info("authored #%d in slot %d: %d transactions, %d refused", authored.block.header.number, slot,
                 len(authored.included), len(authored.rejected))
        if not self.chain.add(authored.block, authored.state, slot):
            return False
        await self.network.publish(TOPIC_BLOCKS, authored.block.encode())
        return True
