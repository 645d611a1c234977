"""The finality service on its own: a one-authority chain on disk, a real keystore and network."""

from __future__ import annotations

import trio

from node.chain import Chain
from node.chain_spec import preset
from node.clock import SlotClock
from node.consensus.messages import NEIGHBOR_PROTOCOL, NeighborPacket
from node.consensus.voter_state import VoterState
from node.keystore import SESSION_KEY_TYPE, Keystore
from node.services.block_import import BlockImport
from node.services.finality import Finality
from tests.node.services.conftest import author, connect_both, eventually

DEV = preset("dev")
CLOCK = SlotClock(DEV.slot_duration_ms, now_ms=lambda: 10**12)


async def run_finality(nursery: trio.Nursery, chain: Chain, network, base) -> Finality:
    keystore = Keystore(base / "keystore")
    keystore.insert(SESSION_KEY_TYPE, "//Alice")
    finality = Finality(chain, keystore, network, CLOCK, validator=True)
    await nursery.start(finality.run)
    return finality


async def test_blocks_are_finalized_and_the_voter_resumes_after_a_restart(start_node, slots, tmp_path):
    network = await start_node()
    chain = Chain.open(DEV, tmp_path / "db")
    try:
        async with trio.open_nursery() as nursery:
            finality = await run_finality(nursery, chain, network, tmp_path)
            importer = BlockImport(chain, CLOCK, trio.CapacityLimiter(1))
            for _ in range(3):
                await importer.import_block(author(chain, next(slots)))
            await eventually(lambda: chain.tree.finalized.number == 3)
            assert chain.tree.justification(chain.tree.finalized_hash) is not None
            round_before = finality.voter.round
            assert finality.round_state()["setId"] == 0
            nursery.cancel_scope.cancel()
    finally:
        chain.close()
    reopened = Chain.open(DEV, tmp_path / "db")
    try:
        persisted = VoterState.decode(reopened.store.load_voter_state())
        assert persisted.round == round_before and persisted.votes  # saved before the votes went out
        async with trio.open_nursery() as nursery:
            finality = await run_finality(nursery, reopened, await start_node(), tmp_path)  # a new process
            assert finality.voter.round == round_before  # resumed, not back at round 0
            assert reopened.tree.finalized.number == 3
            nursery.cancel_scope.cancel()
    finally:
        reopened.close()


async def test_an_unreadable_voter_state_makes_the_node_observe_instead_of_vote(start_node, slots, tmp_path, caplog):
    chain = Chain.open(DEV, tmp_path / "db")
    try:
        chain.store.save_voter_state(b"\x01damaged")
        async with trio.open_nursery() as nursery:
            finality = await run_finality(nursery, chain, await start_node(), tmp_path)
            importer = BlockImport(chain, CLOCK, trio.CapacityLimiter(1))
            await importer.import_block(author(chain, next(slots)))
            await trio.sleep(3 * DEV.slot_duration_ms / 1000)  # several ticks: no vote, so nothing final
            assert finality.voter.key is None and chain.tree.finalized.number == 0
            nursery.cancel_scope.cancel()
    finally:
        chain.close()
    assert any("only observes finality" in r.getMessage() for r in caplog.records)


async def test_finality_follows_imports_again_after_falling_behind_a_burst_of_them(nursery, start_node, slots,
                                                                                  tmp_path):
    """The broadcaster of imported heads ends a listener that falls a whole buffer behind; finality's ended with
    it, and votes on new blocks were then only looked at once a tick, until a restart."""
    chain = Chain.open(DEV, tmp_path / "db")
    finality = await run_finality(nursery, chain, await start_node(), tmp_path)
    seen = []
    voter = finality.voter
    on_block_imported = voter.on_block_imported
    voter.on_block_imported = lambda: seen.append(1) or on_block_imported()
    head = chain.tree.best.block.header
    await eventually(lambda: len(chain.imported_heads) > 0)  # finality listens
    for _ in range(300):  # a burst past the listener's buffer (256), with no await between
        chain.imported_heads.publish(head)
    await eventually(lambda: len(seen) >= 256)  # what it had buffered
    await trio.sleep(0.2)
    seen.clear()
    chain.imported_heads.publish(head)
    await eventually(lambda: seen)


async def test_a_peer_that_disconnects_no_longer_counts_as_a_neighbor(start_node, tmp_path):
    """Its last round, ahead of ours, would keep the voter starting rounds and asking it, gone, to catch up."""
    network, peer = await start_node(), await start_node()
    chain = Chain.open(DEV, tmp_path / "db")
    try:
        async with trio.open_nursery() as nursery:
            finality = await run_finality(nursery, chain, network, tmp_path)
            await connect_both(peer, network)
            ahead = NeighborPacket(finality.voter.set_id, finality.voter.round + 50, 0)
            await peer.request(network.local_peer_id, NEIGHBOR_PROTOCOL, ahead.encode())
            assert finality.voter.neighbors == {peer.local_peer_id: ahead.round}
            peer.disconnect(network.local_peer_id)
            await eventually(lambda: not finality.voter.neighbors)
            nursery.cancel_scope.cancel()
    finally:
        chain.close()
