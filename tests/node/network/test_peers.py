"""Reputation bookkeeping, gossip helpers, the outbound queue and configuration checks (no sockets)."""

from __future__ import annotations

import dataclasses

import pytest

from node.network import NetworkConfig, NodeKey
from node.network.connection import _OutboundQueue
from node.network.frames import Lane
from node.network.gossip import SeenCache, TokenBucket, gossip_message_id
from node.network.peers import PeerScores

PEER = NodeKey.generate().peer_id


def _scores():
    return PeerScores(ban_threshold=-100, ban_duration=60, recovery_per_second=1)


def test_scores_recover_toward_zero_from_either_side():
    scores = _scores()
    scores.adjust(PEER, -30, now=0)
    assert scores.score(PEER, now=10) == -20
    assert scores.score(PEER, now=100) == 0
    scores.adjust(PEER, +5, now=100)
    assert scores.score(PEER, now=102) == 3
    assert scores.score(PEER, now=200) == 0


def test_reaching_the_threshold_bans_until_the_ban_ends_and_then_starts_afresh():
    scores = _scores()
    assert not scores.adjust(PEER, -60, now=0)
    assert scores.adjust(PEER, -60, now=1)
    assert scores.is_banned(PEER, now=60)
    assert not scores.is_banned(PEER, now=61)
    assert scores.score(PEER, now=61) == 0


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
    {"max_frame_size": 1000},
    {"max_frame_size": 2**32},
    {"listen_port": 70000},
    {"redial_initial_backoff": 3.0, "redial_max_backoff": 2.0},
])
def test_inconsistent_configuration_is_refused(change):
    with pytest.raises(ValueError):
        dataclasses.replace(NetworkConfig(), **change)
