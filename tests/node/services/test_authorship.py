"""Authorship on its own: a real chain, pool and keystore; the test holds the block lane and sets the clock."""

from __future__ import annotations

import trio
import trio.testing

from node.chain import Chain
from node.clock import SlotClock
from node.consensus import aura
from node.keystore import SESSION_KEY_TYPE, Keystore
from node.services.authorship import Authorship
from node.txpool import PoolTransaction, TxPool
from runtime.executive import execute_block, validate_transactions
from runtime.hashing import blake2_256
from runtime.keyring import Keypair
from tests.node.services.conftest import ALICE, SESSION_KEYS, SPEC, author, clock_at, new_chain, transfer


class _CaughtUp:
    """Sync's progress as authorship reads it, for a node that has caught up with its peers."""

    def __init__(self) -> None:
        self.initial_sync = trio.Event()
        self.initial_sync.set()
        self.is_syncing = False


def _keystore(tmp_path) -> Keystore:
    keystore = Keystore(tmp_path / "keystore")
    for authority in SPEC.authority_names:
        keystore.insert(SESSION_KEY_TYPE, f"//{authority}")
    return keystore


def _key(chain: Chain, slot: int) -> Keypair:
    return SESSION_KEYS[aura.slot_author(slot, chain.authority_set(chain.tree.best.state).authorities)]


async def test_an_author_kept_waiting_for_the_lane_builds_on_the_block_imported_meanwhile(start_node, slots, tmp_path):
    chain = new_chain()
    previous, ours = next(slots), next(slots)
    lane = trio.CapacityLimiter(1)
    authorship = Authorship(chain, TxPool(), _keystore(tmp_path), clock_at(ours), _CaughtUp(), await start_node(), lane)
    key = _key(chain, ours)
    async with trio.open_nursery() as nursery:
        await lane.acquire()  # the previous slot's block is still being imported when our slot begins
        nursery.start_soon(authorship.author, ours, key)
        await trio.testing.wait_all_tasks_blocked()
        block = author(chain, previous)
        assert chain.add(block, execute_block(chain.runtime, chain.tree.best.state, block), previous)
        lane.release()
    assert chain.tree.best.number == 2 and chain.tree.best.block.header.parent_hash == block.hash


async def test_the_authoring_budget_counts_from_the_start_of_the_slot(start_node, slots, tmp_path):
    chain = new_chain()
    raw = transfer(chain, 0)
    genesis = chain.tree.genesis_hash
    (valid,) = validate_transactions(chain.runtime, chain.tree.best.state, genesis, [raw])
    pool = TxPool()
    pool.submit(PoolTransaction(raw, blake2_256(raw), valid.validity, ALICE.public, 0))
    network, keystore, slot_ms = await start_node(), _keystore(tmp_path), SPEC.slot_duration_ms
    late, on_time = next(slots), next(slots)
    past_its_share = SlotClock(slot_ms, now_ms=lambda: late * slot_ms + slot_ms * 6 // 10)
    authorship = Authorship(chain, pool, keystore, past_its_share, _CaughtUp(), network, trio.CapacityLimiter(1),
                            authoring_fraction=0.5)
    assert await authorship.author(late, _key(chain, late))
    assert len(chain.tree.best.block.extrinsics) == 1  # on time, without the transfer: only the timestamp
    authorship = Authorship(chain, pool, keystore, clock_at(on_time), _CaughtUp(), network, trio.CapacityLimiter(1))
    assert await authorship.author(on_time, _key(chain, on_time))
    assert chain.tree.best.block.extrinsics[1] == raw
