"""Typed errors of the peer-to-peer layer.

Callers of the public API see four families:

- ``PeerUnavailable`` (and ``ConnectionRefused``, ``HandshakeError``): there is no usable connection to the
  peer, or it went away before answering. Expected in normal operation; try another peer.
- ``RequestTimeout``: the peer did not answer in time.
- ``RemoteError``: the peer answered with an error status.
- ``MessageTooLarge``: the caller tried to send more than one frame may carry (a local bug, raised before
  anything is sent).

``ProtocolViolation`` and its subclasses describe a peer that broke the wire protocol. They end the
connection and cost the peer score; they never reach callers of ``request``/``publish``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from node.network.frames import GoodbyeReason, ResponseStatus
    from node.network.identity import PeerId


class NetworkError(Exception):
    """Base class of every error raised by ``node.network``."""


class PeerUnavailable(NetworkError):
    """No usable connection to the peer: not connected, unreachable, or the connection closed."""


class ConnectionRefused(PeerUnavailable):
    """The remote completed the handshake and then said goodbye instead of hello."""

    def __init__(self, reason: GoodbyeReason) -> None:
        super().__init__(f"the peer refused the connection: {reason.name}")
        self.reason = reason


class HandshakeError(PeerUnavailable):
    """The Noise handshake failed: garbage, wrong protocol version, or an identity that does not verify."""


class PeerIdMismatch(HandshakeError):
    """The dialled address named one peer and a different one answered."""

    def __init__(self, expected: PeerId, actual: PeerId) -> None:
        super().__init__(f"expected peer {expected}, but {actual} answered")
        self.expected = expected
        self.actual = actual


class ConnectionLost(PeerUnavailable):
    """The TCP connection ended (end of stream, reset, or closed locally)."""


class RequestTimeout(NetworkError):
    """No response arrived before the request's deadline."""


class RemoteError(NetworkError):
    """The peer answered a request with an error status."""

    def __init__(self, status: ResponseStatus, message: str) -> None:
        super().__init__(f"{status.name}: {message}" if message else status.name)
        self.status = status
        self.message = message


class MessageTooLarge(NetworkError, ValueError):
    """The frame would exceed ``NetworkConfig.max_frame_size``; nothing was sent."""


class RequestRejected(Exception):
    """Raised by a request handler to answer with ``ResponseStatus.ERROR`` and this message; a non-zero
    ``cost`` (e.g. ``Penalty.BAD_REQUEST`` for a request that does not decode) also lowers the requester's
    reputation by that much.

    Any other exception escaping a handler is logged and answered with a generic "internal error", so
    handler internals never leak to remote peers.
    """

    def __init__(self, message: str, *, cost: float = 0.0) -> None:
        super().__init__(message)
        self.cost = cost


class ProtocolViolation(NetworkError):
    """The authenticated peer broke the wire protocol; the connection is dropped and the peer scored down."""


class DecryptionFailed(ProtocolViolation):
    """A transport message failed authentication (tampered, truncated, replayed or out of order)."""


class MalformedFrame(ProtocolViolation):
    """A frame is shorter than its fields, or a field holds a value the protocol does not allow."""


class UnknownFrameKind(MalformedFrame):
    """A frame's kind byte names no kind of this protocol version."""


class FrameTooLarge(ProtocolViolation):
    """A frame header announced more bytes than ``max_frame_size``; rejected before any were buffered."""
