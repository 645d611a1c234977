"""Reputation bookkeeping (decay, bans), gossip helpers, the outbound queue and configuration checks (no sockets)."""

from __future__ import annotations

import dataclasses

import pytest

from node.network import NetworkConfig, NodeKey, Penalty
from node.network.connection import _OutboundQueue
from node.network.frames import Lane
from node.network.gossip import SeenCache, TokenBucket, gossip_message_id
from node.network.peers import Reputations

PEER = NodeKey.generate().peer_id


def _reputations():
    return Reputations(ban_threshold=-1000, ban_duration=300, half_life=60)


def test_reputation_halves_every_half_life_toward_zero_from_either_side():
    reputations = _reputations()
    reputations.change(PEER, -400, now=0)
    assert reputations.reputation(PEER, now=60) == pytest.approx(-200)
    assert reputations.reputation(PEER, now=120) == pytest.approx(-100)
    reputations.change(PEER, +100, now=120)
    assert reputations.reputation(PEER, now=120) == 0  # exactly neutral: forgotten
    reputations.change(PEER, +80, now=120)
    assert reputations.reputation(PEER, now=180) == pytest.approx(40)
    assert reputations.reputation(PEER, now=180 + 60 * 7) == 0  # below FORGET_BELOW counts as 0
    assert reputations.all(now=180) == {PEER: pytest.approx(40)}
    assert reputations.all(now=180 + 60 * 7) == {}


def test_no_single_non_fatal_penalty_bans_and_repeated_ones_do():
    reputations = _reputations()
    for penalty in (Penalty.MALFORMED_FRAME, Penalty.INVALID_GOSSIP, Penalty.BAD_RESPONSE, Penalty.BAD_REQUEST,
                    Penalty.UNSOLICITED, Penalty.RATE_EXCEEDED):
        other = NodeKey.generate().peer_id
        assert not reputations.change(other, penalty, now=0)
    assert [reputations.change(PEER, Penalty.INVALID_GOSSIP, now=0) for _ in range(10)] == [False] * 9 + [True]
    assert not reputations.change(PEER, Penalty.INVALID_GOSSIP, now=1)  # banned already: no second ban


def test_spaced_out_faults_are_forgiven():
    reputations = _reputations()  # one invalid message every 10 s settles near -100 * 87 / 10, above -1000
    assert not any(reputations.change(PEER, Penalty.INVALID_GOSSIP, now=10 * i) for i in range(100))
    assert reputations.reputation(PEER, now=990) > -1000


def test_a_fatal_penalty_bans_at_once_and_the_ban_expires():
    reputations = _reputations()
    assert reputations.change(PEER, Penalty.FATAL, now=0)
    assert reputations.reputation(PEER, now=0) == -2000  # the floor: it decays like any other
    assert reputations.is_banned(PEER, now=299)
    assert not reputations.is_banned(PEER, now=300)
    assert reputations.reputation(PEER, now=300) == pytest.approx(-2000 / 32)


def test_goodwill_is_capped_at_the_distance_to_a_ban():
    reputations = _reputations()
    reputations.change(PEER, 5000, now=0)
    assert reputations.reputation(PEER, now=0) == 1000


def test_seen_cache_forgets_the_oldest_ids():
    cache = SeenCache(capacity=2)
    assert cache.add(b"a") and cache.add(b"b") and not cache.add(b"a")
    assert cache.add(b"c")          # evicts "a"
    assert cache.add(b"a")


def test_token_bucket_allows_a_burst_then_the_rate():
    bucket = TokenBucket(rate=2, burst=3, now=0)
    assert [bucket.try_take(now=0) for _ in range(4)] == [True, True, True, False]
    assert bucket.try_take(now=0.5) and not bucket.try_take(now=0.5)


def test_message_ids_separate_topics():
    assert gossip_message_id("blocks", b"x") != gossip_message_id("votes", b"x")
    assert gossip_message_id("ab", b"c") != gossip_message_id("a", b"bc")


def test_outbound_lanes_are_bounded_in_frames_and_in_bytes():
    queue = _OutboundQueue(max_frames=3, max_bytes=10)
    assert queue.put_nowait(Lane.BULK, bytes(25))          # an empty lane takes any one frame
    assert not queue.put_nowait(Lane.BULK, bytes(1))       # ... and then it is over its byte budget
    assert all(queue.put_nowait(Lane.PRIORITY, bytes(3)) for _ in range(3))
    assert not queue.put_nowait(Lane.PRIORITY, bytes(1))   # three frames: full
    assert queue.pop_priority_nowait(max_size=3) == bytes(3)
    assert queue.put_nowait(Lane.PRIORITY, bytes(1))
    assert not queue.put_nowait(Lane.PRIORITY, bytes(4))   # 3 + 3 + 1 + 4 bytes > 10


@pytest.mark.parametrize("change", [
    {"keepalive_timeout": 1.0, "keepalive_interval": 1.0},
    {"max_inbound_peers": 0},
    {"max_pending_handshakes_per_ip": 0},
    {"max_inbound_per_ip": 0},
    {"request_timeout": 0},
    {"ban_threshold": 0},
    {"ban_threshold": Penalty.MALFORMED_FRAME},  # one malformed frame would ban
    {"reputation_half_life": 0},
    {"gossip_validation_timeout": 0},
    {"max_pending_gossip_bytes_per_peer": 2, "max_pending_gossip_bytes": 1},
    {"max_frame_size": 1000},
    {"max_frame_size": 2**32},
    {"listen_port": 70000},
    {"redial_initial_backoff": 3.0, "redial_max_backoff": 2.0},
])
def test_inconsistent_configuration_is_refused(change):
    with pytest.raises(ValueError):
        dataclasses.replace(NetworkConfig(), **change)
