"""Per-deployment settings of the peer-to-peer layer (house rule 7's third tier).

Protocol constants — the Noise and frame formats, name and message limits — live with the code that
defines them (``noise``, ``frames``) and never change without a new ``noise.PROLOGUE``. Everything here may
differ between nodes, with two caveats: ``max_frame_size`` and the gossip rate limit (``gossip_rate_per_second``,
``gossip_burst``) should be the same network-wide, because a peer that exceeds the receiver's limits is
treated as misbehaving.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.network.frames import DEFAULT_MAX_FRAME_SIZE, MAX_LANE_DATA
from node.network.identity import PeerAddress
from node.network.peers import Penalty

__all__ = ["NetworkConfig"]


@dataclass(frozen=True)
class NetworkConfig:
    """Settings of one ``NetworkService``. Times are in seconds."""

    listen_host: str = "127.0.0.1"
    """Interface to listen on; a deployment sets its public interface or ``0.0.0.0``."""
    listen_port: int = 30333
    """TCP port; 0 picks a free one (read it back from ``NetworkService.listen_port``)."""
    bootnodes: tuple[PeerAddress, ...] = ()
    """Peers dialled at start and re-dialled, with capped exponential backoff, whenever disconnected."""
    max_inbound_peers: int = 32
    max_outbound_peers: int = 16
    max_pending_handshakes: int = 16
    """Inbound sockets still in the handshake (unauthenticated); more are closed at once."""
    max_pending_handshakes_per_ip: int = 4
    """Of those, from one source IP address, so that one host holding sockets open without finishing the
    handshake (slowloris) takes at most a quarter of the slots and honest peers still get in. On loopback a
    handshake takes milliseconds, so even the first node of a many-validator devnet (every other node dials
    it at start) rarely has more than a few at once; a dial refused at this limit is simply retried."""
    max_inbound_per_ip: int = 16
    """Inbound connections from one source IP address, authenticated or still in the handshake; more are
    closed at once, so one host cannot take every ``max_inbound_peers`` slot (16 is half of them).
    Deployments with several nodes behind one public address (NAT) may need more. At the limit, a restarted
    peer replacing its own stale connection gets in once keepalive drops that."""
    per_ip_limits_on_private_addresses: bool = False
    """Whether the two per-IP limits above also apply to loopback (127.0.0.0/8, ::1), private (RFC 1918,
    IPv6 ULA fc00::/7) and link-local (169.254.0.0/16, fe80::/10) source addresses. Off by default: every
    node of a devnet, and every node of a cluster behind one private network, shares such an address with
    its honest peers, and the limits then refused real handshakes while the nodes all dialled each other at
    start. Such addresses cannot come from the internet, so only a host inside the network could abuse the
    exemption; ``max_pending_handshakes`` and ``max_inbound_peers`` still bound them all together. An IPv6
    address counts by its /64 (one host is routinely given a whole /64)."""
    dial_timeout: float = 5.0
    handshake_timeout: float = 5.0
    """Deadline for the Noise handshake and the HELLO that follows it."""
    request_timeout: float = 10.0
    """Default deadline of ``NetworkService.request``, and the deadline of each inbound request's handler."""
    keepalive_interval: float = 1.0
    """A PING goes out this often on every connection."""
    keepalive_timeout: float = 4.0
    """A connection that receives nothing, or cannot send a message, for this long is dead."""
    max_concurrent_inbound_requests: int = 64
    """Per connection; further requests are answered ``OVERLOADED`` at once."""
    outbound_queue_frames: int = 512
    """Frames waiting per lane and connection; gossip to a peer whose queue is full is dropped for it."""
    outbound_queue_bytes: int = 64 * 1024 * 1024
    """Bytes waiting per lane and connection (a larger frame is still taken when its lane is empty)."""
    gossip_rate_per_second: float = 100.0
    """Sustained gossip messages accepted from one peer; the excess is dropped and costs
    ``Penalty.RATE_EXCEEDED`` each. A node paces what it sends to each peer below this (see ``gossip``), so
    like ``max_frame_size`` it should be the same network-wide."""
    gossip_burst: int = 200
    """Gossip messages one peer may send at once before the rate applies (a node sends at most half as many
    at once: the other half absorbs a second of jitter on the way)."""
    seen_cache_size: int = 65_536
    """Gossip message ids remembered for de-duplication."""
    subscription_capacity: int = 1024
    """Messages buffered per topic subscription; when full, new ones are dropped for the subscriber."""
    peer_events_capacity: int = 256
    """Events buffered per ``subscribe_peer_events`` channel; when full, new ones are dropped (counted)."""
    gossip_validation_timeout: float = 10.0
    """How long a message of a deferred topic (``NetworkService.subscribe_deferred``) may wait for its
    subscriber's verdict; then it is dropped, never forwarded (too late to be useful to peers)."""
    max_pending_gossip_per_peer: int = 256
    """Messages from one peer waiting for a deferred verdict; more are dropped on arrival."""
    max_pending_gossip_bytes_per_peer: int = 32 * 1024 * 1024
    """Their payload bytes (a peer with nothing waiting may still send one larger message)."""
    max_pending_gossip_bytes: int = 256 * 1024 * 1024
    """Payload bytes waiting for a deferred verdict from all peers together."""
    ban_threshold: float = -1000.0
    """A peer whose reputation falls to this or below is disconnected and banned (see ``peers``). Must be
    below every non-fatal ``Penalty``, so that no single message bans a peer."""
    ban_duration: float = 300.0
    """Five minutes: five half-lives, so a peer banned at the threshold returns at about -30."""
    reputation_half_life: float = 60.0
    """Reputations decay toward 0, halving this often, so old offences are forgiven."""
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    redial_initial_backoff: float = 0.25
    redial_max_backoff: float = 2.0
    """Cap of the bootnode re-dial backoff: a restarted peer is reconnected within about this long."""

    def __post_init__(self) -> None:
        positive = ("dial_timeout", "handshake_timeout", "request_timeout", "keepalive_interval",
                    "keepalive_timeout", "gossip_rate_per_second", "ban_duration", "redial_initial_backoff",
                    "max_inbound_peers", "max_outbound_peers", "max_pending_handshakes",
                    "max_pending_handshakes_per_ip", "max_inbound_per_ip",
                    "max_concurrent_inbound_requests", "outbound_queue_frames", "outbound_queue_bytes", "gossip_burst",
                    "seen_cache_size", "subscription_capacity", "peer_events_capacity", "gossip_validation_timeout",
                    "max_pending_gossip_per_peer", "max_pending_gossip_bytes_per_peer", "max_pending_gossip_bytes",
                    "reputation_half_life")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"NetworkConfig.{name} must be positive, got {getattr(self, name)!r}")
        if not 0 <= self.listen_port < 65536:
            raise ValueError(f"listen_port {self.listen_port} is not a TCP port")
        if self.keepalive_timeout <= self.keepalive_interval:
            raise ValueError("keepalive_timeout must exceed keepalive_interval, or idle peers look dead")
        if self.redial_max_backoff < self.redial_initial_backoff:
            raise ValueError("redial_max_backoff must be at least redial_initial_backoff")
        if not self.ban_threshold < Penalty.MALFORMED_FRAME:
            raise ValueError(f"ban_threshold must be below {Penalty.MALFORMED_FRAME} (Penalty.MALFORMED_FRAME, the "
                             "largest non-fatal penalty), or a single message could ban a peer")
        if self.max_pending_gossip_bytes_per_peer > self.max_pending_gossip_bytes:
            raise ValueError("max_pending_gossip_bytes_per_peer must not exceed max_pending_gossip_bytes")
        if not MAX_LANE_DATA <= self.max_frame_size < 2**32:
            raise ValueError(f"max_frame_size must be within {MAX_LANE_DATA}..2**32-1")
