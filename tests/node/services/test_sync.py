"""Sync on its own: a node behind fetches ranges from a peer ahead; announcements are imported, then forwarded;
a block off every best chain that a finality vote names is fetched by hash."""

from __future__ import annotations

from dataclasses import replace

import trio

from node.keystore import Keystore
from node.protocol import BLOCKS_BY_HASH_PROTOCOL, TOPIC_BLOCKS, TOPIC_FINALITY, encode_blocks_response
from node.services.block_import import BlockImport
from node.services.finality import Finality
from node.services.sync import BEHIND_TOLERANCE, SYNC_BATCH, Sync
from runtime.executive import Block
from runtime.justification import SignedVote, Stage, Vote
from runtime.primitives import Digest
from tests.node.services.conftest import SESSION_KEYS, author, clock_at, connect_both, eventually, new_chain

NOW = 10**9


async def sync_service(nursery, chain, network, tmp_path) -> Sync:
    clock = clock_at(NOW)
    finality = Finality(chain, Keystore(tmp_path / f"keystore-{id(chain)}"), network, clock, validator=False)
    sync = Sync(chain, BlockImport(chain, clock, trio.CapacityLimiter(1)), finality, network, expect_peers=True)
    await nursery.start(finality.run)
    await nursery.start(sync.run)
    return sync


def prevote(chain, block: Block, authority: int = 0) -> SignedVote:
    """Round 1's prevote for ``block`` by the set's ``authority``-th voter."""
    key = SESSION_KEYS[chain.authority_set(chain.tree.finalized.state).authorities[authority]]
    return SignedVote.sign(1, 0, Vote(Stage.PREVOTE, block.hash, block.header.number), key.public, key.secret)


async def extend(chain, slots, count: int) -> None:
    importer = BlockImport(chain, clock_at(NOW), trio.CapacityLimiter(1))
    for _ in range(count):
        assert await importer.import_block(author(chain, next(slots)))


async def test_a_node_behind_fetches_what_its_peer_has_and_says_it_is_syncing(nursery, start_node, slots, tmp_path):
    ahead, behind = new_chain(), new_chain()
    await extend(ahead, slots, SYNC_BATCH + 2 * BEHIND_TOLERANCE)  # more than one batch
    ahead_network, behind_network = await start_node(), await start_node()
    await sync_service(nursery, ahead, ahead_network, tmp_path)
    sync = await sync_service(nursery, behind, behind_network, tmp_path)
    seen_syncing = []

    async def watch_health() -> None:  # what system_health's isSyncing reports, sampled
        while True:
            seen_syncing.append((sync.is_syncing, behind.tree.best.number))
            await trio.sleep(0)

    nursery.start_soon(watch_health)
    await connect_both(behind_network, ahead_network)
    await eventually(lambda: behind.tree.best_hash == ahead.tree.best_hash, timeout=30)
    await sync.initial_sync.wait()
    assert not sync.is_syncing and sync.highest_known() == ahead.tree.best.number
    assert any(syncing and number < ahead.tree.best.number for syncing, number in seen_syncing)


async def test_announced_blocks_are_imported_before_they_are_forwarded(nursery, start_node, slots, tmp_path):
    author_chain, relay_chain, last_chain = new_chain(), new_chain(), new_chain()
    author_network, relay_network, last_network = await start_node(), await start_node(), await start_node()
    await sync_service(nursery, relay_chain, relay_network, tmp_path)
    await sync_service(nursery, last_chain, last_network, tmp_path)
    await connect_both(author_network, relay_network)
    await connect_both(relay_network, last_network)  # the last node hears the author only through the relay
    block = author(author_chain, next(slots))
    await author_network.publish(TOPIC_BLOCKS, block.encode())
    await eventually(lambda: block.hash in relay_chain.tree and block.hash in last_chain.tree)
    assert relay_network.reputation(author_network.local_peer_id) == 0

    sibling = author(author_chain, next(slots))  # another block at height 1, which we forge two ways
    logs = sibling.header.digest.logs
    bad_seal = Block(replace(sibling.header, digest=Digest(logs[:-1] + (replace(logs[-1], data=bytes(64)),))),
                     sibling.extrinsics)
    bad_body = Block(sibling.header, ())  # sealed, but the extrinsics are not those the header commits to
    for forged in (bad_seal, bad_body):
        before = relay_network.reputation(author_network.local_peer_id)
        await author_network.publish(TOPIC_BLOCKS, forged.encode())
        await eventually(lambda: relay_network.reputation(author_network.local_peer_id) < before)
    await trio.sleep(0.3)
    assert last_network.reputation(relay_network.local_peer_id) == 0  # nothing bad was forwarded
    assert [relay_chain.tree.best.number, last_chain.tree.best.number] == [1, 1]
    assert sibling.hash not in relay_chain.tree


async def test_a_fork_block_only_a_vote_names_is_fetched_by_hash_and_the_vote_then_counts(
        nursery, start_node, slots, tmp_path):
    """An authority that authored a block before it had peers and then voted for it: the block is on no best
    chain, so range sync never brings it, and without it the vote never counts (enough such votes stop every
    round from completing: finality stalls for good). Its parent is fetched too."""
    holder, behind = new_chain(), new_chain()
    await extend(holder, slots, 3)
    importer = BlockImport(holder, clock_at(NOW), trio.CapacityLimiter(1))
    first = holder.tree.hash_at(1)
    fork = [author(holder, next(slots), parent=first)]
    assert await importer.import_block(fork[0])
    fork.append(author(holder, next(slots), parent=fork[0].hash))
    assert await importer.import_block(fork[1])  # #2 and #3 on a branch two blocks long: not the best chain
    assert holder.tree.best.number == 3 and fork[1].hash != holder.tree.best_hash

    holder_network, behind_network = await start_node(), await start_node()
    await sync_service(nursery, holder, holder_network, tmp_path)
    sync = await sync_service(nursery, behind, behind_network, tmp_path)
    await connect_both(behind_network, holder_network)
    await eventually(lambda: behind.tree.best_hash == holder.tree.best_hash, timeout=30)
    assert fork[1].hash not in behind.tree  # range sync follows the best chain only

    await holder_network.publish(TOPIC_FINALITY, prevote(holder, fork[1]).encode())
    await eventually(lambda: all(block.hash in behind.tree for block in fork), timeout=30)
    voter = sync.finality.voter
    await eventually(lambda: not voter.missing_blocks() and len(voter.current.prevotes) == 1)
    assert holder_network.reputation(behind_network.local_peer_id) == 0


async def test_a_peer_answering_a_request_by_hash_with_other_blocks_pays_and_nothing_is_imported(
        nursery, start_node, slots, tmp_path):
    source, behind = new_chain(), new_chain()
    await extend(source, slots, 1)
    named, other = author(source, next(slots)), author(source, next(slots), parent=source.tree.genesis_hash)
    liar_network, behind_network = await start_node(), await start_node()

    async def answer_with_another_block(peer, payload: bytes) -> bytes:
        return encode_blocks_response([(other.encode(), None)])

    liar_network.register_protocol(BLOCKS_BY_HASH_PROTOCOL, answer_with_another_block)
    await sync_service(nursery, behind, behind_network, tmp_path)
    await connect_both(behind_network, liar_network)
    await liar_network.publish(TOPIC_FINALITY, prevote(source, named).encode())
    await eventually(lambda: behind_network.reputation(liar_network.local_peer_id) < 0, timeout=30)
    assert named.hash not in behind.tree and other.hash not in behind.tree
