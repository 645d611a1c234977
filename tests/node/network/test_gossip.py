"""Gossip over real TCP: flooding exactly once, validation, de-duplication, rate limits."""

from __future__ import annotations

import pytest
import trio

from node.network import GossipMessage, Penalty, Verdict

from .conftest import accept_all, connect_both, eventually, quiet_then_drain


def reject_bad(peer_id, payload):
    return Verdict.REJECT if payload.startswith(b"bad") else Verdict.ACCEPT


@pytest.fixture
async def line(start_node):
    """Alice - Bob - Carol, each subscribed to ``blocks`` (Bob rejects payloads starting with b"bad")."""
    alice, bob, carol = await start_node(), await start_node(), await start_node()
    await connect_both(alice, bob)
    await connect_both(carol, bob)
    channels = (alice.subscribe("blocks", accept_all), bob.subscribe("blocks", reject_bad),
                carol.subscribe("blocks", accept_all))
    return (alice, bob, carol), channels


async def test_gossip_crosses_a_line_exactly_once_per_node(line):
    (alice, bob, carol), (at_alice, at_bob, at_carol) = line
    assert await alice.publish("blocks", b"block 1") == 1
    with trio.fail_after(5):
        assert await at_carol.receive() == GossipMessage(bob.local_peer_id, b"block 1")
    assert await carol.publish("blocks", b"block 2") == 1
    with trio.fail_after(5):
        assert await at_alice.receive() == GossipMessage(bob.local_peer_id, b"block 2")
    assert await quiet_then_drain(at_alice) == []
    assert await quiet_then_drain(at_bob, quiet=0) == [GossipMessage(alice.local_peer_id, b"block 1"),
                                                        GossipMessage(carol.local_peer_id, b"block 2")]
    assert await quiet_then_drain(at_carol, quiet=0) == []


async def test_duplicates_in_a_triangle_are_delivered_once(start_node):
    alice, bob, carol = await start_node(), await start_node(), await start_node()
    await connect_both(alice, bob)
    await connect_both(bob, carol)
    await connect_both(carol, alice)
    at_bob, at_carol = bob.subscribe("votes", accept_all), carol.subscribe("votes", accept_all)
    assert await alice.publish("votes", b"precommit") == 2
    # Bob and Carol each hear it twice (from Alice and from each other): once delivered, once a duplicate. Both
    # forwards have arrived once both duplicates are counted.
    await eventually(lambda: bob.statistics().gossip_duplicates + carol.statistics().gossip_duplicates == 2)
    assert [message.payload for message in await quiet_then_drain(at_bob)] == [b"precommit"]
    assert [message.payload for message in await quiet_then_drain(at_carol, quiet=0)] == [b"precommit"]
    assert bob.statistics().gossip_duplicates + carol.statistics().gossip_duplicates == 2


async def test_rejected_gossip_is_not_forwarded_and_costs_the_sender(line):
    (alice, bob, carol), (at_alice, at_bob, at_carol) = line
    await alice.publish("blocks", b"bad block")
    await alice.publish("blocks", b"good block")
    with trio.fail_after(5):
        assert (await at_carol.receive()).payload == b"good block"
    assert [message.payload for message in await quiet_then_drain(at_bob)] == [b"good block"]
    assert await quiet_then_drain(at_carol, quiet=0) == []
    assert bob.statistics().gossip_rejected == 1
    assert bob.reputation(alice.local_peer_id) == pytest.approx(Penalty.INVALID_GOSSIP, abs=1)
    assert carol.statistics().gossip_received == 1  # the bad block never reached Carol


async def test_ignored_gossip_is_dropped_without_penalty(start_node):
    alice, bob = await start_node(), await start_node()
    await connect_both(alice, bob)
    at_bob = bob.subscribe("txs", lambda peer_id, payload: Verdict.IGNORE)
    await alice.publish("txs", b"stale")
    await eventually(lambda: bob.statistics().gossip_ignored == 1)
    assert await quiet_then_drain(at_bob, quiet=0) == [] and bob.reputation(alice.local_peer_id) == 0


async def test_a_flood_beyond_the_rate_limit_is_dropped_and_scored(start_node):
    alice, bob = await start_node(), await start_node(gossip_rate_per_second=0.01, gossip_burst=10)
    await connect_both(alice, bob)
    at_bob = bob.subscribe("txs", accept_all, capacity=100)
    for index in range(60):
        await alice.publish("txs", b"tx %d" % index)
    await eventually(lambda: bob.statistics().gossip_received == 60)
    delivered = await quiet_then_drain(at_bob, quiet=0)
    statistics = bob.statistics()
    assert [message.payload for message in delivered] == [b"tx %d" % index for index in range(10)]  # the burst
    assert statistics.gossip_rate_limited == 50
    assert bob.reputation(alice.local_peer_id) == pytest.approx(50 * Penalty.RATE_EXCEEDED, abs=1)
    assert len(bob.peers()) == 1  # scored down, not (yet) banned


async def test_a_node_paces_its_gossip_below_its_peers_rate_limit(start_node):
    alice, bob = await start_node(), await start_node()  # the same limits: 100 a second, bursts of 200
    await connect_both(alice, bob)
    at_bob = bob.subscribe("txs", accept_all, capacity=300)
    for index in range(150):  # at once: more than half a burst
        await alice.publish("txs", b"tx %d" % index)
    assert alice.statistics().gossip_paced > 0
    sent = 150 - alice.statistics().gossip_paced
    await eventually(lambda: bob.statistics().gossip_received == sent)
    assert len(await quiet_then_drain(at_bob, quiet=0)) == sent
    assert bob.statistics().gossip_rate_limited == 0 and bob.reputation(alice.local_peer_id) == 0


async def test_validator_exceptions_ignore_the_message_and_keep_the_connection(start_node):
    alice, bob = await start_node(), await start_node()
    await connect_both(alice, bob)

    def broken(peer_id, payload):
        raise RuntimeError("validator bug")

    at_bob = bob.subscribe("blocks", broken)
    await alice.publish("blocks", b"block")
    await eventually(lambda: bob.statistics().gossip_ignored == 1)
    assert await quiet_then_drain(at_bob, quiet=0) == [] and len(bob.peers()) == 1


async def test_full_subscriber_channel_drops_locally_but_still_forwards(line):
    (alice, bob, carol), _ = line
    bob_slow = bob.subscribe("slow", accept_all, capacity=1)
    at_carol = carol.subscribe("slow", accept_all)
    for index in range(3):
        await alice.publish("slow", b"%d" % index)
    with trio.fail_after(5):
        assert [(await at_carol.receive()).payload for _ in range(3)] == [b"0", b"1", b"2"]
    assert bob.statistics().gossip_dropped_local == 2
    assert bob_slow.receive_nowait().payload == b"0"


async def test_unsubscribed_topics_are_neither_delivered_nor_forwarded(line):
    (alice, bob, carol), _ = line
    at_carol = carol.subscribe("only-carol", accept_all)
    await alice.publish("only-carol", b"x")
    await eventually(lambda: bob.statistics().gossip_unsubscribed == 1)
    assert await quiet_then_drain(at_carol) == []
