"""Peers as the rest of the node sees them: connection info, events, and reputation.

Reputation works as in Substrate's peerset. Every peer starts at 0 (neutral). ``NetworkService.report``
adds a change — one of the ``Penalty`` constants, by class of fault — and the value decays exponentially
toward 0, halving every ``reputation_half_life`` seconds, so old offences are forgiven and a peer's value
reflects its recent behaviour. A peer is banned only when its reputation falls to ``ban_threshold`` or
below, which no single non-fatal penalty can do from neutral (``NetworkConfig`` refuses a threshold that
one could cross): a ban needs repeated faults within about a half-life, or a ``Penalty.FATAL`` one. A ban
disconnects the peer and refuses its connections in either direction for ``ban_duration``, then expires;
the reputation keeps decaying meanwhile, so a returning peer is close to neutral again.

The numbers, with the default threshold of -1000 and a half-life of 60 s (a fault repeated every ``i``
seconds settles at about ``penalty * 87 / i``; banned when that reaches -1000):

==================  =======  ===========================================================================
class               change   bans after
==================  =======  ===========================================================================
``MALFORMED_FRAME`` -300     4 in quick succession. The stream cannot be trusted after one, so it also
                             ends the connection (the peer may reconnect: that is not a ban). Only a
                             broken or hostile peer sends one: frames are never forwarded.
``INVALID_GOSSIP``  -100     10 in quick succession, or one every ~9 s sustained. Only for what the
                             sender could have checked itself before sending (decoding, signatures).
``BAD_RESPONSE``    -100     likewise: an answer that does not decode or does not answer the request.
``BAD_REQUEST``     -100     likewise: a request the peer should never have sent (it does not decode).
``UNSOLICITED``     -50      20 in quick succession: a response to a request never sent. Dropped; the
                             connection goes on.
``RATE_EXCEEDED``   -1       about 1000 messages over the gossip rate limit in quick succession, or 12 a
                             second sustained: a flood. Honest nodes pace their gossip below the limit
                             (``gossip``); even a whole ``keepalive_timeout`` of stalled TCP releases at
                             most a few hundred at once.
``FATAL``           -inf     at once: the peer can never be useful (e.g. another chain's genesis).
==================  =======  ===========================================================================

A reputation is kept within ``[2 * ban_threshold, -ban_threshold]``: a peer cannot bank more goodwill than
the distance to a ban, and a fatal penalty still decays like any other once its ban ends. Values smaller
than ``FORGET_BELOW`` count as 0 and are forgotten, and reputations and bans are remembered for a bounded
number of peers (the least recently changed are forgotten first), so identities minted by an attacker
cannot grow memory without bound.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from dataclasses import dataclass

from node.network.identity import PeerAddress, PeerId

__all__ = [
    "Direction",
    "PeerConnected",
    "PeerDisconnected",
    "PeerEvent",
    "PeerInfo",
    "Penalty",
    "Reputations",
]

REMEMBERED_PEERS = 4096
"""How many peers' reputations (and, separately, bans) are kept."""
FORGET_BELOW = 0.5
"""A reputation closer to 0 than this is 0 (and its entry is dropped)."""


class Direction(enum.Enum):
    INBOUND = "inbound"
    """The peer dialled us."""
    OUTBOUND = "outbound"
    """We dialled the peer."""


class Penalty:
    """Reputation changes by class of fault, for ``NetworkService.report`` (see the module docstring for
    the numbers and why). The network layer applies ``MALFORMED_FRAME``, ``UNSOLICITED``, ``RATE_EXCEEDED``
    and, for a gossip subscriber's rejection, ``INVALID_GOSSIP`` itself."""

    MALFORMED_FRAME = -300.0
    """Tampered ciphertext, an oversized or malformed frame, an unknown frame kind (``ProtocolViolation``)."""
    INVALID_GOSSIP = -100.0
    """A gossip message that fails a check its sender could have made: it does not decode, or a signature
    it carries does not verify."""
    BAD_RESPONSE = -100.0
    """A response that does not decode or does not answer the request (e.g. blocks that are not the ones
    asked for)."""
    BAD_REQUEST = -100.0
    """A request that does not decode."""
    UNSOLICITED = -50.0
    """A response to a request that was never sent."""
    RATE_EXCEEDED = -1.0
    """Per gossip message above the peer's rate limit."""
    FATAL = -math.inf
    """The peer can never be useful to us (another chain's genesis): banned and disconnected at once."""


@dataclass(frozen=True)
class PeerInfo:
    """A connected peer."""

    peer_id: PeerId
    address: PeerAddress
    """For outbound connections the address dialled; for inbound ones the remote socket address."""
    direction: Direction
    reputation: float
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


class Reputations:
    """Reputations and bans. ``now`` is a monotonic time in seconds (``trio.current_time()``)."""

    def __init__(self, *, ban_threshold: float, ban_duration: float, half_life: float) -> None:
        self._ban_threshold = ban_threshold
        self._ban_duration = ban_duration
        self._half_life = half_life
        self._values: OrderedDict[PeerId, tuple[float, float]] = OrderedDict()  # peer -> (value, as of)
        self._bans: OrderedDict[PeerId, float] = OrderedDict()                  # peer -> ban ends at

    def reputation(self, peer_id: PeerId, now: float) -> float:
        entry = self._values.get(peer_id)
        if entry is None:
            return 0.0
        value = entry[0] * 0.5 ** ((now - entry[1]) / self._half_life)
        return value if abs(value) >= FORGET_BELOW else 0.0

    def all(self, now: float) -> dict[PeerId, float]:
        """Every remembered peer's non-zero reputation."""
        values = {peer_id: self.reputation(peer_id, now) for peer_id in self._values}
        return {peer_id: value for peer_id, value in values.items() if value}

    def change(self, peer_id: PeerId, delta: float, now: float) -> bool:
        """Add ``delta``; return ``True`` if this banned the peer (it was not banned before)."""
        low, high = 2 * self._ban_threshold, -self._ban_threshold
        value = min(high, max(low, self.reputation(peer_id, now) + delta))
        if abs(value) < FORGET_BELOW:
            self._values.pop(peer_id, None)
        else:
            self._values[peer_id] = (value, now)
            self._values.move_to_end(peer_id)
            _forget_oldest(self._values)
        if value > self._ban_threshold or self.is_banned(peer_id, now):
            return False
        self._bans[peer_id] = now + self._ban_duration
        self._bans.move_to_end(peer_id)
        _forget_oldest(self._bans)
        return True

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
