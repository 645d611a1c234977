"""The fast BLS path (blspy) agrees byte for byte with the py_ecc reference; POP and aggregates behave."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from da_layer import bls, bls_reference
from da_layer.bls import InvalidSecretKey, InvalidSignature

SEEDS = [bytes([i]) * 32 for i in range(1, 5)]
SECRETS = [bls.secret_from_seed(seed) for seed in SEEDS]
PUBLICS = [bls.public_key(secret) for secret in SECRETS]


@settings(max_examples=3, deadline=None)  # py_ecc takes ~1 s an example
@given(seeds=st.lists(st.binary(min_size=32, max_size=48), min_size=1, max_size=3),
       message=st.binary(max_size=120))
def test_fast_path_equals_reference(seeds, message):
    secrets = [bls.secret_from_seed(seed) for seed in seeds]
    assert secrets == [bls_reference.secret_from_seed(seed) for seed in seeds]
    publics = [bls.public_key(s) for s in secrets]
    assert publics == [bls_reference.public_key(s) for s in secrets]
    signatures = [bls.sign(s, message) for s in secrets]
    assert signatures == [bls_reference.sign(s, message) for s in secrets]
    aggregate = bls.aggregate(signatures)
    assert aggregate == bls_reference.aggregate(signatures)
    assert bls.fast_aggregate_verify(publics, message, aggregate)
    assert bls_reference.fast_aggregate_verify(publics, message, aggregate)
    assert bls.pop_prove(secrets[0]) == bls_reference.pop_prove(secrets[0])


def test_verdicts_agree_on_wrong_inputs():
    message = b"cairn"
    sig = bls.sign(SECRETS[0], message)
    pop = bls.pop_prove(SECRETS[0])
    cases = [
        ("verify", (PUBLICS[0], message, sig), True),
        ("verify", (PUBLICS[1], message, sig), False),
        ("verify", (PUBLICS[0], b"other", sig), False),
        ("verify", (PUBLICS[0], message, b"\x00" * 96), False),
        ("pop_verify", (PUBLICS[0], pop), True),
        ("pop_verify", (PUBLICS[1], pop), False),
        ("pop_verify", (PUBLICS[0], sig), False),  # a signature is not a proof of possession (other tag)
        ("pop_verify", (bytes([0xC0]) + bytes(47), pop), False),  # the identity key
    ]
    for name, args, expected in cases:
        assert getattr(bls, name)(*args) is expected, (name, expected)
        assert getattr(bls_reference, name)(*args) is expected, (name, expected)


OFF_SUBGROUP = bytes([0x80]) + bytes(46) + b"\x04"
"""x = 4 on the curve (y^2 = x^3 + 4), compressed: a point of E(Fp) outside the prime-order subgroup."""


@pytest.mark.parametrize("data, expected", [
    (PUBLICS[0], True),
    (bytes([0xC0]) + bytes(47), True),            # the identity: the zero blob's commitment
    (OFF_SUBGROUP, False),
    (bytes(48), False),                           # compression flag clear
    (bytes([0xC0]) + bytes(46) + b"\x01", False),  # infinity flag with a non-zero x
    (b"\xff" * 48, False),                        # x past the field modulus
    (PUBLICS[0][:47], False),
], ids=["key", "identity", "off-subgroup", "uncompressed-flag", "dirty-infinity", "x-too-large", "short"])
def test_g1_point_checks_agree(data, expected):
    assert bls.is_g1_point(data) is expected
    assert bls_reference.is_g1_point(data) is expected


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=48, max_size=48))
def test_g1_point_checks_agree_on_any_bytes(data):
    candidate = bytes([data[0] | 0x80]) + data[1:]  # compressed, so that some land on the curve
    assert bls.is_g1_point(candidate) is bls_reference.is_g1_point(candidate)


def test_aggregate_with_a_duplicated_or_missing_signer_does_not_verify():
    message = b"blob"
    sigs = [bls.sign(s, message) for s in SECRETS[:3]]
    assert bls.fast_aggregate_verify(PUBLICS[:3], message, bls.aggregate(sigs))
    assert not bls.fast_aggregate_verify(PUBLICS[:3], message, bls.aggregate(sigs + sigs[:1]))
    assert not bls.fast_aggregate_verify(PUBLICS[:3], message, bls.aggregate(sigs[:2]))
    assert not bls.fast_aggregate_verify(PUBLICS[:3] + PUBLICS[:1], message, bls.aggregate(sigs))
    assert not bls.fast_aggregate_verify([], message, bls.aggregate(sigs))
    assert not bls.fast_aggregate_verify(PUBLICS[:3], b"other", bls.aggregate(sigs))
    assert not bls.fast_aggregate_verify([b"\x02" * 48], message, sigs[0])


def test_bad_keys_and_signatures_are_typed():
    with pytest.raises(InvalidSecretKey):
        bls.secret_from_seed(b"short")
    with pytest.raises(InvalidSecretKey):
        bls.sign(bytes(32), b"m")
    with pytest.raises(InvalidSecretKey):
        bls.public_key(bls.CURVE_ORDER.to_bytes(32, "big"))
    with pytest.raises(InvalidSignature):
        bls.aggregate([])
    with pytest.raises(InvalidSignature):
        bls.aggregate([b"\x01" * 96])
    with pytest.raises(InvalidSignature):
        bls_reference.aggregate([b"\x01" * 96])


def test_the_reference_leaves_the_process_recursion_limit_alone():
    # py_ecc raises it to 100,000 on import, where a deeply nested JSON request crashes the process
    check = "import sys; limit = sys.getrecursionlimit(); import da_layer.bls_reference; assert sys.getrecursionlimit() == limit"
    subprocess.run([sys.executable, "-c", check], check=True, timeout=120)
