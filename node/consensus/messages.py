"""Finality's own network messages: neighbor packets and catch-up, their protocol names and byte layouts
(version 1).

Votes travel on the ``finality`` gossip topic and justifications on ``commits`` (``node.protocol``). These
two exchanges go to one peer at a time, as requests, so each answer is attributable to the peer that sent
it (gossip is forwarded, and identical payloads are de-duplicated, which a periodic packet would be)::

    cairn/finality-neighbor/1   request:  NeighborPacket   set id (u64) ++ round (u64) ++ finalized number (u32)
                                response: NeighborPacket   the answering node's own packet
    cairn/finality-catch-up/1   request:  CatchUpRequest   set id (u64) ++ round (u64): the asker's round
                                response: Option<CatchUpResponse>, where CatchUpResponse is
                                          set id (u64) ++ RoundVotes (``node.consensus.finality``): the
                                          votes of a round the answering node saw completable, at least
                                          the asker's round, or else the votes it has of the asker's round
                                          if it is in it; None when it has neither

A node sends its neighbor packet to every peer periodically (``Voter.neighbor_packet``); a voter that learns
from one that a peer is rounds ahead asks that peer to catch it up (``Voter.on_neighbor``), verifies the
answer and jumps to the round after it (``Voter.on_catch_up``). A voter stuck in its round asks the same
way, and takes an answer for its own round as the votes it missed.

Every decoder checks the byte length before decoding (house rule 8): a catch-up response may hold at most
one prevote and one precommit per authority, so a bigger one is refused unread. Decoding errors are
:class:`ScaleDecodeError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.consensus.finality import RoundVotes
from runtime.scale import U32, U64, ScaleDecodeError, Tuple

__all__ = [
    "NEIGHBOR_PROTOCOL",
    "CATCH_UP_PROTOCOL",
    "NeighborPacket",
    "CatchUpRequest",
    "CatchUpResponse",
    "encode_catch_up_answer",
    "decode_catch_up_answer",
]

NEIGHBOR_PROTOCOL = "cairn/finality-neighbor/1"
CATCH_UP_PROTOCOL = "cairn/finality-catch-up/1"

_NEIGHBOR = Tuple(U64, U64, U32)
_REQUEST = Tuple(U64, U64)


def _decode_fixed(codec: Tuple, size: int, what: str, data: bytes) -> tuple[int, ...]:
    if len(data) != size:
        raise ScaleDecodeError(f"a {what} is {size} bytes, not {len(data)}")
    return codec.decode(data)


@dataclass(frozen=True)
class NeighborPacket:
    """Where a node's voter stands."""

    set_id: int
    """The authority set it votes in (a session index)."""
    round: int
    """Its current round in that set."""
    finalized_number: int
    """The height of its last finalized block."""

    SIZE = 8 + 8 + 4

    def encode(self) -> bytes:
        return _NEIGHBOR.encode((self.set_id, self.round, self.finalized_number))

    @staticmethod
    def decode(data: bytes) -> "NeighborPacket":
        return NeighborPacket(*_decode_fixed(_NEIGHBOR, NeighborPacket.SIZE, "neighbor packet", data))


@dataclass(frozen=True)
class CatchUpRequest:
    """Asks a peer ahead for the votes of a round it completed, ``round`` or later."""

    set_id: int
    round: int
    """The asker's current round: an answer for an earlier round would not move it."""

    SIZE = 8 + 8

    def encode(self) -> bytes:
        return _REQUEST.encode((self.set_id, self.round))

    @staticmethod
    def decode(data: bytes) -> "CatchUpRequest":
        return CatchUpRequest(*_decode_fixed(_REQUEST, CatchUpRequest.SIZE, "catch-up request", data))


@dataclass(frozen=True)
class CatchUpResponse:
    """The votes of one round: one the answering node saw completable, or its current round when that is
    the asker's."""

    set_id: int
    votes: RoundVotes


def encode_catch_up_answer(response: CatchUpResponse | None) -> bytes:
    if response is None:
        return b"\x00"
    return b"\x01" + U64.encode(response.set_id) + response.votes.encode()


def decode_catch_up_answer(data: bytes, authorities: int) -> CatchUpResponse | None:
    """Decode an answer to a catch-up request in a set of ``authorities`` voters. One longer than such an
    answer can be, or with more than ``authorities`` votes of a stage, is refused before its votes are
    decoded."""
    if len(data) > 1 + 8 + RoundVotes.max_size(authorities):
        raise ScaleDecodeError(f"a {len(data)}-byte catch-up answer exceeds what {authorities} voters need")
    if data == b"\x00":
        return None
    if not data or data[0] != 1:
        raise ScaleDecodeError("a catch-up answer is an Option: 0x00, or 0x01 then the response")
    set_id, offset = U64.decode_from(data, 1)
    votes, offset = RoundVotes.decode_from(data, offset, limit=authorities)
    if offset != len(data):
        raise ScaleDecodeError("trailing bytes after a catch-up response")
    return CatchUpResponse(set_id, votes)
