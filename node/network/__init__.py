"""Cairn's peer-to-peer network layer: Noise XX over TCP on trio, request/response, gossip, peer scoring.

Modules, bottom up: ``identity`` (node key, ``PeerId``, addresses), ``noise`` (the encrypted session),
``frames`` (the wire format inside it), ``connection`` (one peer), ``gossip``, ``deferred`` and ``peers``
(validation before forwarding, de-duplication, rate limits, reputation), ``ip_limits`` (per-address quotas
on inbound sockets), ``service`` (``NetworkService``, what the node uses). See
``/work/shared/reference/networking.md`` for why this is our own protocol rather than py-libp2p.
"""

from node.network.config import NetworkConfig
from node.network.deferred import DeferredSubscription, PendingGossip
from node.network.errors import (
    ConnectionLost,
    ConnectionRefused,
    HandshakeError,
    MessageTooLarge,
    NetworkError,
    PeerIdMismatch,
    PeerUnavailable,
    ProtocolViolation,
    RemoteError,
    RequestRejected,
    RequestTimeout,
)
from node.network.frames import GoodbyeReason, ResponseStatus
from node.network.gossip import GossipMessage, Validator, Verdict
from node.network.identity import NodeKey, PeerAddress, PeerId
from node.network.peers import Direction, PeerConnected, PeerDisconnected, PeerEvent, PeerInfo, Penalty
from node.network.service import NetworkService, NetworkStatistics, RequestHandler

__all__ = [
    "ConnectionLost",
    "ConnectionRefused",
    "DeferredSubscription",
    "Direction",
    "GoodbyeReason",
    "GossipMessage",
    "HandshakeError",
    "MessageTooLarge",
    "NetworkConfig",
    "NetworkError",
    "NetworkService",
    "NetworkStatistics",
    "NodeKey",
    "PeerAddress",
    "PeerConnected",
    "PeerDisconnected",
    "PeerEvent",
    "PeerId",
    "PeerIdMismatch",
    "PeerInfo",
    "PeerUnavailable",
    "Penalty",
    "PendingGossip",
    "ProtocolViolation",
    "RemoteError",
    "RequestHandler",
    "RequestRejected",
    "RequestTimeout",
    "ResponseStatus",
    "Validator",
    "Verdict",
]
