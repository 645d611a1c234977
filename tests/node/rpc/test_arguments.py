"""Client arguments are bounded on their text before anything is decoded: hex strings by their type's size,
SS58 addresses by the longest address (base58 decoding is quadratic in the length)."""

from __future__ import annotations

import pytest

from node.api.shapes import InvalidHex, from_hex
from runtime.ss58 import MAX_ADDRESS_LENGTH, InvalidAddress, ss58_decode, ss58_encode


def test_hex_of_a_fixed_size_type():
    assert from_hex("0x" + "ab" * 32, length=32) == b"\xab" * 32
    with pytest.raises(InvalidHex, match="must be 32 bytes, got 62 hex digits"):
        from_hex("0x" + "ab" * 31, length=32)
    with pytest.raises(InvalidHex, match="must be 32 bytes"):
        from_hex("0x" + "ab" * 5_000_000, length=32)


def test_hex_of_a_bounded_type():
    assert from_hex("0x0102", max_length=2) == b"\x01\x02"
    assert from_hex("0x", max_length=2) == b""
    with pytest.raises(InvalidHex, match="at most 2 bytes, got 6 hex digits"):
        from_hex("0x010203", max_length=2)


@pytest.mark.parametrize("text", ["0102", "0x0g", "0x012", "0x01 02", 12, None])
def test_malformed_hex(text):
    with pytest.raises(InvalidHex):
        from_hex(text, max_length=10)


def test_longest_addresses_decode():
    public = b"\xff" * 32
    for prefix in (0, 42, 63, 64, 16383):  # one- and two-byte network prefixes
        address = ss58_encode(public, prefix)
        assert len(address) <= MAX_ADDRESS_LENGTH
        assert ss58_decode(address, prefix=None) == public


def test_overlong_address_is_refused_before_decoding():
    with pytest.raises(InvalidAddress, match="120000 characters: an address has at most 50"):
        ss58_decode("5" * 120_000, prefix=None)  # decoding this much base58 took seconds
