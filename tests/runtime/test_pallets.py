"""System, ValidatorSet, TransactionPayment and Sudo, FRAME-style (dispatch against ``new_test_ext``) and
through real blocks where the behaviour spans blocks (sessions, the fee multiplier)."""

from __future__ import annotations

import dataclasses

import pytest

from runtime.frame.pallet import BadOrigin, Origin
from runtime.hashing import blake2_256
from runtime.pallets.balances import InsufficientBalance, Transfer
from runtime.pallets.sudo import Sudo, KeyChanged, KeyRemoved, RequireSudo, Sudid, SudoAsDone
from runtime.pallets.system import ExtrinsicFailed, Remarked
from runtime.pallets.transaction_payment import ONE
from runtime.pallets.validator_set import (
    ValidatorSet,
    DuplicateValidator,
    EmptyValidatorSet,
    NewSession,
    NewValidatorsQueued,
    TooManyValidators,
)
from runtime.executive import Block, InvalidBlock, execute_block
from runtime.primitives import Digest, DigestItemKind, DispatchErrors, Era, ModuleError, SignatureScheme, Weight
from runtime.scale import U128, Err, Ok, ScaleDecodeError
from runtime.keyring import Keypair
from tests.runtime.frame_helpers import (
    ALICE,
    AUTHORITY,
    BOB,
    CHARLIE,
    DAVE,
    assert_last_event,
    assert_noop,
    at,
    dispatch,
    events_at,
    free,
    new_chain,
    new_test_ext,
)
from tests.runtime.helpers import sign

ROOT = Origin.root()
ALICE_KEY, BOB_KEY = Keypair.from_uri("//Alice"), Keypair.from_uri("//Bob")


def _module_error(ext, pallet: str, error: type) -> object:
    runtime = ext.runtime
    return DispatchErrors.Module(ModuleError(runtime.index_of[pallet], bytes((type(runtime.by_name[pallet]).ERRORS
                                                                               .index(error), 0, 0, 0))))


# --- System ---------------------------------------------------------------------------------------


def test_remark_needs_a_signed_origin_and_deposits_nothing():
    with new_test_ext() as ext:
        dispatch(ext, Origin.signed(ALICE), "System", "remark", remark=b"hello")
        assert ext.events() == []
        assert_noop(ext, BadOrigin, dispatch, ext, ROOT, "System", "remark", remark=b"hello")
        assert_noop(ext, BadOrigin, dispatch, ext, Origin.none(), "System", "remark", remark=b"hello")


def test_remark_with_event_records_the_hash():
    with new_test_ext() as ext:
        dispatch(ext, Origin.signed(BOB), "System", "remark_with_event", remark=b"hello")
        assert_last_event(ext, Remarked(BOB, blake2_256(b"hello")))


def test_set_and_kill_storage_are_root_only():
    with new_test_ext() as ext:
        items = ((b":test:a", b"1"), (b":test:b", b"2"))
        assert_noop(ext, BadOrigin, dispatch, ext, Origin.signed(ALICE), "System", "set_storage", items=items)
        dispatch(ext, ROOT, "System", "set_storage", items=items)
        assert (ext.overlay.get(b":test:a"), ext.overlay.get(b":test:b")) == (b"1", b"2")

        assert_noop(ext, BadOrigin, dispatch, ext, Origin.signed(ALICE), "System", "kill_storage", keys=(b":test:a",))
        dispatch(ext, ROOT, "System", "kill_storage", keys=(b":test:a",))
        assert ext.overlay.get(b":test:a") is None and ext.overlay.get(b":test:b") == b"2"


def test_set_storage_items_are_key_value_pairs_on_the_wire(chain):
    """``Vec<(Vec<u8>, Vec<u8>)>`` as in Substrate: a lone key does not decode."""
    codec = chain.runtime.call_codec
    call = chain.runtime.call("System", "set_storage", items=((b"k", b"v"),))
    assert codec.encode(call) == bytes((0, 4)) + b"\x04" + b"\x04k" + b"\x04v"
    with pytest.raises(ScaleDecodeError):
        codec.decode(bytes((0, 4)) + b"\x04" + b"\x04k")


def test_set_storage_through_sudo_in_a_block():
    chain = new_chain()
    inner = chain.runtime.call("System", "set_storage", items=((b":cairn:test", b"\x2a"),))
    chain.produce_block([sign(chain, ALICE_KEY, "Sudo", "sudo", nonce=0, call=inner)])
    assert Sudid(Ok(())) in events_at(chain)
    assert chain.best_state.get(b":cairn:test") == b"\x2a"


def test_transactions_stay_valid_after_block_hash_count_blocks():
    chain = new_chain(System={"block_hash_count": 4})
    for _ in range(4):
        chain.produce_block([])
    with at(chain) as runtime:
        assert runtime.system.block_hash.get(0) == chain.genesis_hash
    immortal = sign(chain, ALICE_KEY, "System", "remark", nonce=0, remark=b"")
    assert chain.produce_block([immortal]).outcomes[0].error is None
    mortal = sign(chain, ALICE_KEY, "System", "remark", nonce=1, remark=b"", era=Era.mortal(4, 5),
                  birth_hash=chain.hashes[5])
    assert chain.produce_block([mortal]).outcomes[0].error is None


def test_block_hash_keeps_the_recent_blocks():
    chain = new_chain(System={"block_hash_count": 4})
    for _ in range(8):
        chain.produce_block([])
    with at(chain) as runtime:
        kept = {n for n in range(1, 9) if runtime.system.block_hash.contains(n)}
        assert all(runtime.system.block_hash.get(n) == chain.hashes[n] for n in kept)
    assert {5, 6, 7} <= kept and not kept & {1, 2, 3}


def test_genesis_state_has_no_events():
    chain = new_chain()
    assert events_at(chain, chain.genesis_hash) == []
    with at(chain, chain.genesis_hash) as runtime:
        assert runtime.system.event_count.get() == 0


# --- ValidatorSet ---------------------------------------------------------------------------------

V1, V2, V3, V4 = (bytes([0x10 + i]) * 32 for i in range(4))


def test_set_validators_is_root_only_and_checks_the_set():
    with new_test_ext(max_validators=3) as ext:
        assert_noop(ext, BadOrigin, dispatch, ext, Origin.signed(ALICE), "ValidatorSet", "set_validators", validators=(V1,))
        assert_noop(ext, EmptyValidatorSet, dispatch, ext, ROOT, "ValidatorSet", "set_validators", validators=())
        assert_noop(ext, DuplicateValidator, dispatch, ext, ROOT, "ValidatorSet", "set_validators", validators=(V1, V2, V1))
        assert_noop(ext, TooManyValidators, dispatch, ext, ROOT, "ValidatorSet", "set_validators",
                    validators=(V1, V2, V3, V4))
        dispatch(ext, ROOT, "ValidatorSet", "set_validators", validators=(V1, V2, V3))
        assert_last_event(ext, NewValidatorsQueued((V1, V2, V3)))
        validator_set = ext.pallet(ValidatorSet)
        assert validator_set.authorities() == (AUTHORITY,)  # not before the next session
        assert validator_set.queued_validators.get() == (V1, V2, V3)


def test_queued_validators_take_over_at_the_session_boundary():
    chain = new_chain(ValidatorSet={"session_length": 3})
    genesis_set = (Keypair.from_uri("//Alice", SignatureScheme.Ed25519).public,)
    inner = chain.runtime.call("ValidatorSet", "set_validators", validators=(V1, V2))
    chain.produce_block([sign(chain, ALICE_KEY, "Sudo", "sudo", nonce=0, call=inner)])  # block 1
    assert NewValidatorsQueued((V1, V2)) in events_at(chain)

    def authorities():
        with at(chain) as runtime:
            return runtime.validator_set.authorities(), runtime.validator_set.current_session.get()

    assert authorities() == (genesis_set, 0)
    chain.produce_block([])  # block 2: still the old set
    assert authorities() == (genesis_set, 0)
    assert not any(isinstance(e, NewSession) for e in events_at(chain))
    chain.produce_block([])  # block 3 = 1 * session_length: rotate
    assert authorities() == ((V1, V2), 1)
    assert NewSession(1, (V1, V2)) in events_at(chain)
    with at(chain) as runtime:
        assert runtime.validator_set.queued_validators.get() is None
    assert _consensus_logs(chain) == [
        (b"aura", b"\x01" + b"\x08" + V1 + V2),  # AuthoritiesChange(Vec<AuthorityId>)
        (b"FRNK", b"\x01" + b"\x08" + V1 + (1).to_bytes(8, "little") + V2 + (1).to_bytes(8, "little")
         + bytes(4)),  # ScheduledChange { next_authorities: Vec<(AuthorityId, u64 weight)>, delay: 0u32 }
    ]
    for _ in range(3):
        chain.produce_block([])
    assert authorities() == ((V1, V2), 2)  # a new session, same set
    assert NewSession(2, (V1, V2)) in events_at(chain)
    assert _consensus_logs(chain) == []  # nothing changed, nothing to tell light clients


def _consensus_logs(chain) -> list[tuple[bytes, bytes]]:
    """The best block header's ``Consensus`` digest logs, as (engine, data)."""
    logs = chain.blocks[chain.best_hash].header.digest.logs
    return [(item.engine, item.data) for item in logs if isinstance(item, DigestItemKind.Consensus)]


def test_a_block_that_hides_or_forges_a_set_change_log_is_invalid():
    chain = new_chain(ValidatorSet={"session_length": 2})
    inner = chain.runtime.call("ValidatorSet", "set_validators", validators=(V1,))
    chain.produce_block([sign(chain, ALICE_KEY, "Sudo", "sudo", nonce=0, call=inner)])  # block 1
    parent_state = chain.best_state
    enacting = chain.produce_block([]).block  # block 2 enacts the set
    logs = enacting.header.digest.logs
    hidden = tuple(item for item in logs if not isinstance(item, DigestItemKind.Consensus))
    forged = tuple(DigestItemKind.Consensus(item.engine, item.data.replace(V1, V2))
                   if isinstance(item, DigestItemKind.Consensus) else item for item in logs)
    assert execute_block(chain.runtime, parent_state, enacting).root == enacting.header.state_root
    for digest_logs in (hidden, forged):
        tampered = Block(dataclasses.replace(enacting.header, digest=Digest(digest_logs)), enacting.extrinsics)
        with pytest.raises(InvalidBlock, match="digest mismatch"):
            execute_block(chain.runtime, parent_state, tampered)


# --- TransactionPayment ---------------------------------------------------------------------------


def _multiplier(chain) -> int:
    with at(chain) as runtime:
        return runtime.transaction_payment.next_fee_multiplier.get()


def _transfer_fee(chain) -> int:
    runtime = chain.runtime
    call = runtime.call("Balances", "transfer_keep_alive", dest=BOB_KEY.public, value=10**12)
    with at(chain) as rt:
        return rt.transaction_payment.compute_fee(150, runtime.dispatch_info(call), 0)


def test_fee_multiplier_rises_after_a_full_block_and_decays_after_empty_ones():
    chain = new_chain(System={"max_block_ref_time": 2 * 10**9})
    fee_before = _transfer_fee(chain)
    transfers = [sign(chain, ALICE_KEY, "Balances", "transfer_keep_alive", nonce=n, dest=BOB_KEY.public, value=10**10)
                 for n in range(20)]
    result = chain.produce_block(transfers)
    assert isinstance(result.outcomes[-1], Exception)  # the block really was full
    full = _multiplier(chain)
    assert full > ONE
    assert _transfer_fee(chain) > fee_before

    previous = full
    for _ in range(3):
        chain.produce_block([])
        current = _multiplier(chain)
        assert chain.runtime.transaction_payment.config.min_multiplier < current < previous
        previous = current


def test_fee_multiplier_never_falls_below_its_minimum():
    chain = new_chain()
    tp = chain.runtime.transaction_payment
    minimum = tp.config.min_multiplier
    with at(chain) as runtime:
        key = runtime.transaction_payment.next_fee_multiplier.key
    inner = chain.runtime.call("System", "set_storage", items=((key, U128.encode(minimum + 10)),))
    chain.produce_block([sign(chain, ALICE_KEY, "Sudo", "sudo", nonce=0, call=inner)])
    assert _multiplier(chain) == minimum  # one decay step would have gone below it
    chain.produce_block([])
    assert _multiplier(chain) == minimum


def _priority(chain, raw: bytes) -> int:
    out = chain.api.call("TaggedTransactionQueue_validate_transaction", b"\x02" + raw + chain.best_hash,
                         chain.best_state, chain.best_hash)
    assert out[0] == 0, out.hex()
    return int.from_bytes(out[1:9], "little")


def test_tip_raises_pool_priority_and_operational_calls_get_a_boost():
    chain = new_chain()
    priorities = [
        _priority(chain, sign(chain, ALICE_KEY, "Balances", "transfer_keep_alive", nonce=0, tip=tip,
                              dest=BOB_KEY.public, value=10**12))
        for tip in (0, 10**9, 10**10)
    ]
    assert priorities[0] < priorities[1] < priorities[2]
    inner = chain.runtime.call("System", "set_storage", items=())
    operational = sign(chain, ALICE_KEY, "Sudo", "sudo_unchecked_weight", nonce=0, call=inner,
                       weight=Weight(10**8, 0))
    assert _priority(chain, operational) > priorities[0]


# --- Sudo -----------------------------------------------------------------------------------------


def test_set_key_hands_sudo_over():
    with new_test_ext() as ext:
        assert_noop(ext, RequireSudo, dispatch, ext, Origin.signed(BOB), "Sudo", "set_key", new=BOB)
        assert_noop(ext, BadOrigin, dispatch, ext, ROOT, "Sudo", "set_key", new=BOB)
        dispatch(ext, Origin.signed(ALICE), "Sudo", "set_key", new=BOB)
        assert_last_event(ext, KeyChanged(ALICE, BOB))
        assert ext.pallet(Sudo).key.get() == BOB

        inner = ext.runtime.call("Balances", "force_set_balance", who=DAVE, new_free=1000)
        assert_noop(ext, RequireSudo, dispatch, ext, Origin.signed(ALICE), "Sudo", "sudo", call=inner)
        dispatch(ext, Origin.signed(BOB), "Sudo", "sudo", call=inner)
        assert free(ext, DAVE) == 1000


def test_sudo_reports_the_inner_error_and_rolls_the_inner_call_back():
    with new_test_ext() as ext:
        inner = ext.runtime.call("Balances", "force_transfer", source=BOB, dest=CHARLIE, value=10**6)
        dispatch(ext, Origin.signed(ALICE), "Sudo", "sudo", call=inner)
        assert_last_event(ext, Sudid(Err(_module_error(ext, "Balances", InsufficientBalance))))
        assert (free(ext, BOB), free(ext, CHARLIE)) == (200, 300)


def test_sudo_as_dispatches_as_the_given_account():
    with new_test_ext() as ext:
        inner = ext.runtime.call("Balances", "transfer_allow_death", dest=DAVE, value=50)
        assert_noop(ext, RequireSudo, dispatch, ext, Origin.signed(BOB), "Sudo", "sudo_as", who=BOB, call=inner)
        dispatch(ext, Origin.signed(ALICE), "Sudo", "sudo_as", who=BOB, call=inner)
        events = ext.events()
        assert Transfer(BOB, DAVE, 50) in events and events[-1] == SudoAsDone(Ok(()))
        assert (free(ext, ALICE), free(ext, BOB), free(ext, DAVE)) == (100, 150, 50)

        too_much = ext.runtime.call("Balances", "transfer_allow_death", dest=DAVE, value=10**6)
        dispatch(ext, Origin.signed(ALICE), "Sudo", "sudo_as", who=BOB, call=too_much)
        assert_last_event(ext, SudoAsDone(Err(_module_error(ext, "Balances", InsufficientBalance))))
        assert free(ext, BOB) == 150

        root_only = ext.runtime.call("Balances", "force_set_balance", who=BOB, new_free=1)
        dispatch(ext, Origin.signed(ALICE), "Sudo", "sudo_as", who=BOB, call=root_only)
        assert_last_event(ext, SudoAsDone(Err(DispatchErrors.BadOrigin())))  # signed as BOB, not root


def test_remove_key_is_permanent():
    with new_test_ext() as ext:
        assert_noop(ext, RequireSudo, dispatch, ext, Origin.signed(BOB), "Sudo", "remove_key")
        dispatch(ext, Origin.signed(ALICE), "Sudo", "remove_key")
        assert_last_event(ext, KeyRemoved())
        assert ext.pallet(Sudo).key.get() is None
        inner = ext.runtime.call("System", "remark", remark=b"")
        for origin in (Origin.signed(ALICE), Origin.signed(BOB)):
            assert_noop(ext, RequireSudo, dispatch, ext, origin, "Sudo", "sudo", call=inner)
            assert_noop(ext, RequireSudo, dispatch, ext, origin, "Sudo", "set_key", new=ALICE)


def test_sudo_after_remove_key_fails_in_a_block_but_pays():
    chain = new_chain()
    chain.produce_block([sign(chain, ALICE_KEY, "Sudo", "remove_key", nonce=0)])
    assert KeyRemoved() in events_at(chain)
    inner = chain.runtime.call("Balances", "force_set_balance", who=BOB_KEY.public, new_free=1)
    outcome = chain.produce_block([sign(chain, ALICE_KEY, "Sudo", "sudo", nonce=1, call=inner)]).outcomes[0]
    assert outcome.fee > 0
    assert outcome.error == DispatchErrors.Module(ModuleError(chain.runtime.index_of["Sudo"], b"\x00\x00\x00\x00"))
    assert isinstance(events_at(chain)[-1], ExtrinsicFailed)
    with at(chain) as runtime:
        assert runtime.balances.free_balance(BOB_KEY.public) > 1
