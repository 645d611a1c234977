"""Balances, FRAME-style: existential deposit, reaping, keep-alive, reserves, root-only calls.

Most tests dispatch calls against a tiny genesis (``new_test_ext``: ALICE 100, BOB 200, CHARLIE 300, ED 10)
exactly as a block would (each call in its own transactional layer); the last ones go through real signed
extrinsics in real blocks to check what a failed transfer still writes (fee and nonce, nothing else).
"""

from __future__ import annotations


from runtime.executive import BlockBuilder, timestamp_inherent
from runtime.frame.pallet import ArithmeticOverflow, BadOrigin, Origin
from runtime.pallets.balances import (
    Balances,
    BalanceSet,
    BalanceStatus,
    DustLost,
    Endowed,
    ExistentialDeposit,
    Expendability,
    InsufficientBalance,
    ReserveRepatriated,
    Reserved,
    Slashed,
    Transfer,
    Unreserved,
    Withdraw,
)
from runtime.pallets.sudo import RequireSudo, Sudid
from runtime.pallets.system import ExtrinsicFailed, ExtrinsicSuccess, KilledAccount, NewAccount
from runtime.pallets.transaction_payment import TransactionFeePaid
from runtime.primitives import DispatchErrors, ModuleError
from runtime.scale import Ok
from runtime.keyring import Keypair
from tests.runtime.frame_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    ED,
    account,
    assert_issuance_is_sum_of_balances,
    assert_last_event,
    assert_noop,
    at,
    dispatch,
    events_at,
    exists,
    free,
    issuance,
    new_chain,
    new_test_ext,
    reserved,
)
from tests.runtime.helpers import sign

SIGNED_ALICE = Origin.signed(ALICE)


def transfer(ext, who, name, **args):
    dispatch(ext, Origin.signed(who), "Balances", name, **args)


# --- existential deposit --------------------------------------------------------------------------


def test_transfer_creating_an_account_below_the_existential_deposit_fails():
    with new_test_ext() as ext:
        assert_noop(ext, ExistentialDeposit, transfer, ext, ALICE, "transfer_allow_death", dest=DAVE, value=ED - 1)
        assert not exists(ext, DAVE)


def test_transfer_of_exactly_the_existential_deposit_creates_the_account():
    with new_test_ext() as ext:
        transfer(ext, ALICE, "transfer_allow_death", dest=DAVE, value=ED)
        assert ext.events() == [NewAccount(DAVE), Endowed(DAVE, ED), Transfer(ALICE, DAVE, ED)]
        assert free(ext, DAVE) == ED and account(ext, DAVE).providers == 1
        assert free(ext, ALICE) == 100 - ED
        assert issuance(ext) == 600
        assert_issuance_is_sum_of_balances(ext)


def test_transfer_below_the_existential_deposit_to_an_existing_account_is_fine():
    with new_test_ext() as ext:
        transfer(ext, ALICE, "transfer_allow_death", dest=BOB, value=1)
        assert_last_event(ext, Transfer(ALICE, BOB, 1))
        assert (free(ext, ALICE), free(ext, BOB)) == (99, 201)


# --- reaping --------------------------------------------------------------------------------------


def test_transfer_allow_death_leaving_dust_reaps_the_sender_and_burns_the_dust():
    with new_test_ext() as ext:
        transfer(ext, ALICE, "transfer_allow_death", dest=BOB, value=95)
        events = ext.events()
        assert DustLost(ALICE, 5) in events
        assert KilledAccount(ALICE) in events
        assert_last_event(ext, Transfer(ALICE, BOB, 95))
        assert not exists(ext, ALICE)
        assert free(ext, BOB) == 295
        assert issuance(ext) == 600 - 5
        assert_issuance_is_sum_of_balances(ext)


def test_transfer_allow_death_of_everything_reaps_without_dust():
    with new_test_ext() as ext:
        transfer(ext, ALICE, "transfer_allow_death", dest=BOB, value=100)
        events = ext.events()
        assert KilledAccount(ALICE) in events
        assert not any(isinstance(e, DustLost) for e in events)
        assert issuance(ext) == 600 and not exists(ext, ALICE)


def test_transfer_keep_alive_refuses_to_kill_the_sender():
    with new_test_ext() as ext:
        assert_noop(ext, Expendability, transfer, ext, ALICE, "transfer_keep_alive", dest=BOB, value=91)
        transfer(ext, ALICE, "transfer_keep_alive", dest=BOB, value=90)  # leaves exactly the ED
        assert free(ext, ALICE) == ED and exists(ext, ALICE)


def test_transfer_all_keep_alive_leaves_the_existential_deposit():
    with new_test_ext() as ext:
        transfer(ext, ALICE, "transfer_all", dest=DAVE, keep_alive=True)
        assert (free(ext, ALICE), free(ext, DAVE)) == (ED, 100 - ED)
        assert_last_event(ext, Transfer(ALICE, DAVE, 100 - ED))


def test_transfer_all_allow_death_moves_everything_and_reaps():
    with new_test_ext() as ext:
        transfer(ext, ALICE, "transfer_all", dest=DAVE, keep_alive=False)
        assert free(ext, DAVE) == 100 and not exists(ext, ALICE)
        assert KilledAccount(ALICE) in ext.events()
        assert issuance(ext) == 600
        assert_issuance_is_sum_of_balances(ext)


def test_insufficient_balance_changes_nothing():
    with new_test_ext() as ext:
        assert_noop(ext, InsufficientBalance, transfer, ext, ALICE, "transfer_allow_death", dest=BOB, value=101)
        assert_noop(ext, InsufficientBalance, transfer, ext, ALICE, "transfer_keep_alive", dest=ALICE, value=101)
        assert_noop(ext, InsufficientBalance, transfer, ext, DAVE, "transfer_allow_death", dest=BOB, value=1)


# --- root-only calls ------------------------------------------------------------------------------


def test_force_transfer_and_force_set_balance_need_root():
    with new_test_ext() as ext:
        runtime = ext.runtime
        assert_noop(ext, BadOrigin, dispatch, ext, SIGNED_ALICE, "Balances", "force_transfer",
                    source=BOB, dest=ALICE, value=50)
        assert_noop(ext, BadOrigin, dispatch, ext, SIGNED_ALICE, "Balances", "force_set_balance", who=ALICE, new_free=10**6)
        assert_noop(ext, BadOrigin, dispatch, ext, Origin.none(), "Balances", "force_set_balance", who=ALICE, new_free=10**6)

        # only the sudo key may turn a signed origin into root
        inner = runtime.call("Balances", "force_transfer", source=BOB, dest=DAVE, value=50)
        assert_noop(ext, RequireSudo, dispatch, ext, Origin.signed(BOB), "Sudo", "sudo", call=inner)
        dispatch(ext, SIGNED_ALICE, "Sudo", "sudo", call=inner)
        assert_last_event(ext, Sudid(Ok(())))
        assert (free(ext, BOB), free(ext, DAVE)) == (150, 50)
        assert_issuance_is_sum_of_balances(ext)


def test_force_set_balance_moves_the_issuance_and_reaps_below_the_existential_deposit():
    with new_test_ext() as ext:
        dispatch(ext, Origin.root(), "Balances", "force_set_balance", who=DAVE, new_free=1000)
        assert ext.events() == [NewAccount(DAVE), Endowed(DAVE, 1000), BalanceSet(DAVE, 1000)]
        assert issuance(ext) == 1600

        dispatch(ext, Origin.root(), "Balances", "force_set_balance", who=BOB, new_free=ED - 1)
        assert_last_event(ext, BalanceSet(BOB, 0))
        assert KilledAccount(BOB) in ext.events() and not exists(ext, BOB)
        assert issuance(ext) == 1400
        assert_issuance_is_sum_of_balances(ext)


def test_minting_past_u128_is_an_arithmetic_overflow_and_changes_nothing():
    """Every balance is at most the issuance, so refusing an issuance past ``u128`` keeps every balance encodable:
    a root call or a reward that would push it over fails cleanly instead of breaking the block."""
    with new_test_ext() as ext:
        top = 2**128 - 1 - (issuance(ext) - free(ext, DAVE))
        dispatch(ext, Origin.root(), "Balances", "force_set_balance", who=DAVE, new_free=top)
        assert issuance(ext) == 2**128 - 1
        assert_noop(ext, ArithmeticOverflow, dispatch, ext, Origin.root(), "Balances", "force_set_balance",
                    who=BOB, new_free=free(ext, BOB) + 1)
        assert_noop(ext, ArithmeticOverflow, ext.runtime.pallet(Balances).deposit, BOB, 1)
        dispatch(ext, Origin.root(), "Balances", "force_set_balance", who=BOB, new_free=free(ext, BOB) - 1)
        assert issuance(ext) == 2**128 - 2
        assert_issuance_is_sum_of_balances(ext)

def test_force_transfer_as_root_may_reap_the_source():
    with new_test_ext() as ext:
        dispatch(ext, Origin.root(), "Balances", "force_transfer", source=CHARLIE, dest=BOB, value=295)
        assert DustLost(CHARLIE, 5) in ext.events() and not exists(ext, CHARLIE)
        assert free(ext, BOB) == 495
        assert_issuance_is_sum_of_balances(ext)


# --- reserves (the Currency other pallets use) ----------------------------------------------------


def test_reserve_and_unreserve_move_between_free_and_reserved():
    with new_test_ext() as ext:
        balances = ext.pallet(Balances)
        balances.reserve(ALICE, 60)
        assert_last_event(ext, Reserved(ALICE, 60))
        assert (free(ext, ALICE), reserved(ext, ALICE), account(ext, ALICE).consumers) == (40, 60, 1)
        assert_noop(ext, InsufficientBalance, balances.reserve, ALICE, 41)

        assert balances.unreserve(ALICE, 25) == 0
        assert_last_event(ext, Unreserved(ALICE, 25))
        assert account(ext, ALICE).consumers == 1
        assert balances.unreserve(ALICE, 100) == 65  # only 35 was still reserved
        assert_last_event(ext, Unreserved(ALICE, 35))
        assert (free(ext, ALICE), reserved(ext, ALICE), account(ext, ALICE).consumers) == (100, 0, 0)
        assert issuance(ext) == 600
        assert_issuance_is_sum_of_balances(ext)


def test_slash_reserved_burns_from_the_reserve_only():
    with new_test_ext() as ext:
        balances = ext.pallet(Balances)
        balances.reserve(BOB, 50)
        assert balances.slash_reserved(BOB, 80) == 30
        assert_last_event(ext, Slashed(BOB, 50))
        assert (free(ext, BOB), reserved(ext, BOB), account(ext, BOB).consumers) == (150, 0, 0)
        assert issuance(ext) == 550
        assert_issuance_is_sum_of_balances(ext)
        assert balances.slash_reserved(BOB, 10) == 10  # nothing reserved: nothing slashed


def test_slashing_the_whole_reserve_of_an_account_with_dust_reaps_it():
    with new_test_ext() as ext:
        ext.pallet(Balances).reserve(ALICE, 95)
        ext.pallet(Balances).slash_reserved(ALICE, 95)
        events = ext.events()
        assert Slashed(ALICE, 95) in events and DustLost(ALICE, 5) in events and KilledAccount(ALICE) in events
        assert issuance(ext) == 500
        assert_issuance_is_sum_of_balances(ext)


def test_repatriate_reserved_pays_the_destination_free_balance():
    with new_test_ext() as ext:
        balances = ext.pallet(Balances)
        balances.reserve(BOB, 50)
        assert balances.repatriate_reserved(BOB, DAVE, 70) == 20
        assert_last_event(ext, ReserveRepatriated(BOB, DAVE, 50, BalanceStatus.Free))
        assert (free(ext, BOB), reserved(ext, BOB), account(ext, BOB).consumers) == (150, 0, 0)
        assert free(ext, DAVE) == 50
        assert issuance(ext) == 600
        assert_issuance_is_sum_of_balances(ext)


def test_repatriate_reserved_to_a_new_account_needs_the_existential_deposit():
    with new_test_ext() as ext:
        ext.pallet(Balances).reserve(BOB, 50)
        assert_noop(ext, ExistentialDeposit, ext.pallet(Balances).repatriate_reserved, BOB, DAVE, ED - 1)


def test_repatriation_moves_reserve_into_the_destination_free_balance():
    with new_test_ext() as ext:
        ext.pallet(Balances).reserve(ALICE, 100)  # free 0, reserved 100, one consumer
        assert ext.pallet(Balances).repatriate_reserved(ALICE, BOB, 95) == 0
        assert (free(ext, ALICE), reserved(ext, ALICE)) == (0, 5)
        assert exists(ext, ALICE)  # below the ED, but the remaining reserve's consumer keeps it alive
        assert free(ext, BOB) == 200 + 95
        assert_last_event(ext, ReserveRepatriated(ALICE, BOB, 95, BalanceStatus.Free))
        assert_issuance_is_sum_of_balances(ext)


def test_consumers_prevent_reaping():
    with new_test_ext() as ext:
        ext.pallet(Balances).reserve(ALICE, 5)  # a consumer reference: ALICE may not be reaped
        assert_noop(ext, Expendability, transfer, ext, ALICE, "transfer_allow_death", dest=BOB, value=95)
        transfer(ext, ALICE, "transfer_all", dest=BOB, keep_alive=False)  # limited to what keeps ALICE alive
        assert (free(ext, ALICE), reserved(ext, ALICE)) == (ED - 5, 5)
        assert exists(ext, ALICE)
        assert_last_event(ext, Transfer(ALICE, BOB, 90))
        assert_issuance_is_sum_of_balances(ext)


# --- through real blocks --------------------------------------------------------------------------

ALICE_KEY, BOB_KEY = Keypair.from_uri("//Alice"), Keypair.from_uri("//Bob")


def _builder(chain):
    parent = chain.blocks[chain.best_hash]
    builder = BlockBuilder(chain.runtime, chain.best_state, parent.hash, parent.header.number + 1)
    builder.apply_extrinsic(timestamp_inherent(chain.runtime, 2000))
    return builder


def test_failed_transfer_in_a_block_writes_only_the_fee_and_nonce():
    chain = new_chain()
    runtime = chain.runtime
    builder = _builder(chain)
    with at(chain) as rt:
        alice_before = rt.system.get_account(ALICE_KEY.public)
        issuance_before = rt.balances.total_issuance.get()
    before = builder.overlay.changes()

    raw = sign(chain, ALICE_KEY, "Balances", "transfer_allow_death", nonce=0, dest=BOB_KEY.public, value=10**25)
    outcome = builder.apply_extrinsic(raw)

    position = [e.__name__ for e in type(runtime.balances).ERRORS].index("InsufficientBalance")
    assert outcome.error == DispatchErrors.Module(ModuleError(5, bytes((position, 0, 0, 0))))
    after = builder.overlay.changes()
    changed = {k for k in after if before.get(k) != after[k]}
    system = runtime.system
    allowed = {system.account.key(ALICE_KEY.public), runtime.balances.total_issuance.key, system.events.key,
               system.event_count.key, system.block_weight.key, system.all_extrinsics_len.key,
               system.extrinsic_count.key, system.execution_phase.key}
    assert changed <= allowed
    assert system.account.key(BOB_KEY.public) not in changed

    header, state = builder.finalize()
    with runtime.executing(builder.overlay):
        alice = system.get_account(ALICE_KEY.public)
        events = [r.event for r in system.read_events()]
    assert alice.nonce == alice_before.nonce + 1
    assert alice.data.free == alice_before.data.free - outcome.fee
    assert [type(e) for e in events[-3:]] == [Withdraw, TransactionFeePaid, ExtrinsicFailed]
    assert events[-1].dispatch_error == outcome.error
    with runtime.executing(builder.overlay):
        assert runtime.balances.total_issuance.get() == issuance_before - outcome.fee


def test_force_transfer_signed_in_a_block_fails_with_bad_origin_but_sudo_works():
    chain = new_chain()
    force = dict(source=BOB_KEY.public, dest=ALICE_KEY.public, value=10**12)
    raw = sign(chain, ALICE_KEY, "Balances", "force_transfer", nonce=0, **force)
    assert chain.produce_block([raw]).outcomes[0].error == DispatchErrors.BadOrigin()

    inner = chain.runtime.call("Balances", "force_transfer", **force)
    with at(chain) as rt:
        bob_before = rt.balances.free_balance(BOB_KEY.public)
    chain.produce_block([sign(chain, ALICE_KEY, "Sudo", "sudo", nonce=1, call=inner)])
    events = events_at(chain)
    assert Sudid(Ok(())) in events and isinstance(events[-1], ExtrinsicSuccess)
    with at(chain) as rt:
        assert rt.balances.free_balance(BOB_KEY.public) == bob_before - 10**12
