"""Bad input is rejected with a clear, typed reason and changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.executive import BlockBuilder
from runtime.extrinsic import (
    InvalidKind,
    InvalidTransaction,
    MalformedExtrinsic,
    TransactionValidityError,
    decode_extrinsic,
)
from runtime.primitives import Era
from runtime.scale import encode_compact
from runtime.keyring import Keypair
from tests.runtime.helpers import sign

ALICE = Keypair.from_uri("//Alice")
BOB = Keypair.from_uri("//Bob")


@pytest.fixture
def builder(chain):
    parent = chain.blocks[chain.best_hash]
    return BlockBuilder(chain.runtime, chain.best_state, parent.hash, parent.header.number + 1)


def _transfer(chain, **kw) -> bytes:
    defaults = dict(nonce=0, dest=BOB.public, value=10**12)
    defaults.update(kw)
    signer = defaults.pop("signer", ALICE)
    return sign(chain, signer, "Balances", "transfer_keep_alive", **defaults)


def _assert_rejected_unchanged(builder, raw, error_type, reason=None):
    before = builder.overlay.changes()
    included = list(builder.extrinsics)
    with pytest.raises(error_type) as info:
        builder.apply_extrinsic(raw)
    if reason is not None:
        assert reason in str(info.value)
    assert builder.overlay.changes() == before
    assert builder.extrinsics == included
    return info.value


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda raw: b"", "truncated compact"),
        (lambda raw: raw[:-1], "length prefix says"),
        (lambda raw: encode_compact(len(raw) - 2 + 1) + raw[2:] + b"\x00", "bytes left after the call"),
        (lambda raw: raw[:2] + b"\x85" + raw[3:], "unsupported extrinsic version"),
        (lambda raw: raw[:3] + b"\x01" + raw[4:], "unsupported signer address kind"),
        (lambda raw: raw[:36] + b"\x07" + raw[37:], "unknown signature scheme byte 7"),
        (lambda raw: raw[:36] + b"\x02" + raw[37:], "ecdsa signatures are not accepted"),
        (lambda raw: b"\x01\x00" + raw[2:], "non-canonical compact"),
        (lambda raw: b"\x13\xff\xff\xff\xff\xff\xff\xff\xff" + raw, "length prefix says"),
    ],
    ids=["empty", "truncated", "trailing", "version", "address-kind", "scheme-byte", "ecdsa", "bad-compact", "huge-length"],
)
def test_malformed_extrinsics(chain, builder, mutate, reason):
    raw = _transfer(chain)
    _assert_rejected_unchanged(builder, mutate(raw), MalformedExtrinsic, reason)


def test_unknown_pallet_and_call_index(chain, builder):
    raw = _transfer(chain)
    call = chain.runtime.call("Balances", "transfer_keep_alive", dest=BOB.public, value=10**12)
    call_at = len(raw) - len(chain.runtime.call_codec.encode(call))
    unknown_pallet = raw[:call_at] + b"\x63" + raw[call_at + 1 :]
    _assert_rejected_unchanged(builder, unknown_pallet, MalformedExtrinsic, "no pallet at index 99")
    unknown_call = raw[:call_at + 1] + b"\x63" + raw[call_at + 2 :]
    _assert_rejected_unchanged(builder, unknown_call, MalformedExtrinsic, "has no call at index 99")


def test_huge_vector_length_inside_a_call_is_rejected_without_allocating(chain, builder):
    call = bytes((0, 0)) + encode_compact(2**29)  # System.remark claiming a 512 MiB remark
    body = b"\x04" + call
    _assert_rejected_unchanged(builder, encode_compact(len(body)) + body, MalformedExtrinsic, "exceeds the limit")


def _nested_sudo(chain, depth: int) -> bytes:
    """``Sudo.sudo`` wrapped around itself ``depth`` times, around ``System.remark(b"")``: 2 bytes a level."""
    runtime = chain.runtime
    call = runtime.call("System", "remark", remark=b"")
    sudo_header = runtime.call_codec.encode(runtime.call("Sudo", "sudo", call=call))[:2]
    return sudo_header * depth + runtime.call_codec.encode(call)


def test_calls_nested_past_the_limit_are_malformed_however_deep(chain, builder):
    """A few hundred 2-byte ``Sudo.sudo`` headers exhausted Python's stack (RecursionError, decoded before any
    signature is checked), which ended the node's admission service and the node with it."""
    from runtime.executive import validate_transactions
    from runtime.frame.construct import MAX_CALL_DEPTH

    deepest = _nested_sudo(chain, MAX_CALL_DEPTH - 1)  # the remark is the last level
    assert chain.runtime.call_codec.decode(deepest).spec.name == "sudo"
    for depth in (MAX_CALL_DEPTH, 600, 5000):
        body = b"\x04" + _nested_sudo(chain, depth)
        raw = encode_compact(len(body)) + body
        _assert_rejected_unchanged(builder, raw, MalformedExtrinsic, f"nested more than {MAX_CALL_DEPTH} deep")
        (result,) = validate_transactions(chain.runtime, chain.best_state, chain.best_hash, [raw])
        assert isinstance(result, MalformedExtrinsic)


def test_bad_signature(chain, builder):
    raw = bytearray(_transfer(chain))
    raw[40] ^= 0xFF  # inside the signature
    error = _assert_rejected_unchanged(builder, bytes(raw), InvalidTransaction)
    assert error.kind is InvalidKind.BadProof


def test_signature_from_another_key(chain, builder):
    raw = sign(chain, BOB, "Balances", "transfer_keep_alive", nonce=0, dest=BOB.public, value=1)
    forged = raw[:4] + ALICE.public + raw[36:]
    assert _assert_rejected_unchanged(builder, forged, InvalidTransaction).kind is InvalidKind.BadProof


def test_a_remembered_signature_never_vouches_for_an_altered_transaction(chain, builder):
    """Once the genuine transfer has verified (so it sits in the runtime's signature cache), every variant
    that changes the signature, the signer or the signed call is still checked for real and rejected."""
    genuine = _transfer(chain)
    builder.apply_extrinsic(genuine)
    assert len(chain.runtime.signatures) >= 1
    fresh = BlockBuilder(chain.runtime, chain.best_state, builder.parent_hash, builder.number)
    signature_at = 37  # length prefix (2), version (1), address (1 + 32), scheme (1)
    for altered in (
        genuine[:signature_at] + bytes((genuine[signature_at] ^ 1,)) + genuine[signature_at + 1:],
        genuine[:4] + BOB.public + genuine[36:],
        genuine[:-1] + bytes((genuine[-1] ^ 1,)),  # the transferred amount
    ):
        assert _assert_rejected_unchanged(fresh, altered, InvalidTransaction).kind is InvalidKind.BadProof
    fresh.apply_extrinsic(genuine)  # the genuine one still applies, from the cache


def test_wrong_nonces(chain, builder):
    assert _assert_rejected_unchanged(builder, _transfer(chain, nonce=1), InvalidTransaction).kind is InvalidKind.Future
    builder.apply_extrinsic(_transfer(chain, nonce=0))
    assert _assert_rejected_unchanged(builder, _transfer(chain, nonce=0), InvalidTransaction).kind is InvalidKind.Stale


def test_cannot_pay_fees(chain, builder):
    nobody = Keypair.from_uri("//Nobody")
    raw = _transfer(chain, signer=nobody)
    assert _assert_rejected_unchanged(builder, raw, InvalidTransaction).kind is InvalidKind.Payment


def test_zero_signer_is_a_bad_signer(chain, builder):
    raw = _transfer(chain)
    zero = raw[:4] + bytes(32) + raw[36:]
    assert _assert_rejected_unchanged(builder, zero, InvalidTransaction).kind is InvalidKind.BadSigner


def test_unknown_birth_block(chain, builder):
    raw = _transfer(chain, era=Era.mortal(64, 40))
    assert _assert_rejected_unchanged(builder, raw, InvalidTransaction).kind is InvalidKind.AncientBirthBlock


def test_unsigned_non_inherent_and_late_inherent(chain, builder):
    call = chain.runtime.call_codec.encode(chain.runtime.call("Balances", "transfer_keep_alive", dest=BOB.public, value=1))
    body = b"\x04" + call
    error = _assert_rejected_unchanged(builder, encode_compact(len(body)) + body, TransactionValidityError)
    assert "unsigned validator" in str(error)


def test_signed_mandatory_call_is_rejected(chain, builder):
    raw = sign(chain, ALICE, "Timestamp", "set", nonce=0, now=10**13)
    assert _assert_rejected_unchanged(builder, raw, InvalidTransaction).kind is InvalidKind.MandatoryValidation


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_untyped(chain_for_fuzz, data):
    try:
        decode_extrinsic(encode_compact(len(data)) + data, chain_for_fuzz.runtime.call_codec)
    except MalformedExtrinsic:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=255))
def test_every_single_byte_corruption_is_rejected_or_harmless(chain_for_fuzz, signed_transfer, position, value):
    raw = bytearray(signed_transfer)
    position %= len(raw)
    raw[position] = value
    parent = chain_for_fuzz.blocks[chain_for_fuzz.best_hash]
    builder = BlockBuilder(chain_for_fuzz.runtime, chain_for_fuzz.best_state, parent.hash, 1)
    try:
        builder.apply_extrinsic(bytes(raw))
    except (MalformedExtrinsic, TransactionValidityError):
        assert builder.extrinsics == []
    else:
        assert bytes(raw) == signed_transfer  # only the untouched extrinsic is valid


@pytest.fixture(scope="module")
def chain_for_fuzz():
    from node.chain_spec import preset
    from devnet.local_chain import LocalChain

    return LocalChain(preset("dev"))


@pytest.fixture(scope="module")
def signed_transfer(chain_for_fuzz) -> bytes:
    return _transfer(chain_for_fuzz)  # sr25519 signatures are randomised: sign once, corrupt copies


def test_batch_validation_matches_one_by_one(chain):
    from runtime.executive import validate_transaction, validate_transactions

    batch = [_transfer(chain), _transfer(chain, nonce=3), b"\x00", _transfer(chain, signer=Keypair.from_uri("//Nobody"))]
    results = validate_transactions(chain.runtime, chain.best_state, chain.best_hash, batch)
    for raw, result in zip(batch, results):
        try:
            expected = validate_transaction(chain.runtime, chain.best_state, chain.best_hash, raw)
        except (MalformedExtrinsic, TransactionValidityError) as exc:
            assert type(result) is type(exc) and str(result) == str(exc)
        else:
            assert result.validity == expected
            decoded = decode_extrinsic(raw, chain.runtime.call_codec)  # what validation decoded, handed on
            assert (result.extrinsic.signer, result.extrinsic.nonce, result.extrinsic.call_bytes) == (
                decoded.signer, decoded.nonce, decoded.call_bytes)
    assert [type(r).__name__ for r in results] == ["Validated", "Validated", "MalformedExtrinsic",
                                                   "InvalidTransaction"]


def test_the_era_read_from_the_header_is_the_one_decoding_finds(chain):
    from runtime.extrinsic import signed_era

    mortal = sign(chain, ALICE, "System", "remark", nonce=0, remark=b"x" * 300, era=Era.mortal(64, 5),
                  birth_hash=chain.genesis_hash)
    for raw in (_transfer(chain), mortal):
        assert signed_era(raw) == decode_extrinsic(raw, chain.runtime.call_codec).era
    assert signed_era(mortal) == Era.mortal(64, 5) and not signed_era(mortal).immortal
    unsigned = b"\x04" + chain.runtime.call_codec.encode(chain.runtime.call("System", "remark", remark=b""))
    assert signed_era(encode_compact(len(unsigned)) + unsigned) is None and signed_era(b"\x01") is None
