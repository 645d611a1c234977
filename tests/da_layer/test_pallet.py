"""The DataAvailability pallet, FRAME style: a mock runtime of System, Balances and the pallet, real BLS keys,
real KZG cells. Every refused call is an ``assert_noop``: typed error, nothing written."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from da_layer import bls, kzg
from da_layer.attestation import attestation_message, bitfield, registration_message
from da_layer.blobs import USABLE_BYTES_PER_BLOB, pack
from da_layer.custody import columns_kept, custody_columns
from da_layer.kzg import CELLS_TO_RECOVER
from da_layer.pallet import (
    DEFINITION,
    AlreadyAvailable,
    AlreadyLeaving,
    AlreadyRegistered,
    AuditPassed,
    AuditStarted,
    BelowQuorum,
    TooFewColumns,
    BlobAvailable,
    BlobPruned,
    BlobStatus,
    BlobSubmitted,
    BlobTooLarge,
    BlobUnavailable,
    BlsKeyInUse,
    DataAvailability,
    DataAvailabilityHoldReason,
    DeadlinePassed,
    FeeSettled,
    InvalidAggregate,
    InvalidCell,
    InvalidCellProof,
    InvalidCommitment,
    InvalidEndpoint,
    InvalidProofOfPossession,
    InvalidRegistrationSignature,
    MalformedSigners,
    NodeDeregistered,
    NodeRegistered,
    NodeUpdated,
    NoDaNodes,
    NotAudited,
    NotRegistered,
    Slashed,
    StakeReleased,
    StakeTooLow,
    TooManyBlobs,
    TooManyNodes,
    NodeEvicted,
    NodeSet,
    NothingToBond,
    StakeBonded,
    UnknownAudit,
    UnknownBlob,
    ZeroLength,
    blob_id_of,
    node_set_id_of,
    custody_seed_of,
    fee_shares,
)
from runtime.frame.composition import PalletSlot
from runtime.frame.pallet import Origin
from runtime.frame.testing import PARENT_HASH, TestExternalities, assert_has_event, assert_last_event, assert_noop, new_test_ext
from runtime.hashing import blake2_256
from runtime.pallets import balances
from runtime.pallets.balances import Balances, BalancesGenesis, InsufficientBalance
from runtime.pallets.system import System
from runtime.primitives import Digest, Pays
from runtime.weights import READ, US

SUBMITTER = bytes([1]) * 32
NODES = [bytes([i]) * 32 for i in range(2, 7)]  # five accounts; tests register four unless they need the fifth
POOR = bytes([9]) * 32
SECRETS = [bls.secret_from_seed(bytes([0x40 + i]) * 32) for i in range(len(NODES))]
PUBLICS = [bls.public_key(s) for s in SECRETS]
STAKE = 100
PARAMS = {"min_stake": 50, "fee_per_byte": 1, "max_blobs_per_block": 2, "attestation_deadline": 5, "custody_replication": 2,
          "max_nodes": 4, "max_endpoint_length": 32, "retention_period": 20, "audit_period": 4, "audits_per_period": 2,
          "audit_deadline": 3, "slash_perbill": 100_000_000, "attester_share_perbill": 700_000_000}
PARAMS_SHARE = PARAMS["attester_share_perbill"]
GENESIS_HASH = PARENT_HASH  # the mock's block 1 has PARENT_HASH as its parent


def new_ext(**changes: int) -> TestExternalities:
    return new_test_ext(
        PalletSlot(5, balances.DEFINITION, lambda r: {
            "accounts": r.pallet(System), "hold_reasons": r.hold_reasons, "freeze_reasons": r.freeze_reasons}),
        PalletSlot(30, DEFINITION, lambda r: {"currency": r.pallet(Balances), "chain": r.pallet(System)}),
        params={"Balances": {"existential_deposit": 1}, "DataAvailability": {**PARAMS, **changes}},
        genesis={"Balances": BalancesGenesis(tuple((who, 10**6) for who in [SUBMITTER, *NODES]) + ((POOR, 10),))},
    )


@pytest.fixture(scope="module")
def blob() -> tuple[bytes, bytes, list[bytes], list[bytes]]:
    """(blob, commitment, cells, proofs) of one real blob."""
    data = pack(random.Random(11).randbytes(5000))[0]
    return data, kzg.commitment(data), *kzg.cells_and_proofs(data)


def da(ext: TestExternalities) -> DataAvailability:
    return ext.pallet(DataAvailability)


def registration_signature(i: int, account: bytes | None = None, genesis: bytes = GENESIS_HASH) -> bytes:
    """Key ``i``'s signature binding it to ``account`` (by default ``NODES[i]``, its own) on chain ``genesis``."""
    return bls.sign(SECRETS[i], registration_message(genesis, NODES[i] if account is None else account, PUBLICS[i]))


def register(ext: TestExternalities, count: int = 4, stakes: tuple[int, ...] = ()) -> None:
    for i in range(count):
        ext.dispatch(Origin.signed(NODES[i]), "DataAvailability", "register", bls_public=PUBLICS[i],
                     proof_of_possession=bls.pop_prove(SECRETS[i]), registration_signature=registration_signature(i),
                     endpoint=f"http://da-{i}".encode(), stake=stakes[i] if i < len(stakes) else STAKE)


def submit(ext: TestExternalities, commitment: bytes, length: int = 5000) -> bytes:
    ext.dispatch(Origin.signed(SUBMITTER), "DataAvailability", "submit_blob", commitment=commitment, length=length,
                 namespace=7)
    return ext.events()[-1].blob_id


def aggregate_of(blob_id: bytes, commitment: bytes, indices: list[int], genesis: bytes = GENESIS_HASH) -> bytes:
    message = attestation_message(genesis, blob_id, commitment)
    return bls.aggregate([bls.sign(SECRETS[i], message) for i in indices])


def attest(ext: TestExternalities, blob_id: bytes, signers: bytes, aggregate: bytes) -> None:
    ext.dispatch(Origin.signed(SUBMITTER), "DataAvailability", "attest", blob_id=blob_id, signers=signers,
                 aggregate=aggregate)


def run_to_block(ext: TestExternalities, n: int) -> None:
    """Finish the current block and initialize blocks up to ``n``, running the pallet's ``on_initialize``."""
    system = ext.pallet(System)
    while system.number.get() < n:
        number = system.number.get() + 1
        system.finalize()
        system.initialize(number, blake2_256(number.to_bytes(4, "little")), Digest())
        da(ext).on_initialize(number)


def node_set_of(ext: TestExternalities, blob_id: bytes) -> NodeSet:
    return da(ext).node_sets.get(da(ext).blobs.get(blob_id).node_set_id)


def held(ext: TestExternalities, who: bytes) -> int:
    return ext.pallet(Balances).balance_on_hold(DataAvailabilityHoldReason.NodeStake, who)


# --- registration -------------------------------------------------------------------------------------


def test_register_holds_stake_and_lists_the_node():
    with new_ext() as ext:
        register(ext, 1)
        assert_last_event(ext, NodeRegistered(NODES[0], PUBLICS[0], b"http://da-0", STAKE))
        node = da(ext).nodes.get(NODES[0])
        assert (node.bls_public, node.stake, node.registered_at) == (PUBLICS[0], STAKE, 1)
        assert da(ext).node_set.get() == (NODES[0],)
        assert held(ext, NODES[0]) == STAKE


def registration(i: int, **changes: object) -> dict:
    return {"bls_public": PUBLICS[i], "proof_of_possession": bls.pop_prove(SECRETS[i]),
            "registration_signature": registration_signature(i), "endpoint": b"http://x", "stake": STAKE, **changes}


@pytest.mark.parametrize("who, args, error", [
    (NODES[1], registration(1, proof_of_possession=bls.pop_prove(SECRETS[2])), InvalidProofOfPossession),
    (NODES[1], registration(1, proof_of_possession=bls.sign(SECRETS[1], PUBLICS[1])), InvalidProofOfPossession),
    (NODES[1], registration(1, registration_signature=registration_signature(1, NODES[2])),
     InvalidRegistrationSignature),
    (NODES[1], registration(1, registration_signature=registration_signature(1, genesis=bytes(32))),
     InvalidRegistrationSignature),
    (NODES[1], registration(1, registration_signature=bls.pop_prove(SECRETS[1])), InvalidRegistrationSignature),
    (NODES[1], registration(1, registration_signature=bls.sign(SECRETS[2], registration_message(GENESIS_HASH, NODES[1],
                                                                                               PUBLICS[1]))),
     InvalidRegistrationSignature),
    (NODES[1], registration(1, stake=49), StakeTooLow),
    (NODES[1], registration(1, stake=10**7), InsufficientBalance),  # more than the account has
    (NODES[1], registration(1, endpoint=b""), InvalidEndpoint),
    (NODES[1], registration(1, endpoint=b"x" * 33), InvalidEndpoint),
    (NODES[1], registration(1, endpoint=b"\xff\xfe"), InvalidEndpoint),
    (NODES[1], registration(1, endpoint=b"http://a b"), InvalidEndpoint),
    (NODES[1], registration(0), BlsKeyInUse),  # node 0's key, with its valid proof
    (NODES[0], registration(1), AlreadyRegistered),
], ids=["pop-of-other-key", "signature-as-pop", "signed-for-other-account", "signed-for-other-chain",
        "pop-as-registration-signature", "registration-signed-by-other-key", "low-stake", "unfunded-stake",
        "empty-endpoint", "long-endpoint", "non-utf8-endpoint", "endpoint-with-space",
        "key-in-use", "duplicate-account"])
def test_register_refusals_change_nothing(who, args, error):
    """And each says what it used: a refusal before reading the node set (of one member here) read no member."""
    with new_ext() as ext:
        register(ext, 1)
        assert_noop(ext, error, ext.dispatch, Origin.signed(who), "DataAvailability", "register", **args)
        with pytest.raises(error) as refused:
            ext.dispatch(Origin.signed(who), "DataAvailability", "register", **args)
        members_read = 0 if error in (AlreadyRegistered, StakeTooLow, InvalidEndpoint) else 1
        assert refused.value.actual_weight == da(ext).config.weights.register(members_read)


def test_register_refuses_past_max_nodes_unless_it_outstakes_the_lowest_by_the_margin():
    with new_ext() as ext:
        register(ext, 4, stakes=(STAKE, 80, 80, STAKE))
        for stake in (80, 88):  # 88 = 80 + 10 %: not above the margin
            assert_noop(ext, TooManyNodes, ext.dispatch, Origin.signed(NODES[4]), "DataAvailability", "register",
                        **registration(4, stake=stake))


def test_a_newcomer_to_a_full_node_set_evicts_its_lowest_stake_which_keeps_its_custody_until_released(blob):
    """Minimum-stake nodes cannot fill the node set for good: a newcomer staking more than the margin above
    the lowest stake takes that node's place (of two equal, the later to join). The evicted node leaves as if
    it had deregistered: out of new blobs' node sets, still answering for the blobs that name it, its stake
    released when they are pruned."""
    with new_ext() as ext:
        register(ext, 4, stakes=(STAKE, 80, 80, STAKE))
        older = submit(ext, blob[1])
        ext.dispatch(Origin.signed(NODES[4]), "DataAvailability", "register", **registration(4, stake=89))
        unbonds_at = 1 + PARAMS["retention_period"]
        assert_has_event(ext, NodeEvicted(NODES[2], NODES[4], unbonds_at))
        assert_last_event(ext, NodeRegistered(NODES[4], PUBLICS[4], b"http://x", 89))
        assert da(ext).node_set.get() == (NODES[0], NODES[1], NODES[3], NODES[4])
        assert da(ext).unbonding.get(unbonds_at) == (NODES[2],)
        assert da(ext).nodes.get(NODES[2]).stake == held(ext, NODES[2]) == 80  # slashable while older is kept
        assert NODES[2] in node_set_of(ext, older).members
        assert NODES[2] not in node_set_of(ext, submit(ext, blob[1])).members
        assert_noop(ext, AlreadyLeaving, ext.dispatch, Origin.signed(NODES[2]), "DataAvailability", "deregister")
        run_to_block(ext, unbonds_at)
        assert_has_event(ext, StakeReleased(NODES[2], 80))
        assert not da(ext).nodes.contains(NODES[2]) and held(ext, NODES[2]) == 0


def test_a_registration_copied_from_another_node_cannot_take_its_key():
    with new_ext() as ext:
        copied = registration(0)  # what NODES[0] broadcasts in its register extrinsic, seen by anyone in the pool
        assert_noop(ext, InvalidRegistrationSignature, ext.dispatch, Origin.signed(NODES[1]), "DataAvailability",
                    "register", **copied)
        ext.dispatch(Origin.signed(NODES[0]), "DataAvailability", "register", **copied)  # the key's holder still can
        assert da(ext).node_of_key.get(PUBLICS[0]) == NODES[0]
        assert da(ext).nodes.get(NODES[0]).bls_public == PUBLICS[0]


@pytest.mark.parametrize("changes, error", [
    ({"proof_of_possession": bls.pop_prove(SECRETS[1])}, InvalidProofOfPossession),
    ({"registration_signature": bls.pop_prove(SECRETS[4])}, InvalidRegistrationSignature),
    ({"bls_public": PUBLICS[0]}, BlsKeyInUse),
    ({"endpoint": b"ftp://x"}, InvalidEndpoint),
    ({"stake": 10**7}, InsufficientBalance),
], ids=["bad-pop", "bad-registration", "key-in-use", "bad-endpoint", "unfunded"])
def test_a_refused_registration_into_a_full_node_set_evicts_nobody(changes, error):
    with new_ext() as ext:
        register(ext, 4, stakes=(STAKE, 80, 80, STAKE))
        assert_noop(ext, error, ext.dispatch, Origin.signed(NODES[4]), "DataAvailability", "register",
                    **registration(4, **({"stake": STAKE} | changes)))


def test_an_evicted_node_cannot_register_again_before_its_stake_is_released(blob):
    with new_ext() as ext:
        register(ext, 4, stakes=(STAKE, 80, 80, STAKE))
        ext.dispatch(Origin.signed(NODES[4]), "DataAvailability", "register", **registration(4, stake=STAKE))
        assert_noop(ext, AlreadyRegistered, ext.dispatch, Origin.signed(NODES[2]), "DataAvailability", "register",
                    **registration(2, stake=2 * STAKE))


def test_bond_extra_raises_the_stake_that_quorums_custody_and_eviction_weigh(blob):
    with new_ext() as ext:
        register(ext, 4, stakes=(STAKE, 80, 80, STAKE))
        ext.dispatch(Origin.signed(NODES[2]), "DataAvailability", "bond_extra", amount=40)
        assert_last_event(ext, StakeBonded(NODES[2], 40, 120))
        assert da(ext).nodes.get(NODES[2]).stake == held(ext, NODES[2]) == 120
        assert node_set_of(ext, submit(ext, blob[1])).stakes == (STAKE, 80, 120, STAKE)
        ext.dispatch(Origin.signed(NODES[4]), "DataAvailability", "register", **registration(4, stake=STAKE))
        assert_has_event(ext, NodeEvicted(NODES[1], NODES[4], 1 + PARAMS["retention_period"]))  # not NODES[2]


@pytest.mark.parametrize("who, amount, error", [
    (NODES[4], 10, NotRegistered),
    (NODES[3], 10, AlreadyLeaving),
    (NODES[0], 0, NothingToBond),
    (NODES[0], 10**7, InsufficientBalance),
], ids=["not-a-node", "leaving", "zero", "unfunded"])
def test_bond_extra_refusals_change_nothing(who, amount, error):
    with new_ext() as ext:
        register(ext)
        ext.dispatch(Origin.signed(NODES[3]), "DataAvailability", "deregister")
        assert_noop(ext, error, ext.dispatch, Origin.signed(who), "DataAvailability", "bond_extra", amount=amount)


def test_deregistered_node_leaves_new_blobs_and_gets_its_stake_after_retention(blob):
    with new_ext() as ext:
        register(ext)
        old_blob = submit(ext, blob[1])
        ext.dispatch(Origin.signed(NODES[1]), "DataAvailability", "deregister")
        assert_last_event(ext, NodeDeregistered(NODES[1], 21))
        assert da(ext).node_set.get() == (NODES[0], NODES[2], NODES[3])
        assert node_set_of(ext, old_blob).members == tuple(NODES[:4])  # still named where it was
        attest(ext, old_blob, bitfield([1, 2, 3], 4), aggregate_of(old_blob, blob[1], [1, 2, 3]))  # and still counts
        assert_last_event(ext, BlobAvailable(old_blob))
        new_blob = submit(ext, blob[1])
        assert node_set_of(ext, new_blob).members == (NODES[0], NODES[2], NODES[3])
        assert_noop(ext, AlreadyLeaving, ext.dispatch, Origin.signed(NODES[1]), "DataAvailability", "deregister")
        assert_noop(ext, NotRegistered, ext.dispatch, Origin.signed(NODES[4]), "DataAvailability", "deregister")
        assert_noop(ext, AlreadyRegistered, ext.dispatch, Origin.signed(NODES[1]), "DataAvailability", "register",
                    **registration(4))
        run_to_block(ext, 20)
        record = da(ext).nodes.get(NODES[1])
        assert held(ext, NODES[1]) == record.stake < STAKE  # slashed meanwhile: it attested and answers no audits
        assert record.audits_missed > 0
        run_to_block(ext, 21)
        assert_has_event(ext, StakeReleased(NODES[1], record.stake))
        assert held(ext, NODES[1]) == 0 and da(ext).nodes.get(NODES[1]) is None
        assert da(ext).node_of_key.get(PUBLICS[1]) is None
        assert da(ext).past_records.get(NODES[1]) == record.history()
        ext.dispatch(Origin.signed(NODES[1]), "DataAvailability", "register", **registration(1))  # may come back
        again = da(ext).nodes.get(NODES[1])  # with the misses it left with: leaving does not wipe them
        assert again.history() == record.history() and da(ext).past_records.get(NODES[1]) is None


def test_a_node_moves_its_endpoint_also_while_leaving():
    with new_ext() as ext:
        register(ext, 2)
        ext.dispatch(Origin.signed(NODES[1]), "DataAvailability", "update_endpoint", endpoint=b"http://moved:9")
        assert_last_event(ext, NodeUpdated(NODES[1], b"http://moved:9"))
        assert da(ext).nodes.get(NODES[1]).endpoint == b"http://moved:9"
        assert da(ext).nodes.get(NODES[0]).endpoint == b"http://da-0"
        ext.dispatch(Origin.signed(NODES[1]), "DataAvailability", "deregister")
        ext.dispatch(Origin.signed(NODES[1]), "DataAvailability", "update_endpoint", endpoint=b"http://again")
        assert da(ext).nodes.get(NODES[1]).endpoint == b"http://again"  # still audited until its stake goes


@pytest.mark.parametrize("who, endpoint, error", [
    (NODES[4], b"http://x", NotRegistered),
    (NODES[0], b"", InvalidEndpoint),
    (NODES[0], b"x" * 33, InvalidEndpoint),
    (NODES[0], b"\xff\xfe", InvalidEndpoint),
], ids=["unregistered", "empty", "long", "non-utf8"])
def test_update_endpoint_refusals_change_nothing(who, endpoint, error):
    with new_ext() as ext:
        register(ext, 1)
        assert_noop(ext, error, ext.dispatch, Origin.signed(who), "DataAvailability", "update_endpoint",
                    endpoint=endpoint)


# --- submission ---------------------------------------------------------------------------------------


def test_submit_records_the_blob_with_its_node_set_and_seed(blob):
    _, commitment, _, _ = blob
    with new_ext() as ext:
        register(ext)
        before = ext.pallet(Balances).free_balance(SUBMITTER)
        blob_id = submit(ext, commitment)
        assert blob_id == blob_id_of(SUBMITTER, commitment, 1, 0)
        assert_last_event(ext, BlobSubmitted(blob_id, SUBMITTER, commitment, 5000, 7))
        record = da(ext).blobs.get(blob_id)
        assert record.status is BlobStatus.Pending and node_set_of(ext, blob_id).members == tuple(NODES[:4])
        assert record.custody_seed == custody_seed_of(GENESIS_HASH, blob_id)
        assert ext.pallet(Balances).free_balance(SUBMITTER) == before - 5000
        assert submit(ext, commitment) != blob_id  # the same commitment again is another blob


def test_blobs_submitted_under_one_node_set_share_one_record_of_it_until_the_last_is_pruned(blob):
    """A node set with its stakes is kept once (6 KB at 128 nodes) for every blob naming it; a registration
    or a slash between two submissions makes another; pruning the last blob naming one takes it away."""
    commitment = blob[1]
    with new_ext() as ext:
        register(ext, 3)
        first, second = submit(ext, commitment), submit(ext, commitment)
        shared = da(ext).blobs.get(first).node_set_id
        assert da(ext).blobs.get(second).node_set_id == shared
        assert shared == node_set_id_of(NodeSet(tuple(NODES[:3]), (STAKE,) * 3, PARAMS["custody_replication"]))
        assert da(ext).node_set_uses.get(shared) == 2
        run_to_block(ext, 2)
        ext.dispatch(Origin.signed(NODES[3]), "DataAvailability", "register", **registration(3))
        third = submit(ext, commitment)
        other = da(ext).blobs.get(third).node_set_id
        assert other != shared and node_set_of(ext, third).members == tuple(NODES[:4])
        run_to_block(ext, 1 + PARAMS["retention_period"])
        assert da(ext).node_sets.get(shared) is None and da(ext).node_set_uses.get(shared) == 0
        assert da(ext).node_sets.get(other) is not None and da(ext).node_set_uses.get(other) == 1
        run_to_block(ext, 2 + PARAMS["retention_period"])
        assert da(ext).node_sets.get(other) is None and list(da(ext).node_set_uses.items()) == []


def test_a_node_set_shared_across_blocks_outlives_the_first_blob_pruned(blob):
    """The count, not the first pruning, decides: the second blob naming the set is still attested and audited
    after the first is gone. (Audits here slash nothing: unanswered ones would change the stakes.)"""
    commitment = blob[1]
    with new_ext(slash_perbill=0) as ext:
        first = available_blob(ext, commitment, [0, 1, 2])
        run_to_block(ext, 9)
        second = submit(ext, commitment)
        shared = da(ext).blobs.get(second).node_set_id
        attest(ext, second, bitfield([0, 1, 2], 4), aggregate_of(second, commitment, [0, 1, 2]))
        assert da(ext).blobs.get(first).node_set_id == shared and da(ext).node_set_uses.get(shared) == 2
        run_to_block(ext, 1 + PARAMS["retention_period"])
        assert da(ext).blobs.get(first) is None and da(ext).node_set_uses.get(shared) == 1
        run_to_block(ext, 24)
        assert [audit.blob_id for audit in started_audits(ext)] == [second, second]


def test_a_bond_or_a_slash_between_two_submissions_gives_the_second_blob_its_own_node_set(blob):
    commitment = blob[1]
    with new_ext() as ext:
        register(ext)
        first = submit(ext, commitment)
        ext.dispatch(Origin.signed(NODES[0]), "DataAvailability", "bond_extra", amount=10)
        second = submit(ext, commitment)
        run_to_block(ext, 2)  # (two blobs a block)
        da(ext).nodes.mutate(NODES[1], lambda node: replace(node, stake=90))  # as a slash of 10 % leaves it
        third = submit(ext, commitment)
        assert [node_set_of(ext, b).stakes for b in (first, second, third)] == [
            (STAKE,) * 4, (STAKE + 10, STAKE, STAKE, STAKE), (STAKE + 10, 90, STAKE, STAKE)]
        assert len({da(ext).blobs.get(b).node_set_id for b in (first, second, third)}) == 3


def test_a_stake_bonded_after_a_blob_was_dealt_does_not_weigh_in_its_quorum(blob):
    """Custody was dealt by the stakes at submission; a node that bonds since must not carry a quorum on the
    columns its old stake was dealt. It weighs its stake then (a slash below that would lower it)."""
    commitment = blob[1]
    with new_ext() as ext:
        register(ext)
        blob_id = submit(ext, commitment)
        ext.dispatch(Origin.signed(NODES[0]), "DataAvailability", "bond_extra", amount=10 * STAKE)
        assert_noop(ext, BelowQuorum, attest, ext, blob_id, bitfield([0, 1], 4),
                    aggregate_of(blob_id, commitment, [0, 1]))
        later = submit(ext, commitment)  # dealt by the new stake, which counts there
        attest(ext, later, bitfield([0, 1], 4), aggregate_of(later, commitment, [0, 1]))
        assert_has_event(ext, BlobAvailable(later))


@pytest.mark.parametrize("who, length, error", [
    (SUBMITTER, 0, ZeroLength),
    (SUBMITTER, USABLE_BYTES_PER_BLOB + 1, BlobTooLarge),
    (POOR, 5000, InsufficientBalance),
])
def test_submit_refusals_change_nothing(blob, who, length, error):
    with new_ext() as ext:
        register(ext)
        assert_noop(ext, error, ext.dispatch, Origin.signed(who), "DataAvailability", "submit_blob",
                    commitment=blob[1], length=length, namespace=0)


@pytest.mark.parametrize("commitment", [
    bytes([0x80]) + bytes(46) + b"\x04",  # on the curve, outside the prime-order subgroup
    bytes(48),                            # not compressed
    b"\xff" * 48,                         # not a field element
], ids=["off-subgroup", "uncompressed", "garbage"])
def test_submit_refuses_a_commitment_that_is_no_subgroup_point_and_charges_nothing(commitment):
    with new_ext() as ext:
        register(ext)
        assert_noop(ext, InvalidCommitment, submit, ext, commitment)


def test_submit_takes_the_zero_blobs_commitment_the_identity():
    with new_ext() as ext:
        register(ext)
        identity = kzg.commitment(bytes(kzg.BYTES_PER_BLOB))
        assert identity == bytes([0xC0]) + bytes(47)
        assert da(ext).blobs.get(submit(ext, identity)).commitment == identity


def test_submit_needs_nodes_and_room_in_the_block(blob):
    with new_ext() as ext:
        assert_noop(ext, NoDaNodes, submit, ext, blob[1])
        register(ext)
        submit(ext, blob[1])
        submit(ext, blob[1])
        assert_noop(ext, TooManyBlobs, submit, ext, blob[1])


# --- attestation --------------------------------------------------------------------------------------


def test_quorum_of_valid_attestations_makes_the_blob_available(blob):
    commitment = blob[1]
    with new_ext() as ext:
        register(ext)
        blob_id = submit(ext, commitment)
        attest(ext, blob_id, bitfield([0, 1, 3], 4), aggregate_of(blob_id, commitment, [0, 1, 3]))
        assert_last_event(ext, BlobAvailable(blob_id))
        record = da(ext).blobs.get(blob_id)
        assert record.status is BlobStatus.Available and record.signers == bitfield([0, 1, 3], 4)
        assert_noop(ext, AlreadyAvailable, attest, ext, blob_id, bitfield([0, 1, 2, 3], 4),
                    aggregate_of(blob_id, commitment, [0, 1, 2, 3]))


def test_bad_attestations_are_refused(blob):
    commitment = blob[1]
    with new_ext() as ext:
        register(ext)
        blob_id = submit(ext, commitment)
        other_id = submit(ext, commitment)
        three = bitfield([0, 1, 2], 4)
        message = attestation_message(GENESIS_HASH, blob_id, commitment)
        sigs = [bls.sign(s, message) for s in SECRETS[:3]]
        cases = [
            (UnknownBlob, bytes(32), three, bls.aggregate(sigs)),
            (BelowQuorum, blob_id, bitfield([0, 1], 4), aggregate_of(blob_id, commitment, [0, 1])),  # exactly 1/2
            (BelowQuorum, blob_id, bitfield([], 4), bls.aggregate(sigs)),
            (MalformedSigners, blob_id, b"\x07\x00", bls.aggregate(sigs)),
            (MalformedSigners, blob_id, b"\x17", bls.aggregate(sigs)),
            (InvalidAggregate, blob_id, bitfield([0, 1, 3], 4), bls.aggregate(sigs)),  # forged: wrong signers
            (InvalidAggregate, blob_id, three, bls.aggregate(sigs[:2] + sigs[:1])),  # signer 0 twice, 2 missing
            (InvalidAggregate, blob_id, three, bls.aggregate(sigs + sigs[:1])),  # signer 0 twice
            (InvalidAggregate, blob_id, three, aggregate_of(other_id, commitment, [0, 1, 2])),  # wrong message
            (InvalidAggregate, blob_id, three, aggregate_of(blob_id, commitment, [0, 1, 2], genesis=bytes(32))),
            (InvalidAggregate, blob_id, three, bytes([0xC0]) + bytes(95)),
        ]
        for error, target, signers, aggregate in cases:
            assert_noop(ext, error, attest, ext, target, signers, aggregate)


def test_a_stake_quorum_keeping_too_few_columns_to_rebuild_the_blob_is_refused(blob):
    """Custody is dealt by the stakes at submission, the quorum counted at today's: one node (~32 of 128
    columns at one draw a column) whose peers were slashed since holds more than 2/3 of the stake now, and
    must not make a blob available that what its signers keep could not rebuild."""
    commitment = blob[1]
    with new_ext(custody_replication=1) as ext:
        register(ext)
        blob_id = submit(ext, commitment)
        record, node_set = da(ext).blobs.get(blob_id), node_set_of(ext, blob_id)
        assert node_set.stakes == (STAKE,) * 4
        for who in NODES[1:4]:
            da(ext).nodes.mutate(who, lambda node: replace(node, stake=STAKE // 10))
        assert columns_kept([0], node_set.stakes, record.custody_seed, 1) < CELLS_TO_RECOVER
        assert_noop(ext, TooFewColumns, attest, ext, blob_id, bitfield([0], 4), aggregate_of(blob_id, commitment, [0]))
        assert columns_kept([0, 1, 2], node_set.stakes, record.custody_seed, 1) >= CELLS_TO_RECOVER
        attest(ext, blob_id, bitfield([0, 1, 2], 4), aggregate_of(blob_id, commitment, [0, 1, 2]))
        assert_last_event(ext, BlobAvailable(blob_id))


def test_pending_blob_becomes_unavailable_at_its_deadline(blob):
    commitment = blob[1]
    with new_ext() as ext:
        register(ext)
        blob_id = submit(ext, commitment)
        run_to_block(ext, 5)
        assert da(ext).blobs.get(blob_id).status is BlobStatus.Pending
        run_to_block(ext, 6)
        assert_has_event(ext, BlobUnavailable(blob_id))
        assert da(ext).blobs.get(blob_id).status is BlobStatus.Unavailable
        assert_noop(ext, DeadlinePassed, attest, ext, blob_id, bitfield([0, 1, 2, 3], 4),
                    aggregate_of(blob_id, commitment, [0, 1, 2, 3]))


def test_weights_charge_the_configured_node_set_and_custody_draws():
    """Reading the node set is a read per member it can have, dealing a blob's custody (attest, an audit started)
    a draw of a node by stake per column and replica: the weights charge the chain's configuration, not the
    dev preset's."""
    narrow = da(new_ext()).config.weights
    wide = da(new_ext(custody_replication=16, max_nodes=8)).config.weights
    assert (narrow.max_nodes, narrow.custody_replication, wide.max_nodes, wide.custody_replication) == (4, 2, 8, 16)
    draws = kzg.CELLS_PER_BLOB * (16 - 2)
    assert wide.attest(8).ref_time - narrow.attest(8).ref_time == draws * 2 * US
    assert (wide.on_initialize(0, 0, 0, 3, 0).ref_time - narrow.on_initialize(0, 0, 0, 3, 0).ref_time
            == 3 * draws * 2 * US)
    assert wide.register().ref_time - narrow.register().ref_time == 4 * READ
    assert wide.submit_blob().ref_time - narrow.submit_blob().ref_time == 4 * READ
    assert wide.register().proof_size - narrow.register().proof_size == 4 * 160
    assert wide.deregister().proof_size == 2 * narrow.deregister().proof_size
    assert wide.bond_extra().proof_size == 2 * narrow.bond_extra().proof_size


def test_registering_and_submitting_pay_for_the_node_set_found_not_the_largest_allowed(blob):
    """``register`` and ``submit_blob`` are admitted at the weight of a full node set (``max_nodes``); once they
    ran they say how large the set they read was."""
    with new_ext(max_nodes=8) as ext:
        weights = da(ext).config.weights
        for i in range(3):
            post = ext.dispatch(Origin.signed(NODES[i]), "DataAvailability", "register", bls_public=PUBLICS[i],
                                proof_of_possession=bls.pop_prove(SECRETS[i]),
                                registration_signature=registration_signature(i), endpoint=f"http://da-{i}".encode(),
                                stake=STAKE)
            assert post.actual_weight == weights.register(i)
            assert post.actual_weight.ref_time < weights.register().ref_time
        post = ext.dispatch(Origin.signed(SUBMITTER), "DataAvailability", "submit_blob", commitment=blob[1],
                            length=5000, namespace=7)
        assert post.actual_weight == weights.submit_blob(3)
        assert weights.submit_blob().ref_time - post.actual_weight.ref_time == 5 * READ
        # refused before reading the node set, none of it; after, all of it
        submit = dict(commitment=blob[1], length=5000, namespace=7)
        with pytest.raises(ZeroLength) as early:
            ext.dispatch(Origin.signed(SUBMITTER), "DataAvailability", "submit_blob", **{**submit, "length": 0})
        assert early.value.actual_weight == weights.submit_blob(0)
        ext.dispatch(Origin.signed(SUBMITTER), "DataAvailability", "submit_blob", **submit)  # the block's second
        with pytest.raises(TooManyBlobs) as late:
            ext.dispatch(Origin.signed(SUBMITTER), "DataAvailability", "submit_blob", **submit)
        assert late.value.actual_weight == weights.submit_blob(3)


# --- fees -----------------------------------------------------------------------------------------------


@given(fee=st.integers(0, 10**30), share=st.integers(0, 10**9), stakes=st.lists(st.integers(0, 10**24), max_size=128))
def test_fee_shares_add_up_to_the_fee_and_follow_stake(fee, share, stakes):
    shares, burned = fee_shares(fee, share, stakes)
    assert sum(shares) + burned == fee and burned >= 0 and all(part >= 0 for part in shares)
    pool = fee * share // 10**9
    total = sum(stakes)
    assert burned >= fee - pool
    assert all(part * total <= pool * stake for part, stake in zip(shares, stakes))  # never past its pro rata
    assert pool - sum(shares) <= len(stakes) if total else shares == [0] * len(stakes)  # only rounding is burned


def fee_hold(ext: TestExternalities) -> int:
    return ext.pallet(Balances).balance_on_hold(DataAvailabilityHoldReason.BlobFee, SUBMITTER)


@settings(max_examples=15, deadline=None)
@given(stakes=st.lists(st.integers(50, 10**5), min_size=4, max_size=4),
       signers=st.sets(st.integers(0, 3), min_size=1), length=st.integers(1, USABLE_BYTES_PER_BLOB))
def test_an_available_blobs_fee_goes_to_its_attesters_and_the_burn_and_nowhere_else(blob, stakes, signers, length):
    assume(3 * sum(stakes[i] for i in signers) > 2 * sum(stakes))
    commitment = blob[1]
    with new_ext() as ext:
        balances = ext.pallet(Balances)
        for i, stake in enumerate(stakes):
            ext.dispatch(Origin.signed(NODES[i]), "DataAvailability", "register", **registration(i, stake=stake))
        submitter_before = balances.free_balance(SUBMITTER)
        blob_id = submit(ext, commitment, length)
        assert fee_hold(ext) == length == da(ext).blobs.get(blob_id).fee  # fee_per_byte is 1
        nodes_before = [balances.free_balance(node) for node in NODES[:4]]
        issuance_before = balances.total_issuance.get()
        attest(ext, blob_id, bitfield(sorted(signers), 4),
               aggregate_of(blob_id, commitment, sorted(signers)))
        shares, burned = fee_shares(length, PARAMS_SHARE, [stakes[i] for i in sorted(signers)])
        paid = {i: share for i, share in zip(sorted(signers), shares)}
        assert [balances.free_balance(node) - before for node, before in zip(NODES, nodes_before)] == \
            [paid.get(i, 0) for i in range(4)]
        assert issuance_before - balances.total_issuance.get() == burned
        assert fee_hold(ext) == 0 and balances.free_balance(SUBMITTER) == submitter_before - length
        assert_has_event(ext, FeeSettled(blob_id, sum(shares), burned))


def test_an_unavailable_blobs_fee_is_burned(blob):
    with new_ext() as ext:
        register(ext)
        issuance = ext.pallet(Balances).total_issuance.get()
        blob_id = submit(ext, blob[1])
        run_to_block(ext, 6)
        assert_has_event(ext, FeeSettled(blob_id, 0, 5000))
        assert fee_hold(ext) == 0 and ext.pallet(Balances).total_issuance.get() == issuance - 5000


# --- audits and retention -----------------------------------------------------------------------------


def available_blob(ext: TestExternalities, commitment: bytes, signers: list[int]) -> bytes:
    register(ext)
    blob_id = submit(ext, commitment)
    attest(ext, blob_id, bitfield(signers, 4), aggregate_of(blob_id, commitment, signers))
    return blob_id


def started_audits(ext: TestExternalities) -> list[AuditStarted]:
    return [e for e in ext.events() if isinstance(e, AuditStarted)]


def test_audits_challenge_attesters_for_their_own_custody_cells(blob):
    with new_ext() as ext:
        blob_id = available_blob(ext, blob[1], [0, 1, 2])
        run_to_block(ext, 4)
        audits = started_audits(ext)
        assert [a.audit_id for a in audits] == [0, 1]
        record = da(ext).blobs.get(blob_id)
        for audit in audits:
            assert audit.blob_id == blob_id and audit.deadline == 7
            index = node_set_of(ext, blob_id).members.index(audit.node)
            assert index in (0, 1, 2)  # only nodes that attested
            assert audit.cell_index in custody_columns(index, node_set_of(ext, blob_id).stakes, record.custody_seed,
                                                       replication=2)


def test_an_attester_keeping_no_column_of_a_blob_is_never_audited_for_it(blob):
    """Custody follows stake: a node with a sliver of it keeps none of this blob's columns (it still signs,
    keeping its empty share). Audits draw (column, attester keeping it) pairs, so none names it."""
    commitment = blob[1]
    with new_ext() as ext:
        register(ext, 4, stakes=(50, 10**5, 10**5, 10**5))
        blob_id = submit(ext, commitment)
        assert custody_columns(0, node_set_of(ext, blob_id).stakes, da(ext).blobs.get(blob_id).custody_seed,
                               replication=2) == ()
        attest(ext, blob_id, bitfield([0, 1, 2, 3], 4), aggregate_of(blob_id, commitment, [0, 1, 2, 3]))
        audits = []
        for n in range(2, 17):  # four rounds of two (every 4 blocks; none would outlive the blob at 20)
            run_to_block(ext, n)
            audits += started_audits(ext)
        assert len(audits) == 8 and all(audit.node != NODES[0] for audit in audits)


def test_a_retained_blob_keeps_the_custody_it_was_dealt_when_an_upgrade_changes_the_replication(blob):
    """The node set records ``CustodyReplication`` as the blob was submitted: a runtime upgrade that changes it
    re-deals nothing its nodes were given, so audits still ask each attester for cells of its own columns."""
    with new_ext() as ext:
        blob_id = available_blob(ext, blob[1], [0, 1, 2, 3])
        node_set, seed = node_set_of(ext, blob_id), da(ext).blobs.get(blob_id).custody_seed
        assert node_set.replication == 2
        da(ext).config = replace(da(ext).config, custody_replication=1)  # (as a runtime upgrade would)
        audits = []
        for n in range(2, 17):
            run_to_block(ext, n)
            audits += started_audits(ext)
        assert audits and da(ext).config.custody_replication == 1
        dealt = {r: [custody_columns(node_set.members.index(a.node), node_set.stakes, seed, replication=r)
                     for a in audits] for r in (1, 2)}
        assert all(a.cell_index in columns for a, columns in zip(audits, dealt[2]))
        assert any(a.cell_index not in columns for a, columns in zip(audits, dealt[1]))  # (R = 1 would differ)

    commitment = blob[1]
    with new_ext(custody_replication=1) as ext:  # and attest counts the columns its signers were dealt
        register(ext)
        blob_id = submit(ext, commitment)
        record, node_set = da(ext).blobs.get(blob_id), node_set_of(ext, blob_id)
        da(ext).config = replace(da(ext).config, custody_replication=8)
        for who in NODES[1:4]:  # node 0 alone holds the quorum now (as in the test above)
            da(ext).nodes.mutate(who, lambda node: replace(node, stake=STAKE // 10))
        assert columns_kept([0], node_set.stakes, record.custody_seed, 1) < CELLS_TO_RECOVER
        assert columns_kept([0], node_set.stakes, record.custody_seed, 8) >= CELLS_TO_RECOVER
        assert_noop(ext, TooFewColumns, attest, ext, blob_id, bitfield([0], 4), aggregate_of(blob_id, commitment, [0]))


def test_a_valid_answer_passes_and_bad_answers_change_nothing(blob):
    _, commitment, cells, proofs = blob
    with new_ext() as ext:
        available_blob(ext, commitment, [0, 1, 2])
        run_to_block(ext, 4)
        audit = started_audits(ext)[0]
        node, cell = audit.node, audit.cell_index
        stranger = next(n for n in NODES[:4] if n != node)

        def answer(who: bytes, audit_id: int, data: bytes, proof: bytes) -> None:
            ext.dispatch(Origin.signed(who), "DataAvailability", "answer_audit", audit_id=audit_id, cell=data,
                         proof=proof)

        wrong = (cell + 1) % kzg.CELLS_PER_BLOB
        assert_noop(ext, UnknownAudit, answer, node, 99, cells[cell], proofs[cell])
        assert_noop(ext, NotAudited, answer, stranger, audit.audit_id, cells[cell], proofs[cell])
        assert_noop(ext, InvalidCellProof, answer, node, audit.audit_id, cells[wrong], proofs[wrong])
        assert_noop(ext, InvalidCellProof, answer, node, audit.audit_id, cells[cell], b"\x01" * 48)
        assert_noop(ext, InvalidCell, answer, node, audit.audit_id, cells[cell][:-1], proofs[cell])
        assert_noop(ext, InvalidCell, answer, node, audit.audit_id, b"\xff" * 2048, proofs[cell])
        passing = ext.runtime.call("DataAvailability", "answer_audit", audit_id=audit.audit_id, cell=cells[cell],
                                   proof=proofs[cell])
        assert ext.runtime.dispatch(passing, Origin.signed(node)).pays_fee is Pays.No  # its fee comes back
        assert_last_event(ext, AuditPassed(audit.audit_id, node))
        assert da(ext).nodes.get(node).audits_passed == 1


def test_an_unanswered_audit_slashes_the_node(blob):
    _, commitment, cells, proofs = blob
    with new_ext() as ext:
        available_blob(ext, commitment, [0, 1, 2])
        run_to_block(ext, 4)
        answered, missed = started_audits(ext)
        ext.dispatch(Origin.signed(answered.node), "DataAvailability", "answer_audit", audit_id=answered.audit_id,
                     cell=cells[answered.cell_index], proof=proofs[answered.cell_index])
        run_to_block(ext, 7)
        slashes = [e for e in ext.events() if isinstance(e, Slashed)]
        assert slashes == [Slashed(missed.audit_id, missed.node, STAKE // 10)]
        node = da(ext).nodes.get(missed.node)
        assert node.stake == held(ext, missed.node) == STAKE - STAKE // 10 and node.audits_missed == 1
        assert da(ext).audits.get(missed.audit_id) is None


def test_retention_prunes_blobs_and_the_audit_pool(blob):
    commitment = blob[1]
    with new_ext() as ext:
        first = available_blob(ext, commitment, [0, 1, 2])
        run_to_block(ext, 2)
        second = submit(ext, commitment)
        attest(ext, second, bitfield([1, 2, 3], 4), aggregate_of(second, commitment, [1, 2, 3]))
        assert da(ext).audit_pool_size.get() == 2
        run_to_block(ext, 16)
        assert started_audits(ext)  # audits while both blobs outlive the deadline (block 19)
        run_to_block(ext, 20)
        assert started_audits(ext) == []  # a deadline at 23 would outlive both: their cells may be gone
        run_to_block(ext, 21)
        assert_has_event(ext, BlobPruned(first))
        assert da(ext).blobs.get(first) is None and da(ext).blobs.get(second) is not None
        assert da(ext).audit_pool_size.get() == 1 and da(ext).audit_pool.get(0) == second
        assert da(ext).audit_pool_index.get(second) == 0
        run_to_block(ext, 22)
        assert_has_event(ext, BlobPruned(second))
        assert da(ext).audit_pool_size.get() == 0 and da(ext).audit_pool.get(0) is None
        assert da(ext).expiries.get(21) == () and da(ext).deadlines.get(6) == ()



def test_the_runtime_warm_up_loads_the_kzg_setup_audits_verify_with():
    # a fresh process: in this one an earlier test may have loaded the setup already
    check = ("from da_layer import kzg; from runtime.cairn import CairnRuntime; r = CairnRuntime(); "
             "assert kzg._setup is None; r.warm_up(); assert kzg._setup is not None")
    subprocess.run([sys.executable, "-c", check], check=True, timeout=120)
