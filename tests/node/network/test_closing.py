"""Connections closing at any moment, in any order with their replacements: never an error outside the
connection's own task (issue 15, section 3: ``close()`` after its nursery closed took down a whole node)."""

from __future__ import annotations

import random

import trio
import trio.testing

from node.network import GoodbyeReason, NetworkService, NodeKey, PeerAddress, PeerUnavailable
from node.network.connection import Connection
from node.network.noise import NoiseIdentity, SecureChannel, secure_inbound, secure_outbound
from node.network.peers import Direction

from .conftest import FAST


async def _secure_pair() -> tuple[SecureChannel, SecureChannel]:
    """Two ends of a Noise session over a local socket pair."""
    left, right = trio.socket.socketpair()
    ends: dict[str, SecureChannel] = {}

    async def outbound() -> None:
        ends["local"] = await secure_outbound(trio.SocketStream(left), NoiseIdentity(NodeKey.generate()))

    async def inbound() -> None:
        ends["remote"] = await secure_inbound(trio.SocketStream(right), NoiseIdentity(NodeKey.generate()))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(outbound)
            nursery.start_soon(inbound)
    return ends["local"], ends["remote"]


async def _never_asked(peer_id, protocol, payload):
    raise AssertionError("no request is sent in these tests")


def _connection(channel: SecureChannel, reports: list[str]) -> Connection:
    return Connection(channel, direction=Direction.INBOUND,
                      address=PeerAddress("127.0.0.1", 1, channel.remote_peer_id), config=FAST,
                      serve_request=_never_asked, on_gossip=lambda connection, topic, payload: None,
                      count_traffic=lambda sent, received: None,
                      report=lambda peer_id, delta, reason: reports.append(reason))


async def test_close_at_every_moment_of_a_connection_ending_by_itself_never_raises():
    # The peer goes away; ``ticks`` scheduler passes later (one of them is the moment between the
    # connection's last task ending and ``run`` returning), its replacement closes it. Twice per tick
    # count, since trio runs each batch of tasks in a random order.
    for ticks in range(40):
        for _ in range(2):
            local, remote = await _secure_pair()
            reports: list[str] = []
            connection = _connection(local, reports)
            with trio.fail_after(5):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(connection.run)
                    await trio.testing.wait_all_tasks_blocked()
                    await remote.aclose()
                    for _ in range(ticks):
                        await trio.lowlevel.checkpoint()
                    connection.close(GoodbyeReason.DUPLICATE_CONNECTION)
                    connection.close(GoodbyeReason.BANNED)  # and again: still nothing escapes
            assert connection.closed.is_set() and connection.is_closing and reports == []


async def test_close_before_run_says_goodbye_once_it_runs():
    local, remote = await _secure_pair()
    connection = _connection(local, [])
    connection.close(GoodbyeReason.BANNED)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(connection.run)
            message = await remote.receive()
            await remote.aclose()
    assert message[1:] == b"\x00\x00\x00\x02\x02\x02"  # lane 0: GOODBYE(BANNED)
    assert connection.close_reason == "goodbye sent: BANNED"


async def _dial_quietly(node: NetworkService, address: PeerAddress) -> None:
    try:
        await node.connect(address)
    except PeerUnavailable:  # refused as a duplicate, or closed under us: expected here
        pass


async def _disconnect_after(node: NetworkService, peer: NodeKey, delay: float) -> None:
    await trio.sleep(delay)
    node.disconnect(peer.peer_id)


async def test_crossing_dials_and_random_disconnects_never_end_either_node(nursery):
    keys = [NodeKey.generate() for _ in range(2)]
    nodes = [NetworkService(key, FAST) for key in keys]
    for node in nodes:
        await nursery.start(node.run)
    alice, bob = nodes
    rng = random.Random(15)
    with trio.fail_after(60):
        for _ in range(400):  # on the code of issue 15, one of these rounds ended a node almost every run
            async with trio.open_nursery() as round_nursery:
                round_nursery.start_soon(_dial_quietly, alice, bob.listen_address)
                round_nursery.start_soon(_dial_quietly, bob, alice.listen_address)
                round_nursery.start_soon(_disconnect_after, alice, keys[1], rng.random() / 200)
                round_nursery.start_soon(_disconnect_after, bob, keys[0], rng.random() / 200)
                round_nursery.start_soon(_dial_quietly, rng.choice(nodes), rng.choice(nodes).listen_address)
        while not len(alice.peers()) == len(bob.peers()) == 1:  # and they can still settle on one connection
            await _dial_quietly(alice, bob.listen_address)  # (a dial refused as the duplicate of a connection
            await trio.sleep(0.1)                           # that was closing is simply tried again)
    assert alice.statistics().connection_errors == bob.statistics().connection_errors == 0
    assert alice.statistics().protocol_violations == bob.statistics().protocol_violations == 0
    assert alice.reputations() == bob.reputations() == {}  # honest churn costs nobody reputation


class _BuggyGossipNode(NetworkService):
    """A node with a bug in its gossip handling, hit by one particular message."""

    def _on_gossip(self, connection, topic, payload):
        if payload == b"boom":
            raise KeyError("a bug")
        super()._on_gossip(connection, topic, payload)


async def _echo(peer_id, payload):
    return payload


async def test_a_bug_in_one_connection_ends_that_connection_only(start_node, nursery, caplog):
    buggy = _BuggyGossipNode(NodeKey.generate(), FAST)
    await nursery.start(buggy.run)
    buggy.register_protocol("echo", _echo)
    alice, carol = await start_node(), await start_node()
    with trio.fail_after(10):
        await alice.connect(buggy.listen_address)
        await carol.connect(buggy.listen_address)
        await alice.publish("blocks", b"boom")
        while alice.local_peer_id in {peer.peer_id for peer in buggy.peers()}:
            await trio.sleep(0.01)
        assert await carol.request(buggy.local_peer_id, "echo", b"still here") == b"still here"
        await alice.connect(buggy.listen_address)  # and Alice may come back
        assert await alice.request(buggy.local_peer_id, "echo", b"back") == b"back"
    assert buggy.statistics().connection_errors == 1
    assert "KeyError: 'a bug'" in caplog.text and buggy.reputation(alice.local_peer_id) == 0
