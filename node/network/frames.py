"""Frames: what peers say to each other inside the Noise session, and the two lanes that carry them.

Wire format, version 1 (bound by ``noise.PROLOGUE``). Every Noise transport message's plaintext is::

    lane u8 | data (1..65518 bytes)

``lane`` 0 (PRIORITY) and 1 (BULK) are two independent byte streams; ``data`` is the next piece of that
lane's stream. Each lane carries frames back to back::

    length u32 BE | kind u8 | body (length - 1 bytes)

``length`` counts the kind byte and the body: 1..``max_frame_size`` (16 MiB by default). A receiver rejects
a larger value as soon as the four length bytes arrive, before buffering any of the frame. Kinds::

    0x01 HELLO     (no body) the responder accepts the connection; must be the first frame it sends
    0x02 GOODBYE   reason u8 (GoodbyeReason); the sender closes the connection after it
    0x03 PING      nonce u64 BE
    0x04 PONG      nonce u64 BE (the nonce of the PING it answers)
    0x05 REQUEST   request_id u64 BE | protocol_length u8 | protocol (ASCII, 1..255 bytes) | payload
    0x06 RESPONSE  request_id u64 BE | status u8 (ResponseStatus) | payload
    0x07 GOSSIP    topic_length u8 | topic (ASCII, 1..255 bytes) | payload

A request id is chosen by the requester (0, 1, 2, ... per connection); the response repeats it. For
``ResponseStatus.ERROR`` the payload is a UTF-8 message.

Why two lanes: a frame that fits in one Noise message (``MAX_LANE_DATA`` bytes, length prefix included)
goes on the priority lane, a larger one on the bulk lane. The sender writes bulk frames one Noise message
(64 KiB) at a time and sends every waiting priority frame between two pieces, so a vote or a block
announcement waits behind at most one 64 KiB piece of an 8 MiB fragment, never behind the whole fragment.
Frames keep their order within a lane, not across lanes.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from node.network.errors import FrameTooLarge, MalformedFrame, UnknownFrameKind
from node.network.noise import MAX_PLAINTEXT_LENGTH

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "Frame",
    "FRAME_LENGTH_PREFIX",
    "FrameAssembler",
    "FrameKind",
    "Goodbye",
    "GoodbyeReason",
    "Gossip",
    "Hello",
    "Lane",
    "MAX_LANE_DATA",
    "MAX_NAME_LENGTH",
    "Ping",
    "Pong",
    "Request",
    "Response",
    "ResponseStatus",
    "decode_frame",
    "encode_frame",
    "lane_for",
]

DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
MAX_LANE_DATA = MAX_PLAINTEXT_LENGTH - 1
"""Frame-stream bytes one Noise message carries after its lane byte."""
MAX_NAME_LENGTH = 255
"""Longest protocol or topic name, in bytes."""

_LENGTH = struct.Struct(">I")
FRAME_LENGTH_PREFIX = _LENGTH.size
"""Bytes before a frame's kind; ``max_frame_size`` limits what follows them."""
_U64 = struct.Struct(">Q")
_REQUEST_HEADER = struct.Struct(">QB")   # request_id, protocol_length
_RESPONSE_HEADER = struct.Struct(">QB")  # request_id, status


class Lane(enum.IntEnum):
    PRIORITY = 0
    BULK = 1


class FrameKind(enum.IntEnum):
    HELLO = 0x01
    GOODBYE = 0x02
    PING = 0x03
    PONG = 0x04
    REQUEST = 0x05
    RESPONSE = 0x06
    GOSSIP = 0x07


class GoodbyeReason(enum.IntEnum):
    """Why a peer closes a connection (sent in GOODBYE). A stopping node sends none: its peers see the
    TCP stream end at once. Code 0 is unassigned."""

    TOO_MANY_PEERS = 1
    BANNED = 2
    DUPLICATE_CONNECTION = 3
    """Another connection between the same two nodes is kept (see ``NetworkService``)."""
    PROTOCOL_VIOLATION = 4
    REQUESTED = 5
    """The local node asked to disconnect (``NetworkService.disconnect``)."""


class ResponseStatus(enum.IntEnum):
    OK = 0
    ERROR = 1
    """The handler refused or failed; the payload is a UTF-8 message."""
    UNKNOWN_PROTOCOL = 2
    OVERLOADED = 3
    """Too many of this peer's requests are already being served; try later or elsewhere."""


@dataclass(frozen=True)
class Hello:
    pass


@dataclass(frozen=True)
class Goodbye:
    reason: GoodbyeReason


@dataclass(frozen=True)
class Ping:
    nonce: int


@dataclass(frozen=True)
class Pong:
    nonce: int


@dataclass(frozen=True)
class Request:
    request_id: int
    protocol: str
    payload: bytes


@dataclass(frozen=True)
class Response:
    request_id: int
    status: ResponseStatus
    payload: bytes


@dataclass(frozen=True)
class Gossip:
    topic: str
    payload: bytes


Frame = Hello | Goodbye | Ping | Pong | Request | Response | Gossip


def encode_name(name: str) -> bytes:
    """A protocol or topic name as it goes on the wire; ``ValueError`` unless 1..255 ASCII bytes."""
    encoded = name.encode("ascii")
    if not 0 < len(encoded) <= MAX_NAME_LENGTH:
        raise ValueError(f"names are 1..{MAX_NAME_LENGTH} ASCII bytes, got {len(encoded)}")
    return encoded


def encode_frame(frame: Frame) -> bytes:
    """The frame with its length prefix, ready for a lane."""
    match frame:
        case Hello():
            parts = [bytes([FrameKind.HELLO])]
        case Goodbye(reason):
            parts = [bytes([FrameKind.GOODBYE, reason])]
        case Ping(nonce):
            parts = [bytes([FrameKind.PING]), _U64.pack(nonce)]
        case Pong(nonce):
            parts = [bytes([FrameKind.PONG]), _U64.pack(nonce)]
        case Request(request_id, protocol, payload):
            name = encode_name(protocol)
            parts = [bytes([FrameKind.REQUEST]), _REQUEST_HEADER.pack(request_id, len(name)), name, payload]
        case Response(request_id, status, payload):
            parts = [bytes([FrameKind.RESPONSE]), _RESPONSE_HEADER.pack(request_id, status), payload]
        case Gossip(topic, payload):
            name = encode_name(topic)
            parts = [bytes([FrameKind.GOSSIP, len(name)]), name, payload]
    return b"".join([_LENGTH.pack(sum(map(len, parts))), *parts])  # one copy, even of an 8 MiB payload


def lane_for(encoded_frame: bytes) -> Lane:
    """PRIORITY if the frame fits in one Noise message, else BULK (see the module docstring)."""
    return Lane.PRIORITY if len(encoded_frame) <= MAX_LANE_DATA else Lane.BULK


def _decode_name(body: bytes, offset: int, length: int) -> str:
    raw = body[offset:offset + length]
    if length == 0 or len(raw) != length:
        raise MalformedFrame("empty or truncated name")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedFrame("name is not ASCII") from None


def _enum_value(enum_type: type[enum.IntEnum], value: int) -> enum.IntEnum:
    try:
        return enum_type(value)
    except ValueError:
        raise MalformedFrame(f"{value} is not a {enum_type.__name__}") from None


def decode_frame(body: bytes) -> Frame:
    """Parse a frame without its length prefix (as ``FrameAssembler`` yields them)."""
    kind, size = body[0], len(body)
    try:
        if kind == FrameKind.HELLO and size == 1:
            return Hello()
        if kind == FrameKind.GOODBYE and size == 2:
            return Goodbye(_enum_value(GoodbyeReason, body[1]))
        if kind in (FrameKind.PING, FrameKind.PONG) and size == 1 + _U64.size:
            (nonce,) = _U64.unpack_from(body, 1)
            return Ping(nonce) if kind == FrameKind.PING else Pong(nonce)
        if kind == FrameKind.REQUEST:
            request_id, name_length = _REQUEST_HEADER.unpack_from(body, 1)
            start = 1 + _REQUEST_HEADER.size
            return Request(request_id, _decode_name(body, start, name_length), body[start + name_length:])
        if kind == FrameKind.RESPONSE:
            request_id, status = _RESPONSE_HEADER.unpack_from(body, 1)
            return Response(request_id, _enum_value(ResponseStatus, status), body[1 + _RESPONSE_HEADER.size:])
        if kind == FrameKind.GOSSIP and size >= 2:
            return Gossip(_decode_name(body, 2, body[1]), body[2 + body[1]:])
    except struct.error:
        raise MalformedFrame(f"truncated {FrameKind(kind).name} frame") from None
    try:
        name = FrameKind(kind).name
    except ValueError:
        raise UnknownFrameKind(f"unknown frame kind 0x{kind:02x}") from None
    raise MalformedFrame(f"{name} frame of the wrong length ({size} bytes)")


class FrameAssembler:
    """Cuts one lane's byte stream into frame bodies, refusing oversized frames before buffering them."""

    def __init__(self, max_frame_size: int) -> None:
        self._max_frame_size = max_frame_size
        self._header = bytearray()
        self._missing = 0            # body bytes still to come for the current frame; 0 = reading a header
        self._parts: list[bytes] = []

    def feed(self, data: bytes | memoryview) -> list[bytes]:
        """Take the next piece of the lane; return the frame bodies it completes (kind byte first)."""
        view = memoryview(data)
        bodies: list[bytes] = []
        position = 0
        while position < len(view):
            if not self._missing:
                take = min(_LENGTH.size - len(self._header), len(view) - position)
                self._header += view[position:position + take]
                position += take
                if len(self._header) < _LENGTH.size:
                    break
                (length,) = _LENGTH.unpack(self._header)
                self._header.clear()
                if length == 0:
                    raise MalformedFrame("zero-length frame")
                if length > self._max_frame_size:
                    raise FrameTooLarge(f"a {length}-byte frame exceeds the {self._max_frame_size}-byte limit")
                self._missing = length
            take = min(self._missing, len(view) - position)
            self._parts.append(bytes(view[position:position + take]))
            position += take
            self._missing -= take
            if not self._missing:
                bodies.append(b"".join(self._parts))
                self._parts.clear()
        return bodies
