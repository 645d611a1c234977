"""Connection setup, identity checks, limits, bans, keepalive, reconnects, and misbehaving peers (real TCP)."""

from __future__ import annotations

import socket
import struct

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from node.network import (
    ConnectionLost,
    ConnectionRefused,
    Direction,
    GoodbyeReason,
    NetworkService,
    NodeKey,
    PeerAddress,
    PeerConnected,
    PeerDisconnected,
    PeerIdMismatch,
    PeerUnavailable,
    Penalty,
)
from node.network.frames import MAX_LANE_DATA, Ping, Response, ResponseStatus, encode_frame
from node.network.ip_limits import quota_key

from .conftest import FAST, eventually
from .raw_peer import RawPeer


async def echo(peer_id, payload):
    return payload


async def test_dialer_and_listener_authenticate_each_other(start_node):
    alice, bob = await start_node(), await start_node()
    alice_events, bob_events = alice.subscribe_peer_events(), bob.subscribe_peer_events()
    with trio.fail_after(5):
        assert await alice.connect(bob.listen_address) == bob.local_peer_id
        assert await alice_events.receive() == PeerConnected(bob.local_peer_id, Direction.OUTBOUND, bob.listen_address)
        event = await bob_events.receive()
    assert event.peer_id == alice.local_peer_id and event.direction is Direction.INBOUND
    [bob_seen_by_alice] = alice.peers()
    assert bob_seen_by_alice.peer_id == bob.local_peer_id and bob_seen_by_alice.direction is Direction.OUTBOUND
    [alice_seen_by_bob] = bob.peers()
    assert alice_seen_by_bob.peer_id == alice.local_peer_id and alice_seen_by_bob.direction is Direction.INBOUND
    assert await alice.connect(bob.listen_address) == bob.local_peer_id  # already connected: no second dial
    assert len(alice.peers()) == 1


async def test_address_without_peer_id_accepts_whoever_answers(start_node):
    alice, bob = await start_node(), await start_node()
    with trio.fail_after(5):
        assert await alice.connect(PeerAddress("127.0.0.1", bob.listen_port)) == bob.local_peer_id


async def test_wrong_expected_peer_id_is_rejected(start_node):
    alice, bob = await start_node(), await start_node()
    impostor_address = PeerAddress("127.0.0.1", bob.listen_port, NodeKey.generate().peer_id)
    with trio.fail_after(5), pytest.raises(PeerIdMismatch) as raised:
        await alice.connect(impostor_address)
    assert raised.value.actual == bob.local_peer_id
    await eventually(lambda: bob.statistics().handshakes_failed == 1)
    assert alice.peers() == [] and bob.peers() == []


async def test_inbound_limit_refuses_with_a_reason(start_node):
    bob = await start_node(max_inbound_peers=1)
    alice, carol = await start_node(), await start_node()
    with trio.fail_after(5):
        await alice.connect(bob.listen_address)
        with pytest.raises(ConnectionRefused) as raised:
            await carol.connect(bob.listen_address)
    assert raised.value.reason is GoodbyeReason.TOO_MANY_PEERS
    assert [peer.peer_id for peer in bob.peers()] == [alice.local_peer_id]
    assert carol.peers() == []


async def test_outbound_limit_is_enforced_before_dialling(start_node):
    alice = await start_node(max_outbound_peers=1)
    bob, carol = await start_node(), await start_node()
    with trio.fail_after(5):
        await alice.connect(bob.listen_address)
        with pytest.raises(PeerUnavailable, match="max_outbound_peers"):
            await alice.connect(carol.listen_address)
    assert carol.statistics().handshakes_failed == 0 and carol.peers() == []


async def test_simultaneous_dials_settle_on_one_connection(start_node):
    alice, bob = await start_node(), await start_node()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(alice.connect, bob.listen_address)
            nursery.start_soon(bob.connect, alice.listen_address)
    dialled_by_alice = alice.local_peer_id < bob.local_peer_id  # the smaller peer id's dial is kept
    kept = (Direction.OUTBOUND, Direction.INBOUND) if dialled_by_alice else (Direction.INBOUND, Direction.OUTBOUND)
    # each lists one connection, and it is the kept dial's (the losing one, admitted first on a side, replaced:
    # once the kept one is in, nothing replaces it)
    await eventually(lambda: [peer.direction for peer in alice.peers()] == [kept[0]]
                     and [peer.direction for peer in bob.peers()] == [kept[1]])
    [bob_seen_by_alice], [alice_seen_by_bob] = alice.peers(), bob.peers()
    assert bob_seen_by_alice.direction is (Direction.OUTBOUND if dialled_by_alice else Direction.INBOUND)
    assert alice_seen_by_bob.direction is (Direction.INBOUND if dialled_by_alice else Direction.OUTBOUND)
    bob.register_protocol("echo", echo)
    with trio.fail_after(5):
        assert await alice.request(bob.local_peer_id, "echo", b"still one working connection") == \
            b"still one working connection"


async def test_a_restarted_peer_replaces_its_stale_connection(start_node):
    bob = await start_node()
    bob.register_protocol("echo", echo)
    alice_key = NodeKey.generate()
    stale = await RawPeer.connect(bob, alice_key)  # alice "crashed": her old connection went silent
    await eventually(lambda: len(bob.peers()) == 1)
    alice = await start_node(key=alice_key)  # ... and she is back, well before bob's keepalive notices
    with trio.fail_after(5):
        await alice.connect(bob.listen_address)
        assert await alice.request(bob.local_peer_id, "echo", b"back") == b"back"
        assert await stale.goodbye_before_close() is GoodbyeReason.DUPLICATE_CONNECTION
    [peer] = bob.peers()
    assert peer.peer_id == alice_key.peer_id and peer.address.port != stale.stream.stream.socket.getsockname()[1]


async def test_banned_peer_cannot_reconnect_until_the_ban_expires(start_node):
    bob = await start_node(ban_duration=0.5)
    alice = await start_node()
    alice_events = alice.subscribe_peer_events()
    with trio.fail_after(5):
        await alice.connect(bob.listen_address)
        await alice_events.receive()
        bob.report(alice.local_peer_id, Penalty.FATAL, "test misbehaviour")
        assert await alice_events.receive() == PeerDisconnected(bob.local_peer_id, "goodbye received: BANNED")
    assert bob.is_banned(alice.local_peer_id) and bob.statistics().peers_banned == 1
    await eventually(lambda: bob.peers() == [])
    with trio.fail_after(5):
        with pytest.raises(ConnectionRefused) as raised:
            await alice.connect(bob.listen_address)
        assert raised.value.reason is GoodbyeReason.BANNED
        with pytest.raises(PeerUnavailable, match="banned"):
            await bob.connect(alice.listen_address)
        await trio.sleep(0.5)
        assert await alice.connect(bob.listen_address) == bob.local_peer_id
    assert bob.reputation(alice.local_peer_id) < 0  # remembered, and decaying


async def test_keepalive_detects_a_frozen_peer(start_node):
    bob = await start_node(keepalive_interval=0.2, keepalive_timeout=0.8)
    events = bob.subscribe_peer_events()
    frozen = await RawPeer.connect(bob)  # completes the handshake, then never reads or writes again
    with trio.fail_after(5):
        assert isinstance(await events.receive(), PeerConnected)
        started = trio.current_time()
        disconnected = await events.receive()
    assert disconnected.peer_id == frozen.peer_id and "keepalive timeout" in disconnected.reason
    assert trio.current_time() - started < 2.0
    await frozen.aclose()


async def test_idle_connections_stay_up_and_measure_round_trips(start_node):
    alice, bob = await start_node(), await start_node()
    with trio.fail_after(5):
        await alice.connect(bob.listen_address)
        await trio.sleep(1.6)  # well past keepalive_timeout (1 s)
    [peer] = alice.peers()
    assert peer.round_trip_time is not None and peer.round_trip_time < 1.0
    assert len(bob.peers()) == 1


async def test_bootnode_is_redialled_after_it_restarts(start_node, nursery):
    bob_key = NodeKey.generate()
    first_bob = NetworkService(bob_key, FAST)
    first_bob_scope = trio.CancelScope()

    async def run_first_bob(task_status=trio.TASK_STATUS_IGNORED):
        with first_bob_scope:
            await first_bob.run(task_status=task_status)

    await nursery.start(run_first_bob)
    alice = await start_node(bootnodes=(first_bob.listen_address,))
    events = alice.subscribe_peer_events()
    with trio.fail_after(5):
        assert (await events.receive()).peer_id == bob_key.peer_id
        first_bob_scope.cancel()  # bob stops: its sockets close
        assert isinstance(await events.receive(), PeerDisconnected)
        await trio.sleep(0.5)  # a few failed re-dials while bob is down
    await start_node(key=bob_key, listen_port=first_bob.listen_port)
    with trio.fail_after(3):  # redial_max_backoff is 0.4 s
        reconnected = await events.receive()
    assert reconnected == PeerConnected(bob_key.peer_id, Direction.OUTBOUND, first_bob.listen_address)


# -- misbehaving peers ----------------------------------------------------------------------------------


async def test_silent_unauthenticated_sockets_are_bounded_in_number_and_time(start_node):
    bob = await start_node(max_pending_handshakes=1, handshake_timeout=0.3)
    with trio.fail_after(5):
        silent = await trio.open_tcp_stream("127.0.0.1", bob.listen_port)
        await eventually(lambda: bob.statistics().pending_handshakes == 1)
        one_too_many = await trio.open_tcp_stream("127.0.0.1", bob.listen_port)
        assert await one_too_many.receive_some() == b""  # closed at once
        assert await silent.receive_some() == b""        # closed after handshake_timeout
    statistics = bob.statistics()
    assert (statistics.connections_refused, statistics.handshakes_failed, statistics.pending_handshakes) == (1, 1, 0)


OTHER_LOOPBACK = "127.0.0.2"
"""A second source address on this machine: Linux routes all of 127.0.0.0/8 to the loopback interface."""


@pytest.fixture
def other_loopback() -> str:
    try:
        with socket.socket() as probe:
            probe.bind((OTHER_LOOPBACK, 0))
    except OSError:
        pytest.skip(f"{OTHER_LOOPBACK} is not a local address here")
    return OTHER_LOOPBACK


async def half_open(node: NetworkService) -> trio.SocketStream:
    """A TCP connection from 127.0.0.1 that never sends a byte: a handshake that never finishes."""
    return await trio.open_tcp_stream("127.0.0.1", node.listen_port, local_address="127.0.0.1")


async def test_one_address_cannot_hold_more_than_its_share_of_pending_handshakes(start_node, other_loopback):
    bob = await start_node(max_pending_handshakes_per_ip=2, handshake_timeout=60,  # nothing times out here
                           per_ip_limits_on_private_addresses=True)
    with trio.fail_after(30):
        silent = [await half_open(bob), await half_open(bob)]
        await eventually(lambda: bob.statistics().pending_handshakes == 2, timeout=30)
        one_too_many = await half_open(bob)
        assert await one_too_many.receive_some() == b""  # closed at once, nothing read
        assert bob.statistics().inbound_refused_per_ip == 1
        honest = await RawPeer.connect(bob, local_address=other_loopback)  # another address still gets in
        await eventually(lambda: len(bob.peers()) == 1, timeout=30)
        [peer] = bob.peers()
        assert peer.peer_id == honest.peer_id and peer.address.host == other_loopback

        for stream in silent:  # the silent ones give up: their slots come back
            await stream.aclose()
        await eventually(lambda: bob.statistics().pending_handshakes == 0, timeout=30)
        silent = [await half_open(bob), await half_open(bob)]  # the whole quota again, and no more
        await eventually(lambda: bob.statistics().pending_handshakes == 2, timeout=30)
        assert await (await half_open(bob)).receive_some() == b""
        for stream in silent:
            await stream.aclose()
        await eventually(lambda: bob.statistics().pending_handshakes == 0, timeout=30)
        returning = await RawPeer.connect(bob)  # and 127.0.0.1 can complete a handshake again
        await eventually(lambda: len(bob.peers()) == 2, timeout=30)
    assert returning.peer_id in {peer.peer_id for peer in bob.peers()}
    statistics = bob.statistics()
    assert (statistics.inbound_refused_per_ip, statistics.connections_refused) == (2, 0)
    assert statistics.handshakes_failed == 4  # the silent sockets, which closed mid-handshake


async def test_pending_handshake_slots_come_back_when_the_handshakes_time_out(start_node):
    bob = await start_node(max_pending_handshakes_per_ip=2,  # handshake_timeout is 2 s
                           per_ip_limits_on_private_addresses=True)
    with trio.fail_after(30):
        silent = [await half_open(bob), await half_open(bob)]
        for stream in silent:
            assert await stream.receive_some() == b""  # closed by bob once handshake_timeout passed
        await eventually(lambda: bob.statistics().pending_handshakes == 0, timeout=30)
        returning = await RawPeer.connect(bob)
        await eventually(lambda: len(bob.peers()) == 1, timeout=30)
    assert bob.peers()[0].peer_id == returning.peer_id
    statistics = bob.statistics()
    assert (statistics.handshakes_failed, statistics.inbound_refused_per_ip) == (2, 0)
    assert not bob._quotas.pending  # no key left behind for an address with nothing pending


async def test_one_address_cannot_take_more_than_its_share_of_inbound_connections(start_node, other_loopback):
    bob = await start_node(max_inbound_per_ip=2, per_ip_limits_on_private_addresses=True)
    with trio.fail_after(30):
        first, second = await RawPeer.connect(bob), await RawPeer.connect(bob)
        await eventually(lambda: len(bob.peers()) == 2, timeout=30)
        with pytest.raises(ConnectionLost):  # closed before the handshake: no work spent on it
            await RawPeer.connect(bob)
        assert bob.statistics().inbound_refused_per_ip == 1
        other = await RawPeer.connect(bob, local_address=other_loopback)  # another address still gets in
        await eventually(lambda: len(bob.peers()) == 3, timeout=30)
        await first.aclose()  # a slot of 127.0.0.1 comes back when one of its connections ends
        await eventually(lambda: first.peer_id not in {peer.peer_id for peer in bob.peers()}, timeout=30)
        third = await RawPeer.connect(bob)
        await eventually(lambda: len(bob.peers()) == 3, timeout=30)
    assert {peer.peer_id for peer in bob.peers()} == {second.peer_id, other.peer_id, third.peer_id}
    refused = bob.statistics()
    assert (refused.inbound_refused_per_ip, refused.connections_refused, refused.handshakes_failed) == (1, 0, 0)


async def test_loopback_peers_are_not_limited_per_address_by_default(start_node):
    bob = await start_node(max_pending_handshakes_per_ip=1, max_inbound_per_ip=1)
    with trio.fail_after(30):
        silent = await half_open(bob)  # the one pending handshake 127.0.0.1 would be allowed
        await eventually(lambda: bob.statistics().pending_handshakes == 1, timeout=30)
        peers = [await RawPeer.connect(bob) for _ in range(3)]  # every devnet node dials from 127.0.0.1
        await eventually(lambda: len(bob.peers()) == 3, timeout=30)
        await silent.aclose()
    assert {peer.peer_id for peer in bob.peers()} == {peer.peer_id for peer in peers}
    assert bob.statistics().inbound_refused_per_ip == 0 and not bob._quotas.inbound


@pytest.mark.parametrize(("host", "key"), [
    ("::ffff:198.51.100.7", "198.51.100.7"),  # an IPv4 peer seen through a dual-stack listener
    ("198.51.100.7", "198.51.100.7"),
    ("2a01:4f8:1:2::1", "2a01:4f8:1:2::/64"),  # a host holds a whole /64: one quota for all of it
    ("2a01:4f8:1:2:ffff:ffff:ffff:ffff", "2a01:4f8:1:2::/64"),
    ("2a01:4f8:1:3::1", "2a01:4f8:1:3::/64"),
])
def test_public_addresses_count_by_ipv4_address_or_ipv6_64(host, key):
    assert quota_key(host, limit_private=False) == quota_key(host, limit_private=True) == key


@pytest.mark.parametrize(("host", "key"), [
    ("127.0.0.1", "127.0.0.1"), ("127.0.0.2", "127.0.0.2"), ("::1", "::/64"),
    ("::ffff:127.0.0.1", "127.0.0.1"),
    ("10.1.2.3", "10.1.2.3"), ("172.16.0.1", "172.16.0.1"), ("192.168.1.1", "192.168.1.1"),  # RFC 1918
    ("fd12:3456::1", "fd12:3456::/64"),                                                        # ULA
    ("169.254.1.1", "169.254.1.1"), ("fe80::1", "fe80::/64"),                                  # link-local
])
def test_loopback_private_and_link_local_addresses_are_exempt_unless_configured(host, key):
    assert quota_key(host, limit_private=False) is None
    assert quota_key(host, limit_private=True) == key


def test_addresses_just_outside_the_private_ranges_are_limited():
    for host in ("172.32.0.1", "11.0.0.1", "192.169.0.1", "fe00::1"):
        assert quota_key(host, limit_private=False) is not None



async def _assert_still_serving(node, start_node):
    node.register_protocol("echo", echo)
    honest = await start_node()
    with trio.fail_after(5):
        await honest.connect(node.listen_address)
        assert await honest.request(node.local_peer_id, "echo", b"ok") == b"ok"


VALID_EPHEMERAL = X25519PrivateKey.generate().public_key().public_bytes_raw()


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: cairn\r\n\r\n",                           # not Noise at all
    b"\x00\x20" + bytes(32),                                              # a low-order ephemeral key
    b"\x00\x20" + VALID_EPHEMERAL + b"\x00\xa8" + bytes(168),            # message 3 of junk, right size
], ids=["http", "low-order-key", "junk-message-3"])
async def test_garbage_before_or_during_the_handshake_is_dropped(start_node, garbage):
    bob = await start_node()
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream("127.0.0.1", bob.listen_port)
        await stream.send_all(garbage)
        while await stream.receive_some():  # the node closes the socket
            pass
    assert bob.statistics().handshakes_failed == 1 and bob.peers() == []
    await _assert_still_serving(bob, start_node)


@pytest.mark.parametrize("lane_data", [
    struct.pack(">I", 16 * 1024 * 1024 + 1),                                  # oversized frame header
    struct.pack(">I", MAX_LANE_DATA),                     # on the priority lane, more than one Noise message
    struct.pack(">I", 1) + b"\x7f",                                           # unknown frame kind
    struct.pack(">I", 8) + b"\x03" + bytes(7),                                 # PING one byte short
], ids=["oversized", "oversized-priority", "unknown-kind", "malformed"])
async def test_protocol_violations_drop_the_connection_and_cost_reputation(start_node, lane_data):
    bob = await start_node()
    rogue = await RawPeer.connect(bob)
    await rogue.send_lane_data(lane_data)
    assert await rogue.goodbye_before_close() is GoodbyeReason.PROTOCOL_VIOLATION
    await eventually(lambda: bob.statistics().protocol_violations == 1)
    assert bob.reputation(rogue.peer_id) == pytest.approx(Penalty.MALFORMED_FRAME, abs=1)
    assert bob.peers() == [] and not bob.is_banned(rogue.peer_id)  # one message never bans
    await _assert_still_serving(bob, start_node)


async def test_an_unsolicited_response_costs_reputation_and_the_connection_goes_on(start_node):
    bob = await start_node()
    rogue = await RawPeer.connect(bob)
    await rogue.send_lane_data(encode_frame(Response(12345, ResponseStatus.OK, b"never asked")))
    await eventually(lambda: bob.reputation(rogue.peer_id) < 0)
    assert bob.reputation(rogue.peer_id) == pytest.approx(Penalty.UNSOLICITED, abs=1)
    await rogue.send_lane_data(encode_frame(Ping(7)))  # still connected
    await trio.sleep(0.3)
    assert [peer.peer_id for peer in bob.peers()] == [rogue.peer_id]
    assert bob.statistics().protocol_violations == 0


async def test_tampered_ciphertext_kills_the_connection(start_node):
    bob = await start_node()
    rogue = await RawPeer.connect(bob)
    await rogue.send_lane_data(encode_frame(Ping(1)))  # a genuine message first: the session works
    rogue.stream.tamper_next = True
    await rogue.send_lane_data(encode_frame(Ping(2)))
    await rogue.goodbye_before_close()
    await eventually(lambda: bob.statistics().protocol_violations == 1)
    assert bob.reputation(rogue.peer_id) < 0 and bob.peers() == []
    await _assert_still_serving(bob, start_node)


async def test_repeated_violations_get_the_peer_banned(start_node):
    bob = await start_node()
    rogue_key = NodeKey.generate()
    for attempt in range(4):  # 4 x MALFORMED_FRAME crosses the default threshold (-1000); 3 do not
        assert not bob.is_banned(rogue_key.peer_id)
        rogue = await RawPeer.connect(bob, rogue_key)  # a violation is no ban: it may reconnect
        await rogue.send_lane_data(struct.pack(">I", 1) + b"\x7f")
        await rogue.goodbye_before_close()
        await eventually(lambda violations=attempt + 1: bob.statistics().protocol_violations == violations)
    assert bob.is_banned(rogue_key.peer_id)
    with pytest.raises(ConnectionRefused) as refused:
        await RawPeer.connect(bob, rogue_key)
    assert refused.value.reason is GoodbyeReason.BANNED
