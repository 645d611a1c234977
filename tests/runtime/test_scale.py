"""SCALE codecs: round trips, strict decoding, and byte-for-byte agreement with scalecodec."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset

from runtime.pallets.account import ACCOUNT_INFO, AccountData, AccountInfo
from runtime.primitives import ERA, Digest, DigestItemKind, Era, Header
from runtime.scale import (
    BYTES,
    COMPACT_U128,
    MAX_DECODE_LENGTH,
    U32,
    U128,
    Option,
    ScaleDecodeError,
    Vec,
    decode_compact,
    encode_compact,
)


@functools.lru_cache(maxsize=None)
def scalecodec(preset: str) -> RuntimeConfigurationObject:
    """scalecodec's own type registry (loading a preset is slow: once per preset)."""
    config = RuntimeConfigurationObject()
    config.update_type_registry(load_type_registry_preset(preset))
    if preset == "core":
        config.update_type_registry({"types": {"AccountInfoFrame": {"type": "struct", "type_mapping": [
            ["nonce", "u32"], ["consumers", "u32"], ["providers", "u32"], ["sufficients", "u32"],
            ["data", "AccountDataFrame"]]}, "AccountDataFrame": {"type": "struct", "type_mapping": [
            ["free", "u128"], ["reserved", "u128"], ["frozen", "u128"], ["flags", "u128"]]}}})
    return config


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_compact_round_trip_matches_scalecodec(n):
    encoded = encode_compact(n)
    assert decode_compact(encoded) == (n, len(encoded))
    assert bytes(scalecodec("core").create_scale_object("Compact<u128>").encode(n).data) == encoded


@pytest.mark.parametrize("raw", [b"\x01\x00", b"\x02\x00\x00\x00", b"\x03\x00\x00\x00\x00", b"\x07" + bytes(5)])
def test_non_canonical_compacts_are_rejected(raw):
    with pytest.raises(ScaleDecodeError, match="non-canonical"):
        decode_compact(raw)


@pytest.mark.parametrize("raw", [b"", b"\x01", b"\x02\x00", b"\x03\x00"])
def test_truncated_compacts_are_rejected(raw):
    with pytest.raises(ScaleDecodeError, match="truncated"):
        decode_compact(raw)


def test_absurd_sequence_lengths_are_rejected_before_allocating():
    with pytest.raises(ScaleDecodeError, match="exceeds the limit"):
        Vec(U32).decode(encode_compact(MAX_DECODE_LENGTH + 1))
    with pytest.raises(ScaleDecodeError, match="longer than the remaining input"):
        Vec(U32).decode(encode_compact(1000) + bytes(8))
    with pytest.raises(ScaleDecodeError, match="truncated byte vector"):
        BYTES.decode(encode_compact(1000) + bytes(8))


def test_trailing_bytes_and_bad_tags_are_rejected():
    with pytest.raises(ScaleDecodeError, match="trailing"):
        U32.decode(bytes(5))
    with pytest.raises(ScaleDecodeError, match="invalid Option tag"):
        Option(U32).decode(b"\x02" + bytes(4))
    with pytest.raises(ScaleDecodeError):
        COMPACT_U128.decode(b"\x17" + b"\xff" * 17)  # 17 bytes do not fit a u128


accounts = st.builds(
    AccountInfo,
    st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
    st.builds(AccountData, *(st.integers(0, 2**128 - 1) for _ in range(4))),
)


@settings(max_examples=50)
@given(accounts)
def test_account_info_fast_codec_matches_generic_codec_and_scalecodec(info):
    encoded = ACCOUNT_INFO.encode(info)
    assert len(encoded) == 80
    assert encoded == AccountInfo.SCALE.encode(info)
    assert ACCOUNT_INFO.decode(encoded) == info
    decoded = scalecodec("core").create_scale_object("AccountInfoFrame", data=ScaleBytes(encoded)).decode()
    assert decoded["nonce"] == info.nonce and decoded["data"]["flags"] == info.data.flags


@given(st.integers(0, 2**32 - 1), st.binary(min_size=32, max_size=32), st.binary(max_size=40))
def test_header_encoding_matches_scalecodec(number, root, seal):
    header = Header(root, number, root[::-1], root, Digest((
        DigestItemKind.PreRuntime(b"aura", b"\x01" * 8), DigestItemKind.Seal(b"aura", seal),
    )))
    assert Header.decode(header.encode()) == header
    obj = scalecodec("legacy").create_scale_object("Header", data=ScaleBytes(header.encode()))
    obj.decode()
    assert obj.value["number"] == number
    assert obj.value["state_root"] == "0x" + root[::-1].hex()
    assert obj.value["digest"]["logs"][1]["Seal"]["data"] == "0x" + seal.hex()


@given(st.integers(2, 16), st.integers(0, 10**6))
def test_mortal_eras_round_trip_and_match_scalecodec(log_period, current):
    era = Era.mortal(1 << log_period, current)
    assert ERA.decode(ERA.encode(era)) == era
    assert era.birth(current) <= current < era.death(current)
    obj = scalecodec("core").create_scale_object("Era")
    assert bytes(obj.encode((era.period, era.phase)).data) == ERA.encode(era)


def test_u128_bounds():
    with pytest.raises(ValueError):
        U128.encode(2**128)
    with pytest.raises(ValueError):
        U128.encode(-1)
