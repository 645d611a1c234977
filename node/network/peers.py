"""Peers as the rest of the node sees them: connection info, events, and reputation.

Reputation is a score per peer, starting at 0. ``NetworkService.report`` and the network layer itself add
(usually negative) deltas; the score drifts back toward 0 at ``score_recovery_per_second`` so that old
offences are forgiven. At or below ``ban_threshold`` the peer is disconnected and banned for
``ban_duration``: it cannot connect in either direction until then, and its score starts again from 0.
Scores and bans are remembered for a bounded number of peers (the least recently touched are forgotten),
so identities minted by an attacker cannot grow memory without bound.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass

from node.network.identity import PeerAddress, PeerId

__all__ = [
    "Direction",
    "PeerConnected",
    "PeerDisconnected",
    "PeerEvent",
    "PeerInfo",
    "PeerScores",
    "Penalty",
]

REMEMBERED_PEERS = 4096
"""How many peers' scores (and, separately, bans) are kept."""


class Direction(enum.Enum):
    INBOUND = "inbound"
    """The peer dialled us."""
    OUTBOUND = "outbound"
    """We dialled the peer."""


class Penalty:
    """Score deltas the network layer applies itself. With the default threshold (-100) and recovery
    (1 per second), two protocol violations or five invalid gossip messages within about twenty seconds
    get a peer banned."""

    PROTOCOL_VIOLATION = -60.0
    """Tampered ciphertext, an oversized or malformed frame, an unknown frame kind, a response to a request
    that was never sent."""
    INVALID_GOSSIP = -25.0
    """A gossip message its topic's validator rejected."""
    GOSSIP_RATE_EXCEEDED = -1.0
    """Per gossip message above the peer's rate limit."""


@dataclass(frozen=True)
class PeerInfo:
    """A connected peer."""

    peer_id: PeerId
    address: PeerAddress
    """For outbound connections the address dialled; for inbound ones the remote socket address."""
    direction: Direction
    score: float
    connected_since: float
    """UNIX time at which the connection was established."""
    round_trip_time: float | None
    """Seconds from the last answered PING to its PONG; ``None`` until one was answered."""


@dataclass(frozen=True)
class PeerConnected:
    peer_id: PeerId
    direction: Direction
    address: PeerAddress


@dataclass(frozen=True)
class PeerDisconnected:
    peer_id: PeerId
    reason: str
    """Human-readable: a goodbye reason, "keepalive timeout", "protocol violation: ...", ..."""


PeerEvent = PeerConnected | PeerDisconnected


class PeerScores:
    """Scores and bans. ``now`` is a monotonic time in seconds (``trio.current_time()``)."""

    def __init__(self, *, ban_threshold: float, ban_duration: float, recovery_per_second: float) -> None:
        self._ban_threshold = ban_threshold
        self._ban_duration = ban_duration
        self._recovery_per_second = recovery_per_second
        self._scores: OrderedDict[PeerId, tuple[float, float]] = OrderedDict()   # peer -> (score, as of)
        self._bans: OrderedDict[PeerId, float] = OrderedDict()                   # peer -> ban ends at

    def score(self, peer_id: PeerId, now: float) -> float:
        entry = self._scores.get(peer_id)
        if entry is None:
            return 0.0
        score, as_of = entry
        recovered = (now - as_of) * self._recovery_per_second
        return min(0.0, score + recovered) if score < 0 else max(0.0, score - recovered)

    def adjust(self, peer_id: PeerId, delta: float, now: float) -> bool:
        """Add ``delta``; return ``True`` if this banned the peer."""
        score = self.score(peer_id, now) + delta
        if score <= self._ban_threshold:
            self._scores.pop(peer_id, None)
            self._bans[peer_id] = now + self._ban_duration
            self._bans.move_to_end(peer_id)
            _forget_oldest(self._bans)
            return True
        self._scores[peer_id] = (score, now)
        self._scores.move_to_end(peer_id)
        _forget_oldest(self._scores)
        return False

    def is_banned(self, peer_id: PeerId, now: float) -> bool:
        ends_at = self._bans.get(peer_id)
        if ends_at is None:
            return False
        if ends_at > now:
            return True
        del self._bans[peer_id]
        return False


def _forget_oldest(entries: OrderedDict) -> None:
    while len(entries) > REMEMBERED_PEERS:
        entries.popitem(last=False)
