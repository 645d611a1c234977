"""Frame encoding (pinned byte layout), round trips, and the assembler's limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.network.errors import FrameTooLarge, MalformedFrame, UnknownFrameKind
from node.network.frames import (
    MAX_LANE_DATA,
    FrameAssembler,
    Goodbye,
    GoodbyeReason,
    Gossip,
    Hello,
    Lane,
    Ping,
    Pong,
    Request,
    Response,
    ResponseStatus,
    decode_frame,
    encode_frame,
    lane_for,
)

names = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255)
u64 = st.integers(min_value=0, max_value=2**64 - 1)
frames = st.one_of(
    st.just(Hello()),
    st.builds(Goodbye, st.sampled_from(GoodbyeReason)),
    st.builds(Ping, u64),
    st.builds(Pong, u64),
    st.builds(Request, u64, names, st.binary(max_size=300)),
    st.builds(Response, u64, st.sampled_from(ResponseStatus), st.binary(max_size=300)),
    st.builds(Gossip, names, st.binary(max_size=300)),
)


def test_wire_layout_version_1():
    assert encode_frame(Request(7, "/sync/1", b"hi")) == (
        bytes.fromhex("00000013") + b"\x05" + (7).to_bytes(8, "big") + b"\x07" + b"/sync/1" + b"hi")
    assert encode_frame(Response(7, ResponseStatus.ERROR, b"no")) == (
        bytes.fromhex("0000000c") + b"\x06" + (7).to_bytes(8, "big") + b"\x01" + b"no")
    assert encode_frame(Gossip("blocks", b"\xff")) == bytes.fromhex("00000009") + b"\x07\x06blocks\xff"
    assert encode_frame(Ping(1)) == bytes.fromhex("00000009") + b"\x03" + (1).to_bytes(8, "big")
    assert encode_frame(Goodbye(GoodbyeReason.BANNED)) == bytes.fromhex("00000002") + b"\x02\x02"
    assert encode_frame(Hello()) == bytes.fromhex("00000001") + b"\x01"


@given(frames)
def test_frames_round_trip(frame):
    encoded = encode_frame(frame)
    assert FrameAssembler(2**20).feed(encoded) == [encoded[4:]]
    assert decode_frame(encoded[4:]) == frame


@given(st.lists(frames, max_size=20), st.lists(st.integers(min_value=1, max_value=50), max_size=40))
def test_assembler_reassembles_any_split(frame_list, cuts):
    stream = b"".join(map(encode_frame, frame_list))
    assembler, bodies, position = FrameAssembler(2**20), [], 0
    for size in cuts + [len(stream)]:
        bodies += assembler.feed(stream[position:position + size])
        position += size
    assert [decode_frame(body) for body in bodies] == frame_list


def test_oversized_frame_is_refused_from_its_header_alone():
    with pytest.raises(FrameTooLarge):
        FrameAssembler(1000).feed((1001).to_bytes(4, "big"))
    assert FrameAssembler(1000).feed((1000).to_bytes(4, "big")) == []


@pytest.mark.parametrize("body, error", [
    (b"\x7f", UnknownFrameKind),
    (b"\x00", UnknownFrameKind),
    (b"\x01\x00", MalformedFrame),                            # HELLO with a body
    (b"\x02\x63", MalformedFrame),                            # unknown goodbye reason
    (b"\x03\x00\x00", MalformedFrame),                        # short PING
    (b"\x05" + bytes(8), MalformedFrame),                     # REQUEST without a name length
    (b"\x05" + bytes(8) + b"\x05ab", MalformedFrame),         # truncated protocol name
    (b"\x05" + bytes(8) + b"\x00", MalformedFrame),           # empty protocol name
    (b"\x05" + bytes(8) + b"\x01\xff", MalformedFrame),       # non-ASCII protocol name
    (b"\x06" + bytes(8) + b"\x09", MalformedFrame),           # unknown response status
    (b"\x07", MalformedFrame),                                # GOSSIP without a topic
])
def test_malformed_frames_are_refused(body, error):
    with pytest.raises(error):
        decode_frame(body)


def test_zero_length_frame_is_refused():
    with pytest.raises(MalformedFrame):
        FrameAssembler(1000).feed(bytes(4))


def test_names_must_be_short_ascii():
    with pytest.raises(ValueError):
        encode_frame(Gossip("x" * 256, b""))
    with pytest.raises(ValueError):
        encode_frame(Request(0, "", b""))


def test_frames_that_fit_one_noise_message_take_the_priority_lane():
    fits = encode_frame(Gossip("t", bytes(MAX_LANE_DATA - 4 - 2 - 1)))
    assert len(fits) == MAX_LANE_DATA and lane_for(fits) is Lane.PRIORITY
    assert lane_for(encode_frame(Gossip("t", bytes(MAX_LANE_DATA)))) is Lane.BULK
