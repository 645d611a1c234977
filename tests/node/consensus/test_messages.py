"""Neighbor packets and catch-up messages: round trips, and every malformed or oversized form refused with
``ScaleDecodeError`` (an oversized answer before its votes are decoded)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.consensus.finality import RoundVotes, SignedVote, Stage, Vote
from node.consensus.messages import (
    CatchUpRequest,
    CatchUpResponse,
    NeighborPacket,
    decode_catch_up_answer,
    encode_catch_up_answer,
)
from runtime.keyring import Keypair
from runtime.primitives import SignatureScheme
from runtime.scale import ScaleDecodeError

KEYS = [Keypair.from_uri(f"//{n}", SignatureScheme.Ed25519) for n in ("Alice", "Bob", "Charlie", "Dave")]


def votes(stage: Stage, count: int, round_: int = 7) -> tuple[SignedVote, ...]:
    return tuple(SignedVote.sign(round_, 2, Vote(stage, bytes([i]) * 32, 9), k.public, k.secret)
                 for i, k in enumerate(KEYS[:count]))


RESPONSE = CatchUpResponse(2, RoundVotes(7, votes(Stage.PREVOTE, 3), votes(Stage.PRECOMMIT, 4)))


def test_round_trips():
    packet = NeighborPacket(set_id=3, round=2**40, finalized_number=2**31)
    assert NeighborPacket.decode(packet.encode()) == packet
    request = CatchUpRequest(set_id=3, round=17)
    assert CatchUpRequest.decode(request.encode()) == request
    assert decode_catch_up_answer(encode_catch_up_answer(RESPONSE), 4) == RESPONSE
    assert decode_catch_up_answer(encode_catch_up_answer(None), 4) is None


@pytest.mark.parametrize("decode, data", [
    (NeighborPacket.decode, NeighborPacket(1, 2, 3).encode()[:-1]),
    (NeighborPacket.decode, NeighborPacket(1, 2, 3).encode() + b"\0"),
    (CatchUpRequest.decode, b""),
    (CatchUpRequest.decode, CatchUpRequest(1, 2).encode() + b"\0"),
], ids=["short-packet", "long-packet", "empty-request", "long-request"])
def test_fixed_size_messages_of_another_size_are_refused(decode, data):
    with pytest.raises(ScaleDecodeError):
        decode(data)


@pytest.mark.parametrize("data, match", [
    (b"", "Option"),
    (b"\x02" + encode_catch_up_answer(RESPONSE)[1:], "Option"),
    (encode_catch_up_answer(RESPONSE) + b"\0", "trailing"),
    (encode_catch_up_answer(RESPONSE)[:-1], "truncated"),
    (encode_catch_up_answer(CatchUpResponse(2, RoundVotes(7, votes(Stage.PREVOTE, 4), ()))), "at most 3"),
], ids=["empty", "bad-tag", "trailing", "truncated", "too-many-votes"])
def test_malformed_answers_are_refused(data, match):
    with pytest.raises(ScaleDecodeError, match=match):
        decode_catch_up_answer(data, 3 if match == "at most 3" else 4)


def test_an_answer_bigger_than_the_set_needs_is_refused_unread():
    encoded = encode_catch_up_answer(RESPONSE)
    with pytest.raises(ScaleDecodeError, match="exceeds"):
        decode_catch_up_answer(encoded + bytes(2 * SignedVote.SIZE), 4)
    with pytest.raises(ScaleDecodeError, match="exceeds"):
        decode_catch_up_answer(encoded, 2)  # a set of two cannot have sent seven votes


@given(st.binary(max_size=2000))
def test_any_bytes_decode_or_raise_scale_decode_error(data):
    for decode in (NeighborPacket.decode, CatchUpRequest.decode, lambda d: decode_catch_up_answer(d, 4)):
        try:
            decode(data)
        except ScaleDecodeError:
            pass
