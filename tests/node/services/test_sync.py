"""Sync on its own: a node behind fetches ranges from a peer ahead; announcements are imported, then forwarded;
a block off every best chain that a finality vote names is fetched by hash."""

from __future__ import annotations

from dataclasses import replace

import trio

from node.keystore import Keystore
from node.protocol import (BLOCKS_BY_HASH_PROTOCOL, BLOCKS_PROTOCOL, STATUS_PROTOCOL, TOPIC_BLOCKS, TOPIC_FINALITY,
                           Status, encode_blocks_response)
from node.services.block_import import BlockImport
from node.services.finality import Finality
from node.services.sync import BEHIND_TOLERANCE, SYNC_BATCH, Sync
from runtime.executive import Block
from runtime.justification import Justification, SignedVote, Stage, Vote
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


def lying_status(chain, best_number: int = 2**32 - 1):
    """A status handler claiming ``best_number`` (and as much finalized) on ``chain``'s genesis."""
    async def status(peer, payload: bytes) -> bytes:
        genesis = chain.tree.genesis_hash
        return Status(genesis, bytes(32), best_number, bytes(32), best_number).encode()
    return status


async def test_a_peer_claiming_a_best_block_it_does_not_serve_never_makes_the_node_stop_authoring(
        nursery, start_node, slots, tmp_path):
    """A status is only a claim: a peer claiming block 2**32 - 1 kept the node "syncing" (so never authoring)
    for as long as it stayed connected; one such peer per validator stopped the chain."""
    ours = new_chain()
    await extend(ours, slots, 2)
    liar_network, our_network = await start_node(), await start_node()
    requests = []

    async def no_blocks(peer, payload: bytes) -> bytes:
        requests.append(payload)
        return encode_blocks_response([])

    liar_network.register_protocol(STATUS_PROTOCOL, lying_status(ours))
    liar_network.register_protocol(BLOCKS_PROTOCOL, no_blocks)
    sync = await sync_service(nursery, ours, our_network, tmp_path)
    await connect_both(our_network, liar_network)
    await sync.initial_sync.wait()
    await eventually(lambda: requests)
    await sync.sync_from(liar_network.local_peer_id)
    assert not sync.is_syncing and sync.highest_known() == ours.tree.best.number == 2
    assert sync.peer_status[liar_network.local_peer_id].best_number == 2**32 - 1  # (shown as claimed)


async def behind_a_liar(answer, nursery, start_node, slots, tmp_path):
    """Our chain of three blocks, synced from a peer claiming block 2**32 - 1 whose block requests
    ``answer(held, count)`` answers (``held``: our block #1; ``count``: the requests so far): (ours, sync, liar's
    network, ours, the requests)."""
    ours = new_chain()
    await extend(ours, slots, 3)
    held = ours.tree.entry(ours.tree.hash_at(1)).block
    liar_network, our_network = await start_node(), await start_node()
    requests = []

    async def blocks(peer, payload: bytes) -> bytes:
        requests.append(payload)
        return await answer(held, len(requests))

    liar_network.register_protocol(STATUS_PROTOCOL, lying_status(ours))
    liar_network.register_protocol(BLOCKS_PROTOCOL, blocks)
    sync = await sync_service(nursery, ours, our_network, tmp_path)
    await connect_both(our_network, liar_network)
    return ours, sync, liar_network, our_network, requests


async def test_a_peer_answering_a_range_with_blocks_we_hold_pays_and_the_loop_ends(
        nursery, start_node, slots, tmp_path):
    """The range loop trusted the claim and counted blocks, not heights: a peer answering every request with a
    block we hold kept it asking (tens of thousands of requests a second, for up to 2**32 rounds), and held up
    every other peer's sync and the blocks finality waits for."""
    async def the_same_block(held, count: int) -> bytes:
        return encode_blocks_response([(held.encode(), None)])

    ours, sync, liar_network, our_network, requests = await behind_a_liar(
        the_same_block, nursery, start_node, slots, tmp_path)
    await eventually(lambda: our_network.reputation(liar_network.local_peer_id) < 0, timeout=30)
    await sync.initial_sync.wait()
    assert len(requests) <= 2  # one per poll, not one per block it claims
    assert not sync.is_syncing and ours.tree.best.number == 3


async def test_an_oversized_justification_with_a_synced_block_costs_the_peer_undecoded(
        nursery, start_node, slots, tmp_path):
    """Justifications that come with synced blocks had no size limit (gossiped ones have one), and a large one
    took seconds of the event loop to decode."""
    from node.consensus.validation import MAX_COMMIT_BYTES

    ahead, ours = new_chain(), new_chain()
    await extend(ahead, slots, 1)
    block = ahead.tree.best.block
    peer_network, our_network = await start_node(), await start_node()

    vote = SignedVote(1, 0, Vote(Stage.PRECOMMIT, block.hash, 1), bytes(32), bytes(64))
    votes = MAX_COMMIT_BYTES // len(vote.encode()) + 1
    unknown_target = Justification(1, 0, b"\x01" * 32, 1, (vote,) * votes).encode()  # decodes, then is ignored

    async def block_with_a_huge_justification(peer, payload: bytes) -> bytes:
        return encode_blocks_response([(block.encode(), unknown_target)])

    peer_network.register_protocol(STATUS_PROTOCOL, lying_status(ahead, best_number=1))
    peer_network.register_protocol(BLOCKS_PROTOCOL, block_with_a_huge_justification)
    await sync_service(nursery, ours, our_network, tmp_path)
    await connect_both(our_network, peer_network)
    await eventually(lambda: our_network.reputation(peer_network.local_peer_id) < 0, timeout=30)
    assert block.hash in ours.tree and ours.tree.finalized.number == 0


async def test_a_peer_serving_blocks_we_hold_then_stalling_never_makes_the_node_stop_authoring(
        nursery, start_node, slots, tmp_path):
    """Blocks we hold import at once: a peer serving one (it can fetch ours) while claiming block 2**32 - 1, then
    stalling the next request, kept the node "syncing" for the whole stall, poll after poll."""
    async def a_held_block_then_nothing(held, count: int) -> bytes:
        if count > 1:
            await trio.sleep(60)
        return encode_blocks_response([(held.encode(), None)])

    ours, sync, liar_network, our_network, requests = await behind_a_liar(
        a_held_block_then_nothing, nursery, start_node, slots, tmp_path)
    await eventually(lambda: len(requests) == 2, timeout=30)
    assert not sync.is_syncing and sync.highest_known() == ours.tree.best.number == 3
