"""Registration and attestation messages and signer bitfields; the confidence formula."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from da_layer.attestation import (
    DOMAIN_DA_REGISTRATION,
    MalformedBitfield,
    attestation_message,
    bitfield,
    registration_message,
    signers,
)
from da_layer.confidence import confidence, samples_for
from runtime.hashing import DOMAIN_DA_ATTESTATION


def test_registration_binds_chain_account_and_key():
    message = registration_message(b"g" * 32, b"a" * 32, b"k" * 48)
    assert message == DOMAIN_DA_REGISTRATION + b"g" * 32 + b"a" * 32 + b"k" * 48
    assert message != registration_message(b"h" * 32, b"a" * 32, b"k" * 48)
    assert message != registration_message(b"g" * 32, b"b" * 32, b"k" * 48)
    assert not message.startswith(DOMAIN_DA_ATTESTATION)  # no attestation is ever a registration, nor the reverse
    with pytest.raises(ValueError):
        registration_message(b"g" * 32, b"a" * 31, b"k" * 48)


def test_message_binds_chain_blob_and_commitment():
    message = attestation_message(b"g" * 32, b"b" * 32, b"c" * 48)
    assert message == DOMAIN_DA_ATTESTATION + b"g" * 32 + b"b" * 32 + b"c" * 48
    assert message != attestation_message(b"h" * 32, b"b" * 32, b"c" * 48)
    with pytest.raises(ValueError):
        attestation_message(b"g" * 32, b"b" * 31, b"c" * 48)


@given(node_count=st.integers(0, 300), data=st.data())
def test_bitfield_round_trips(node_count, data):
    chosen = data.draw(st.sets(st.integers(0, node_count - 1))) if node_count else set()
    field = bitfield(chosen, node_count)
    assert len(field) == (node_count + 7) // 8
    assert signers(field, node_count) == tuple(sorted(chosen))


def test_bit_order_is_least_significant_first():
    assert bitfield([0], 9) == b"\x01\x00" and bitfield([3, 8], 9) == b"\x08\x01"


def test_malformed_bitfields_are_refused():
    with pytest.raises(MalformedBitfield):
        signers(b"\x01", 9)  # too short
    with pytest.raises(MalformedBitfield):
        signers(b"\x01\x00", 8)  # too long
    with pytest.raises(MalformedBitfield):
        signers(b"\x10", 4)  # a bit past the set
    with pytest.raises(MalformedBitfield):
        bitfield([4], 4)


def test_confidence_formula_and_its_inverse():
    assert confidence(0) == 0.0 and confidence(1) == 0.5
    assert confidence(20) >= 1 - 1e-6 > confidence(19)
    assert samples_for(1 - 1e-6) == 20 and samples_for(0.999) == 10 and samples_for(0.0) == 0
    for target in (0.5, 0.9, 0.99, 0.9999):
        assert confidence(samples_for(target)) >= target > confidence(samples_for(target) - 1)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError):
            samples_for(bad)
    with pytest.raises(ValueError):
        confidence(-1)
