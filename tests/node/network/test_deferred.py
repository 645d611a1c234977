"""Deferred gossip validation over real TCP: nothing is forwarded before ``accept()``, verdicts, deadlines,
de-duplication, and the memory bounds on messages waiting for a verdict."""

from __future__ import annotations

import pytest
import trio

from node.network import GossipMessage, Penalty, Verdict

from .conftest import accept_all, connect_both, eventually, quiet_then_drain


async def _line(start_node, **bob_config):
    """Alice - Bob - Carol; Bob subscribes to ``commits`` deferred, Alice and Carol accept everything."""
    alice, bob, carol = await start_node(), await start_node(**bob_config), await start_node()
    await connect_both(alice, bob)
    await connect_both(carol, bob)
    at_alice, at_carol = alice.subscribe("commits", accept_all), carol.subscribe("commits", accept_all)
    return (alice, bob, carol), (at_alice, bob.subscribe_deferred("commits"), at_carol)


async def _next(subscription):
    with trio.fail_after(5):
        return await subscription.receive()


async def test_nothing_is_forwarded_before_the_subscriber_accepts(start_node):
    (alice, bob, _), (_, at_bob, at_carol) = await _line(start_node)
    await alice.publish("commits", b"commit 1")
    pending = await _next(at_bob)
    assert (pending.topic, pending.peer_id, pending.payload) == ("commits", alice.local_peer_id, b"commit 1")
    assert await quiet_then_drain(at_carol) == []  # waiting for Bob's verdict
    assert pending.is_open and bob.statistics().gossip_pending == 1
    assert pending.accept()
    with trio.fail_after(5):
        assert await at_carol.receive() == GossipMessage(bob.local_peer_id, b"commit 1")
    assert not pending.is_open and not pending.accept()  # one verdict per message
    statistics = bob.statistics()
    assert (statistics.gossip_accepted, statistics.gossip_pending) == (1, 0)


async def test_ignored_and_rejected_messages_are_dropped_and_only_rejection_costs(start_node):
    (alice, bob, carol), (_, at_bob, at_carol) = await _line(start_node)
    await alice.publish("commits", b"stale commit")
    (await _next(at_bob)).ignore()
    assert bob.reputation(alice.local_peer_id) == 0
    await alice.publish("commits", b"forged commit")
    (await _next(at_bob)).reject("bad signature")
    assert bob.reputation(alice.local_peer_id) == pytest.approx(Penalty.INVALID_GOSSIP, abs=1)
    await alice.publish("commits", b"undecodable commit")
    (await _next(at_bob)).reject("does not decode", cost=Penalty.BAD_RESPONSE * 2)
    assert bob.reputation(alice.local_peer_id) == pytest.approx(Penalty.INVALID_GOSSIP + 2 * Penalty.BAD_RESPONSE,
                                                                abs=1)
    assert await quiet_then_drain(at_carol) == []
    statistics = bob.statistics()
    assert (statistics.gossip_ignored, statistics.gossip_rejected, statistics.gossip_accepted) == (1, 2, 0)
    assert carol.statistics().gossip_received == 0 and not bob.is_banned(alice.local_peer_id)


async def test_a_message_without_a_verdict_in_time_is_dropped_unforwarded(start_node):
    (alice, bob, _), (_, at_bob, at_carol) = await _line(start_node, gossip_validation_timeout=0.3)
    await alice.publish("commits", b"slow to check")
    await alice.publish("commits", b"slow and forged")
    slow, forged = await _next(at_bob), await _next(at_bob)
    await alice.publish("commits", b"never taken")
    await eventually(lambda: len(at_bob) == 1)
    await trio.sleep(0.4)
    assert not slow.is_open and not slow.accept()  # too late: nothing is sent
    with pytest.raises(trio.WouldBlock):
        at_bob.receive_nowait()  # the queued one expired too
    assert await quiet_then_drain(at_carol) == []
    statistics = bob.statistics()
    assert (statistics.gossip_expired, statistics.gossip_pending, statistics.gossip_accepted) == (3, 0, 0)
    forged.reject("bad signature")  # late, but the sender's fault still counts
    assert bob.reputation(alice.local_peer_id) == pytest.approx(Penalty.INVALID_GOSSIP, abs=1)


async def test_copies_from_several_peers_reach_the_subscriber_once(start_node):
    (alice, bob, carol), (at_alice, at_bob, at_carol) = await _line(start_node)
    await connect_both(alice, carol)  # a triangle: Bob hears Alice's message from Alice and from Carol
    await alice.publish("commits", b"commit")
    (await _next(at_bob)).accept()
    assert [message.payload for message in await quiet_then_drain(at_carol)] == [b"commit"]
    assert len(at_bob) == 0 and bob.statistics().gossip_duplicates >= 1
    assert await quiet_then_drain(at_alice, quiet=0) == []


async def test_a_peer_cannot_hold_more_than_its_budget_of_undecided_messages(start_node):
    (alice, bob, carol), (_, at_bob, _) = await _line(start_node, max_pending_gossip_per_peer=2)
    for index in range(3):
        await alice.publish("commits", b"commit %d" % index)
    await eventually(lambda: bob.statistics().gossip_received == 3)
    assert bob.statistics().gossip_over_budget == 1 and len(at_bob) == 2
    taken = await _next(at_bob)  # taken, still undecided: it still counts
    await alice.publish("commits", b"commit 3")
    await eventually(lambda: bob.statistics().gossip_over_budget == 2)
    taken.ignore()  # a verdict frees its place
    await alice.publish("commits", b"commit 4")
    await eventually(lambda: len(at_bob) == 2)
    await carol.publish("commits", b"commit 2")  # dropped from Alice over budget, so not "seen": Carol's copy
    await eventually(lambda: len(at_bob) == 3)    # (another peer, its own budget) comes in
    assert [(await _next(at_bob)).payload for _ in range(3)] == [b"commit 1", b"commit 4", b"commit 2"]
    assert bob.reputation(alice.local_peer_id) == 0  # being slow to decide is not the sender's fault


async def test_undecided_bytes_are_bounded_per_peer_and_in_total(start_node):
    (alice, bob, carol), (_, at_bob, _) = await _line(start_node, max_pending_gossip_bytes_per_peer=1000,
                                                      max_pending_gossip_bytes=1500)
    await alice.publish("commits", bytes(1200))  # larger than its budget: taken, since none is pending
    await eventually(lambda: len(at_bob) == 1)
    await alice.publish("commits", b"x")  # ... but then Alice is over her budget
    await carol.publish("commits", bytes(400))  # within Carol's, and 1600 > 1500 in total
    await eventually(lambda: bob.statistics().gossip_over_budget == 2)
    await carol.publish("commits", bytes(200))
    await eventually(lambda: len(at_bob) == 2)
    assert bob.statistics().gossip_pending == 2


async def test_a_full_queue_and_a_closed_subscription_drop_without_forwarding(start_node):
    alice, bob, carol = await start_node(), await start_node(), await start_node()
    await connect_both(alice, bob)
    await connect_both(carol, bob)
    at_bob, at_carol = bob.subscribe_deferred("votes", capacity=1), carol.subscribe("votes", accept_all)
    await alice.publish("votes", b"vote 1")
    await alice.publish("votes", b"vote 2")
    await eventually(lambda: bob.statistics().gossip_dropped_local == 1)
    at_bob.close()  # vote 1 is dropped with the subscription
    assert bob.statistics().gossip_pending == 0
    with pytest.raises(trio.EndOfChannel):
        await at_bob.receive()
    await alice.publish("votes", b"vote 3")
    await eventually(lambda: bob.statistics().gossip_unsubscribed == 1)
    assert await quiet_then_drain(at_carol) == []
    with trio.fail_after(5):
        at_bob = bob.subscribe_deferred("votes")  # the topic is free again
        await alice.publish("votes", b"vote 4")
        assert (await at_bob.receive()).payload == b"vote 4"


async def test_a_synchronous_and_a_deferred_subscription_cannot_share_a_topic(start_node):
    node = await start_node()
    node.subscribe("blocks", lambda peer_id, payload: Verdict.ACCEPT)
    with pytest.raises(ValueError):
        node.subscribe_deferred("blocks")
    node.subscribe_deferred("commits")
    with pytest.raises(ValueError):
        node.subscribe("commits", accept_all)


async def test_async_iteration_ends_when_the_subscription_closes(start_node):
    (alice, _, _), (_, at_bob, at_carol) = await _line(start_node)
    await alice.publish("commits", b"a")
    await alice.publish("commits", b"b")
    accepted = []
    with trio.fail_after(5):
        async with at_bob:
            async for pending in at_bob:
                pending.accept()
                accepted.append(pending.payload)
                if len(accepted) == 2:
                    break
    assert accepted == [b"a", b"b"]
    with trio.fail_after(5):
        assert [(await at_carol.receive()).payload for _ in range(2)] == [b"a", b"b"]
