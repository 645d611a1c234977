"""Runtime APIs (``state_call``): every method answers Substrate's bytes, writes nothing, and turns bad
parameters into ``RuntimeApiError``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.apis import INHERENT_DATA, RuntimeApiError, encode_inherent_data
from runtime.cairn import CairnRuntime, RuntimeVersion
from runtime.executive import Block, BlockBuilder
from runtime.extrinsic import decode_extrinsic, encode_signed, encode_unsigned
from runtime.hashing import blake2_64
from runtime.pallets.timestamp import MAX_TIMESTAMP_DRIFT_MS
from runtime.pallets.transaction_payment import FeeDetails, RuntimeDispatchInfo, TransactionFeePaid
from runtime.primitives import DISPATCH_ERROR, DispatchClass, DispatchErrors, Era, Header, ModuleError, SignatureScheme
from runtime.scale import BOOL, BYTES, U32, U64, Tuple, Vec, decode_compact
from runtime.keyring import Keypair
from tests.runtime.frame_helpers import events_at
from tests.runtime.helpers import sign

ALICE = Keypair.from_uri("//Alice")
BOB = Keypair.from_uri("//Bob")
NOBODY = Keypair.from_uri("//Nobody")
EXTERNAL = b"\x02"  # TransactionSource::External
VALID_TRANSACTION = Tuple(U64, Vec(BYTES), Vec(BYTES), U64, BOOL)


def call(chain, method: str, params: bytes = b"", at: bytes | None = None) -> bytes:
    at = at or chain.best_hash
    return chain.api.call(method, params, chain.states[at], at)


def _transfer(chain, signer=ALICE, nonce=0, value=10**12, **kw) -> bytes:
    return sign(chain, signer, "Balances", "transfer_keep_alive", nonce=nonce, dest=BOB.public, value=value, **kw)


def _unsigned_signature(chain, signer=ALICE, nonce=0, tip=0, value=10**12) -> bytes:
    """What clients send to the fee APIs: a real extrinsic with an all-zero signature."""
    runtime = chain.runtime
    call_bytes = runtime.call_codec.encode(runtime.call("Balances", "transfer_keep_alive", dest=BOB.public, value=value))
    return encode_signed(call_bytes, signer.public, SignatureScheme.Sr25519, bytes(64), Era(), nonce, tip)


def test_every_method_is_covered_here(chain):
    assert chain.api.methods == sorted([
        "AccountNonceApi_account_nonce", "BlockBuilder_apply_extrinsic", "BlockBuilder_check_inherents",
        "BlockBuilder_finalize_block", "BlockBuilder_inherent_extrinsics", "Core_execute_block", "Core_version",
        "Metadata_metadata", "Metadata_metadata_at_version", "Metadata_metadata_versions",
        "TaggedTransactionQueue_validate_transaction", "TransactionPaymentApi_query_fee_details",
        "TransactionPaymentApi_query_info",
    ])


# --- Core and Metadata ----------------------------------------------------------------------------


def test_core_version_decodes(chain):
    spec_name, impl_name, _, spec_version, _, apis, tx_version, state_version = RuntimeVersion.CODEC.decode(
        call(chain, "Core_version"))
    assert (spec_name, impl_name) == ("cairn", "cairn-node")
    assert spec_version == CairnRuntime.VERSION.spec_version and tx_version == CairnRuntime.VERSION.transaction_version
    assert state_version == 1
    apis = dict(apis)
    for name in ("Core", "Metadata", "BlockBuilder", "TaggedTransactionQueue", "AccountNonceApi",
                 "TransactionPaymentApi"):
        assert blake2_64(name.encode()) in apis, name


def test_metadata_methods(chain):
    out = call(chain, "Metadata_metadata")
    length, offset = decode_compact(out)
    assert length == len(out) - offset
    assert out[offset:] == chain.runtime.metadata and out[offset:offset + 5] == b"meta\x0e"

    at_14 = call(chain, "Metadata_metadata_at_version", U32.encode(14))
    assert at_14 == b"\x01" + out
    assert call(chain, "Metadata_metadata_at_version", U32.encode(15)) == b"\x00"
    assert Vec(U32).decode(call(chain, "Metadata_metadata_versions")) == (14,)


def test_core_execute_block(chain):
    parent = chain.best_hash
    block = chain.produce_block([_transfer(chain)]).block
    assert call(chain, "Core_execute_block", block.encode(), at=parent) == b""
    bad = Block(Header(block.header.parent_hash, 1, bytes(32), block.header.extrinsics_root, block.header.digest),
                block.extrinsics)
    with pytest.raises(RuntimeApiError, match="state root mismatch"):
        call(chain, "Core_execute_block", bad.encode(), at=parent)


# --- nonces and fees ------------------------------------------------------------------------------


def test_account_nonce(chain):
    assert U32.decode(call(chain, "AccountNonceApi_account_nonce", ALICE.public)) == 0
    chain.produce_block([_transfer(chain, nonce=0), _transfer(chain, nonce=1)])
    assert U32.decode(call(chain, "AccountNonceApi_account_nonce", ALICE.public)) == 2
    assert U32.decode(call(chain, "AccountNonceApi_account_nonce", NOBODY.public)) == 0


def test_query_info_with_a_zero_signature_matches_the_fee_charged(chain):
    probe = _unsigned_signature(chain)
    info = RuntimeDispatchInfo.SCALE.decode(call(chain, "TransactionPaymentApi_query_info", probe + U32.encode(len(probe))))
    runtime = chain.runtime
    expected = runtime.dispatch_info(runtime.call("Balances", "transfer_keep_alive", dest=BOB.public, value=10**12))
    assert (info.weight, info.class_) == (expected.weight, DispatchClass.Normal)

    real = _transfer(chain)
    assert len(real) == len(probe)
    outcome = chain.produce_block([real]).outcomes[0]
    assert outcome.error is None
    assert outcome.fee == info.partial_fee > 0
    assert TransactionFeePaid(ALICE.public, info.partial_fee, 0) in events_at(chain)


def test_query_info_scales_with_the_declared_length(chain):
    probe = _unsigned_signature(chain)
    short = RuntimeDispatchInfo.SCALE.decode(call(chain, "TransactionPaymentApi_query_info", probe + U32.encode(100)))
    long = RuntimeDispatchInfo.SCALE.decode(call(chain, "TransactionPaymentApi_query_info", probe + U32.encode(200)))
    assert long.partial_fee - short.partial_fee == 100 * chain.runtime.params["TransactionPayment"].length_fee


def test_query_fee_details_splits_the_fee_and_reports_the_tip(chain):
    tip = 7 * 10**9
    probe = _unsigned_signature(chain, tip=tip)
    params = probe + U32.encode(len(probe))
    details = FeeDetails.SCALE.decode(call(chain, "TransactionPaymentApi_query_fee_details", params))
    info = RuntimeDispatchInfo.SCALE.decode(call(chain, "TransactionPaymentApi_query_info", params))
    fee = details.inclusion_fee
    assert fee.base_fee == chain.runtime.params["TransactionPayment"].base_fee
    assert fee.len_fee == chain.runtime.params["TransactionPayment"].length_fee * len(probe)
    assert fee.adjusted_weight_fee > 0
    assert details.tip == tip and info.partial_fee == fee.total()

    outcome = chain.produce_block([_transfer(chain, tip=tip)]).outcomes[0]
    assert outcome.fee == fee.total() + tip
    assert TransactionFeePaid(ALICE.public, fee.total() + tip, tip) in events_at(chain)


# --- transaction pool validation ------------------------------------------------------------------


def validate(chain, raw: bytes, source: bytes = EXTERNAL) -> bytes:
    return call(chain, "TaggedTransactionQueue_validate_transaction", source + raw + chain.best_hash)


def _valid(out: bytes):
    assert out[0] == 0, out.hex()
    return VALID_TRANSACTION.decode(out[1:])


def _tag(who: Keypair, nonce: int) -> bytes:
    return who.public + nonce.to_bytes(4, "little")


def test_valid_transaction_tags_priority_and_longevity(chain):
    root = chain.best_state.root
    priority, requires, provides, longevity, propagate = _valid(validate(chain, _transfer(chain, tip=10**9)))
    assert priority > 0
    assert requires == () and provides == (_tag(ALICE, 0),)
    assert longevity == 2**64 - 1 and propagate is True
    assert chain.best_state.root == root


def test_future_nonce_requires_the_previous_one(chain):
    _, requires, provides, _, _ = _valid(validate(chain, _transfer(chain, nonce=2)))
    assert requires == (_tag(ALICE, 1),) and provides == (_tag(ALICE, 2),)


def test_mortal_transaction_longevity_counts_from_the_next_block(chain):
    chain.produce_block([])
    chain.produce_block([])
    birth = chain.hashes[2]
    raw = _transfer(chain, era=Era.mortal(64, 2), birth_hash=birth)
    _, _, _, longevity, _ = _valid(validate(chain, raw))
    assert longevity == 63  # born at block 2, dies at 2 + 64, validated for block 3


@pytest.mark.parametrize(("make", "expected"), [
    (lambda chain: _transfer(chain, nonce=0), b"\x01\x00\x03"),  # stale (after the block below)
    (lambda chain: _unsigned_signature(chain, nonce=1), b"\x01\x00\x04"),  # bad proof
    (lambda chain: _transfer(chain, signer=NOBODY), b"\x01\x00\x01"),  # cannot pay
    (lambda chain: _transfer(chain, nonce=1, era=Era(64, 50)), b"\x01\x00\x05"),  # birth block unknown
], ids=["stale", "bad-proof", "payment", "ancient-birth"])
def test_invalid_transactions_encode_substrate_errors(chain, make, expected):
    chain.produce_block([_transfer(chain, nonce=0)])
    assert validate(chain, make(chain)) == expected


def test_unsigned_transactions_have_no_validator(chain):
    runtime = chain.runtime
    transfer = encode_unsigned(runtime.call_codec.encode(
        runtime.call("Balances", "transfer_keep_alive", dest=BOB.public, value=1)))
    assert validate(chain, transfer) == b"\x01\x01\x01"  # UnknownTransaction::NoUnsignedValidator
    timestamp = encode_unsigned(runtime.call_codec.encode(runtime.call("Timestamp", "set", now=5000)))
    assert validate(chain, timestamp) == b"\x01\x00\x09"  # InvalidTransaction::MandatoryValidation


def test_unknown_transaction_source_is_undecodable(chain):
    with pytest.raises(RuntimeApiError):
        validate(chain, _transfer(chain), source=b"\x03")


# --- block building -------------------------------------------------------------------------------


def test_apply_extrinsic_results(chain):
    root = chain.best_state.root
    assert call(chain, "BlockBuilder_apply_extrinsic", _transfer(chain)) == b"\x00\x00"  # Ok(Ok(()))

    failing = _transfer(chain, value=10**25)
    position = [e.__name__ for e in type(chain.runtime.balances).ERRORS].index("InsufficientBalance")
    module_error = DISPATCH_ERROR.encode(DispatchErrors.Module(ModuleError(5, bytes((position, 0, 0, 0)))))
    assert call(chain, "BlockBuilder_apply_extrinsic", failing) == b"\x00\x01" + module_error  # Ok(Err(Module))
    assert module_error == b"\x03\x05" + bytes((position, 0, 0, 0))

    assert call(chain, "BlockBuilder_apply_extrinsic", _transfer(chain, nonce=1)) == b"\x01\x00\x02"  # future
    assert chain.best_state.root == root  # nothing was written
    assert U32.decode(call(chain, "AccountNonceApi_account_nonce", ALICE.public)) == 0


def test_finalize_block_answers_a_header_or_a_runtime_api_error(chain):
    try:
        out = call(chain, "BlockBuilder_finalize_block")
    except RuntimeApiError:
        return
    header = Header.decode(out)
    assert header.parent_hash == chain.best_hash and header.number == 1


def test_inherent_extrinsics_give_the_timestamp_inherent(chain):
    out = call(chain, "BlockBuilder_inherent_extrinsics", encode_inherent_data(123_456))
    count, offset = decode_compact(out)
    assert count == 1
    xt = decode_extrinsic(out[offset:], chain.runtime.call_codec)
    assert not xt.signed and (xt.call.pallet, xt.call.name, xt.call.args) == ("Timestamp", "set", (123_456,))
    builder = BlockBuilder(chain.runtime, chain.best_state, chain.best_hash, 1)
    assert builder.apply_extrinsic(out[offset:]).error is None
    with pytest.raises(RuntimeApiError, match="no timestamp"):
        call(chain, "BlockBuilder_inherent_extrinsics", INHERENT_DATA.encode([]))


def _check_inherents(chain, block: Block, now: int) -> bytes:
    return call(chain, "BlockBuilder_check_inherents", block.encode() + encode_inherent_data(now))


def test_check_inherents_refuses_a_timestamp_too_far_in_the_future(chain):
    block = chain.produce_block([], timestamp_ms=1_000_000).block
    okay = b"\x01\x00\x00"  # okay, not fatal, no errors
    assert _check_inherents(chain, block, 1_000_000) == okay
    assert _check_inherents(chain, block, 1_000_000 - MAX_TIMESTAMP_DRIFT_MS) == okay
    refused = _check_inherents(chain, block, 1_000_000 - MAX_TIMESTAMP_DRIFT_MS - 1)
    assert refused[:2] == b"\x00\x01"  # not okay, fatal
    assert INHERENT_DATA.decode(refused[2:]) == ((b"timstap0", b"too far in the future"),)
    missing = Block(block.header, ())
    assert _check_inherents(chain, missing, 1_000_000)[:2] == b"\x00\x01"


# --- bad calls ------------------------------------------------------------------------------------


def test_unknown_method(chain):
    with pytest.raises(RuntimeApiError, match="unknown runtime API method"):
        call(chain, "Core_initialize_block", b"")


@pytest.mark.parametrize(("method", "params"), [
    ("AccountNonceApi_account_nonce", b"\x01" * 31),
    ("AccountNonceApi_account_nonce", b"\x01" * 33),
    ("Metadata_metadata_at_version", b"\x0e"),
    ("TransactionPaymentApi_query_info", b"\x00\x01\x02"),
    ("TransactionPaymentApi_query_fee_details", b"\x08\x04\x00" + U32.encode(2)),
    ("TaggedTransactionQueue_validate_transaction", b"\x02"),
    ("TaggedTransactionQueue_validate_transaction", b"\x02" + b"\x00" * 40),
    ("BlockBuilder_apply_extrinsic", b"\x10\xff\xff"),
    ("BlockBuilder_inherent_extrinsics", b"\x04timstap0"),
    ("BlockBuilder_check_inherents", b"\x00" * 10),
    ("Core_execute_block", b"\x01\x02\x03"),
])
def test_undecodable_parameters(chain, method, params):
    with pytest.raises(RuntimeApiError):
        call(chain, method, params)


@pytest.fixture(scope="module")
def fuzz_chain():
    from tests.runtime.frame_helpers import new_chain

    chain = new_chain()
    chain.produce_block([], timestamp_ms=2000)
    return chain


@pytest.fixture(scope="module")
def valid_params(fuzz_chain):
    chain = fuzz_chain
    xt = sign(chain, ALICE, "Balances", "transfer_keep_alive", nonce=0, dest=BOB.public, value=10**12)
    block = chain.blocks[chain.best_hash]
    header = Header(chain.best_hash, block.header.number + 1, bytes(32), bytes(32))  # invalid: must fail cleanly
    return {
        "Core_execute_block": Block(header, (xt,)).encode(),
        "AccountNonceApi_account_nonce": ALICE.public,
        "Metadata_metadata_at_version": U32.encode(14),
        "TransactionPaymentApi_query_info": xt + U32.encode(len(xt)),
        "TransactionPaymentApi_query_fee_details": xt + U32.encode(len(xt)),
        "TaggedTransactionQueue_validate_transaction": EXTERNAL + xt + chain.best_hash,
        "BlockBuilder_apply_extrinsic": xt,
        "BlockBuilder_inherent_extrinsics": encode_inherent_data(4000),
        "BlockBuilder_check_inherents": block.encode() + encode_inherent_data(4000),
    }


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_parameters_never_raise_anything_untyped(fuzz_chain, valid_params, data):
    method = data.draw(st.sampled_from(sorted(valid_params)))
    params = bytearray(valid_params[method])
    action = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if action == "flip":
        position = data.draw(st.integers(0, len(params) - 1))
        params[position] = data.draw(st.integers(0, 255))
    elif action == "truncate":
        del params[data.draw(st.integers(0, len(params) - 1)):]
    else:
        params += data.draw(st.binary(min_size=1, max_size=8))
    try:
        out = fuzz_chain.api.call(method, bytes(params), fuzz_chain.best_state, fuzz_chain.best_hash)
    except RuntimeApiError:
        return
    assert isinstance(out, bytes)
