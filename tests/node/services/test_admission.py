"""Transaction admission on its own: a real chain, real networks on loopback, real signed transfers."""

from __future__ import annotations

import pytest
import trio

from node.protocol import TOPIC_TRANSACTIONS, encode_transactions
from node.services.admission import Admission
from node.txpool import ALREADY_IMPORTED, READY_FULL, TEMPORARILY_BANNED, PoolLimits, PoolTransaction
from runtime.executive import execute_block, validate_transactions
from runtime.extrinsic import InvalidKind, InvalidTransaction, MalformedExtrinsic
from runtime.keyring import Keypair
from tests.node.services.conftest import ALICE, BOB, author, connect_both, eventually, new_chain, transfer

CHARLIE = Keypair.from_uri("//Charlie")
TIP = 10**9


class Updates:
    """A watcher collecting a transaction's statuses (what an RPC subscription receives)."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.start_soon = nursery.start_soon
        self.received: list = []

    async def send(self, update) -> None:
        self.received.append(update)


async def started(nursery: trio.Nursery, admission: Admission) -> Admission:
    await nursery.start(admission.run)
    return admission


async def test_submissions_get_their_hash_or_a_typed_refusal(nursery, start_node):
    chain = new_chain()
    admission = await started(nursery, Admission(chain, await start_node()))
    good = transfer(chain, 0)
    bad_signature = bytearray(transfer(chain, 1))
    bad_signature[-40] ^= 1  # inside the call's value: the signature no longer matches
    outcomes = await admission.submit([good, good, b"\x04\x00", bytes(bad_signature), transfer(chain, 5)])
    assert isinstance(outcomes[0], bytes) and outcomes[0] in admission.pool
    assert outcomes[1] is ALREADY_IMPORTED  # a copy in the same batch
    assert isinstance(outcomes[2], MalformedExtrinsic)
    assert isinstance(outcomes[3], (InvalidTransaction, MalformedExtrinsic))
    assert isinstance(outcomes[4], bytes) and admission.pool.future_count == 1  # nonce 5 waits for 1..4
    assert admission.next_nonce(ALICE.public) == 1
    assert admission.next_nonce(BOB.public) == 0


async def test_a_watcher_follows_its_transaction_into_a_block_and_to_finality(nursery, start_node, slots):
    chain = new_chain()
    admission = await started(nursery, Admission(chain, await start_node()))
    updates = Updates(nursery)
    raw = transfer(chain, 0)
    (tx_hash,) = await admission.submit([raw], watch=updates)
    block = author(chain, next(slots), list(admission.pool.best()))
    state = _execute(chain, block)
    assert chain.add(block, state, None)  # the pool is pruned before the head is published
    assert tx_hash not in admission.pool
    assert (await admission.submit([raw]))[0] is TEMPORARILY_BANNED  # included: refused at once
    stale = await admission.submit([transfer(chain, 0, value=7)])  # same nonce, another transfer
    assert isinstance(stale[0], InvalidTransaction) and stale[0].kind is InvalidKind.Stale
    chain.finalize(block.hash, b"justification")
    await eventually(lambda: len(updates.received) == 3)
    assert updates.received == ["ready", {"inBlock": "0x" + block.hash.hex()}, {"finalized": "0x" + block.hash.hex()}]


async def included(nursery, start_node, slots):
    """A chain and its admission, with a transfer submitted and included in the best block: the chain, the
    admission, the transfer's hash and its block."""
    chain = new_chain()
    admission = await started(nursery, Admission(chain, await start_node()))
    (tx_hash,) = await admission.submit([transfer(chain, 0)])
    with_it = author(chain, next(slots), list(admission.pool.best()))
    chain.add(with_it, _execute(chain, with_it), None)
    return chain, admission, tx_hash, with_it


async def test_a_reorg_puts_retracted_transactions_back(nursery, start_node, slots):
    chain, admission, tx_hash, with_it = await included(nursery, start_node, slots)
    genesis = chain.tree.genesis_hash
    assert tx_hash not in admission.pool
    fork = [author(chain, next(slots), parent=genesis)]  # a longer branch without it
    chain.add(fork[0], _execute(chain, fork[0]), None)
    fork.append(author(chain, next(slots), parent=fork[0].hash))
    chain.add(fork[1], _execute(chain, fork[1]), None)
    assert chain.tree.best_hash == fork[1].hash
    await eventually(lambda: tx_hash in admission.pool)  # validated again on the next gossip tick


async def test_finality_on_another_branch_moves_the_best_block_and_puts_its_transactions_back(
        nursery, start_node, slots):
    chain, admission, tx_hash, with_it = await included(nursery, start_node, slots)
    rival = author(chain, next(slots), parent=chain.tree.genesis_hash)  # as high, so the best block stays with_it
    chain.add(rival, _execute(chain, rival), None)
    assert chain.tree.best_hash == with_it.hash and tx_hash not in admission.pool
    changes = []
    chain.best_listeners.append(changes.append)
    with chain.new_heads.subscribe() as heads:
        chain.finalize(rival.hash, b"justification")  # the voters chose the other branch
        assert chain.tree.best_hash == rival.hash
        assert [(c.block.hash, c.enacted, c.retracted) for c in changes] == [(rival.hash, (rival,), (with_it,))]
        assert heads.receive_nowait().hash == rival.hash
    await eventually(lambda: tx_hash in admission.pool)  # not banned for the block that was dropped


@pytest.mark.parametrize("holder", ["first", "second"])
async def test_a_watcher_is_told_the_block_that_holds_its_transaction_when_a_reorg_enacts_several(
        nursery, start_node, slots, holder):
    chain = new_chain()
    admission = await started(nursery, Admission(chain, await start_node()))
    updates = Updates(nursery)
    await admission.submit([transfer(chain, 0)], watch=updates)
    genesis = chain.tree.genesis_hash
    empty = author(chain, next(slots))
    chain.add(empty, _execute(chain, empty), None)
    pooled = list(admission.pool.best())
    first = author(chain, next(slots), pooled if holder == "first" else [], parent=genesis)
    chain.add(first, _execute(chain, first), None)  # not best yet: as high as the best block
    second = author(chain, next(slots), pooled if holder == "second" else [], parent=first.hash)
    chain.add(second, _execute(chain, second), None)  # the fork is best: first and second are enacted at once
    assert chain.tree.best_hash == second.hash
    await eventually(lambda: len(updates.received) == 2)
    holding = first if holder == "first" else second  # (in second, the new best's nonce must not drop it first)
    assert updates.received == ["ready", {"inBlock": "0x" + holding.hash.hex()}]


async def test_gossip_pools_valid_batches_and_rejects_those_with_forged_transactions(nursery, start_node):
    chain = new_chain()
    receiver_network, sender = await start_node(), await start_node()
    await connect_both(sender, receiver_network)
    admission = await started(nursery, Admission(chain, receiver_network))
    await sender.publish(TOPIC_TRANSACTIONS, encode_transactions([transfer(chain, 0), transfer(chain, 1)]))
    await eventually(lambda: len(admission.pool) == 2)
    assert receiver_network.reputation(sender.local_peer_id) == 0  # a good batch costs nothing
    await sender.publish(TOPIC_TRANSACTIONS, b"\x08garbage")
    await eventually(lambda: receiver_network.reputation(sender.local_peer_id) < 0)
    scored = receiver_network.reputation(sender.local_peer_id)
    forged = bytearray(transfer(chain, 2))
    forged[-40] ^= 1
    await sender.publish(TOPIC_TRANSACTIONS, encode_transactions([transfer(chain, 3), bytes(forged)]))
    await eventually(lambda: receiver_network.reputation(sender.local_peer_id) < scored)
    assert not receiver_network.is_banned(sender.local_peer_id)  # two bad messages never ban


async def test_a_gossiped_mortal_transaction_whose_era_ended_costs_its_sender_nothing(nursery, start_node, slots):
    """A mortal transaction past its era fails as a bad proof (its birth block moved on), and its era may end
    between the sender's best block and ours: with the SDK signing mortal transactions, honest peers were
    scored as forgers for it. (An immortal forgery still costs its sender: the test above.)"""
    from runtime.extrinsic import encode_signed, signing_payload
    from runtime.primitives import Era

    chain = new_chain()
    for _ in range(5):
        block = author(chain, next(slots))
        chain.add(block, _execute(chain, block), None)
    runtime, genesis = chain.runtime, chain.tree.genesis_hash
    call = runtime.call_codec.encode(runtime.call("System", "remark", remark=b"late"))
    era = Era.mortal(4, 0)  # born at genesis, dead at block 4
    version = runtime.VERSION
    payload = signing_payload(call, era, 0, 0, version.spec_version, version.transaction_version, genesis, genesis)
    expired = encode_signed(call, ALICE.public, ALICE.scheme, ALICE.sign(payload), era, 0, 0)
    receiver_network, sender = await start_node(), await start_node()
    await connect_both(sender, receiver_network)
    admission = await started(nursery, Admission(chain, receiver_network))
    (outcome,) = await admission.submit([expired])
    assert isinstance(outcome, InvalidTransaction) and outcome.kind is InvalidKind.BadProof
    await sender.publish(TOPIC_TRANSACTIONS, encode_transactions([expired, transfer(chain, 0)]))
    await eventually(lambda: len(admission.pool) == 1)
    await trio.sleep(0.2)
    assert receiver_network.reputation(sender.local_peer_id) == 0


def _execute(chain, block):
    return execute_block(chain.runtime, chain.tree.state(block.header.parent_hash), block)


async def test_a_watched_transaction_retracted_and_no_longer_valid_ends_dropped(nursery, start_node, slots):
    chain = new_chain()
    admission = await started(nursery, Admission(chain, await start_node()))
    updates = Updates(nursery)
    await admission.submit([transfer(chain, 0)], watch=updates)
    genesis = chain.tree.genesis_hash
    with_it = author(chain, next(slots), list(admission.pool.best()))
    chain.add(with_it, _execute(chain, with_it), None)
    rival_raw = transfer(chain, 0, value=5)  # a fork spends nonce 0 on another transfer
    (rival,) = validate_transactions(chain.runtime, chain.tree.state(genesis), genesis, [rival_raw])
    fork = [author(chain, next(slots), [PoolTransaction(rival_raw, b"r" * 32, rival.validity, ALICE.public, 0)],
                   parent=genesis)]
    chain.add(fork[0], _execute(chain, fork[0]), None)
    fork.append(author(chain, next(slots), parent=fork[0].hash))
    chain.add(fork[1], _execute(chain, fork[1]), None)
    await eventually(lambda: "dropped" in updates.received)
    assert updates.received == ["ready", {"inBlock": "0x" + with_it.hash.hex()}, "dropped"]


async def test_a_watcher_that_went_away_does_not_disturb_the_chain(nursery, start_node, slots, caplog):
    chain = new_chain()
    admission = await started(nursery, Admission(chain, await start_node()))
    async with trio.open_nursery() as connection:  # the client's connection, which then closes
        updates = Updates(connection)
        await admission.submit([transfer(chain, 0)], watch=updates)
        await eventually(lambda: updates.received == ["ready"])
        connection.cancel_scope.cancel()
    block = author(chain, next(slots), list(admission.pool.best()))
    assert chain.add(block, _execute(chain, block), None)
    assert chain.finalize(block.hash, b"justification") == [block.hash]
    assert isinstance((await admission.submit([transfer(chain, 1)]))[0], bytes)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


def _forged(raw: bytes) -> bytes:
    """``raw`` with a byte of its signature flipped: it decodes, and fails only the signature check."""
    forged = bytearray(raw)
    forged[50] ^= 1  # (2-byte length, version, address kind, 32-byte signer, scheme, then the signature)
    return bytes(forged)


async def test_a_full_pool_refuses_before_validating_what_could_not_outrank_anything(nursery, start_node):
    chain = new_chain()
    admission = await started(nursery, Admission(chain, await start_node(), PoolLimits(max_ready=1)))
    updates = Updates(nursery)
    (pooled,) = await admission.submit([transfer(chain, 0)], watch=updates)
    (outcome,) = await admission.submit([_forged(transfer(chain, 0, signer=BOB))])
    assert outcome is READY_FULL  # not BadProof: its signature was never checked
    (outcome,) = await admission.submit([_forged(transfer(chain, 0, signer=BOB, tip=TIP))])
    assert isinstance(outcome, InvalidTransaction) and outcome.kind is InvalidKind.BadProof  # might outrank: validated
    (outcome,) = await admission.submit([transfer(chain, 0, signer=BOB, tip=TIP)])
    assert isinstance(outcome, bytes) and pooled not in admission.pool  # it does, evicting the tipless one
    await eventually(lambda: updates.received == ["ready", "dropped"])


async def test_a_full_pool_decodes_what_it_must_rank_off_the_event_loop(nursery, start_node, monkeypatch):
    """Ranking a newcomer against a full pool takes decoding its call, which for 4 MiB of hostile call data takes
    seconds: done on the event loop, it froze the node (RPC, import, finality, network) for every submission."""
    import threading

    from node.services import admission as module

    chain = new_chain()
    admission = await started(nursery, Admission(chain, await start_node(), PoolLimits(max_ready=1)))
    await admission.submit([transfer(chain, 0)])
    decoded_on = []
    rank = module._priority_before_validation
    monkeypatch.setattr(module, "_priority_before_validation",
                        lambda runtime, raw: decoded_on.append(threading.current_thread()) or rank(runtime, raw))
    (outcome,) = await admission.submit([_forged(transfer(chain, 0, signer=BOB))])
    assert outcome is READY_FULL and decoded_on and threading.main_thread() not in decoded_on
    (outcome,) = await admission.submit([b"\x10\x04\xff\xff\x00"])  # no such call: malformed, as validation says
    assert isinstance(outcome, MalformedExtrinsic)


async def test_a_full_pool_takes_from_a_gossiped_batch_only_what_outranks_and_blames_no_one(nursery, start_node):
    chain = new_chain()
    receiver_network, sender = await start_node(), await start_node()
    await connect_both(sender, receiver_network)
    admission = await started(nursery, Admission(chain, receiver_network, PoolLimits(max_ready=1)))
    await admission.submit([transfer(chain, 0)])
    tipless, tipped = _forged(transfer(chain, 0, signer=BOB)), transfer(chain, 0, signer=CHARLIE, tip=TIP)
    await sender.publish(TOPIC_TRANSACTIONS, encode_transactions([tipless, tipped]))
    await eventually(lambda: admission.pool.ready_count == 1 and next(admission.pool.best()).raw == tipped)
    assert len(admission.pool) == 1
    assert receiver_network.reputation(sender.local_peer_id) == 0  # refused unchecked: nothing to blame


async def test_a_block_that_lands_while_a_transaction_is_validated_neither_strands_nor_admits_it_stale(
        nursery, start_node, slots):
    """The block includes the transaction's predecessor (it must be ready, not wait in future for a predecessor
    the pool has pruned) or one with its own nonce (it is stale)."""
    chain = new_chain()
    admission = await started(nursery, Admission(chain, await start_node()))
    (first,) = await admission.submit([transfer(chain, 0)])
    outcomes: list = []

    async def submit(raws: list[bytes]) -> None:
        outcomes.extend(await admission.submit(raws))

    async with admission._validator:  # the batch reads the best block, then waits here to be validated
        nursery.start_soon(submit, [transfer(chain, 1), transfer(chain, 0, value=7)])
        await eventually(lambda: admission._validator.statistics().tasks_waiting == 1)
        block = author(chain, next(slots), list(admission.pool.best()))
        assert chain.add(block, _execute(chain, block), None)
        assert first not in admission.pool
    await eventually(lambda: len(outcomes) == 2)
    successor, stale = outcomes
    assert admission.pool.get(successor) is not None and admission.pool.ready_count == 1
    assert isinstance(stale, InvalidTransaction) and stale.kind is InvalidKind.Stale


async def test_a_submission_whose_submitter_stopped_waiting_is_not_validated(nursery, start_node, monkeypatch):
    """A client gone (or its RPC deadline past) left its transaction queued, to be validated for no one: junk
    submitted and abandoned kept validation busy while the transactions of clients still waiting timed out."""
    from node.services import admission as module

    chain = new_chain()
    admission = await started(nursery, Admission(chain, await start_node()))
    validated = []
    validate = module._validate_confined
    monkeypatch.setattr(module, "_validate_confined",
                        lambda runtime, state, at, raws: validated.extend(raws) or validate(runtime, state, at, raws))
    first, abandoned = transfer(chain, 0), transfer(chain, 1)
    outcomes = []
    async with admission._validator:  # validation busy: the first waits in its batch, the second in the queue
        nursery.start_soon(lambda: _collect(admission, [first], outcomes))
        await eventually(lambda: admission._queued.used == len(first))
        with trio.move_on_after(0.2):
            await admission.submit([abandoned])
    await eventually(lambda: outcomes and admission._queued.used == 0)
    assert validated == [first] and isinstance(outcomes[0][0], bytes)


async def _collect(admission: Admission, raws: list[bytes], into: list) -> None:
    into.append(await admission.submit(raws))
