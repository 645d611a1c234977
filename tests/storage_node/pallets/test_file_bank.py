"""FileBank, FRAME-style: declare, placement, confirmations and their deadlines, audits, repairs, health, delete."""

from __future__ import annotations

import dataclasses
import functools

import pytest

from runtime.frame.pallet import BadOrigin, Origin
from runtime.frame.testing import assert_has_event, assert_last_event, assert_noop
from runtime.pallets.system import System
from runtime.primitives import Digest
from storage_node.chunks import ChunkProof
from storage_node.pallets.file_bank import (
    AlreadyConfirmed,
    FileLocked,
    AuditFailed,
    AuditMissed,
    AuditPassed,
    BadFragmentIndex,
    BadManifest,
    ChallengeExpired,
    Challenged,
    BadPeriods,
    DeletionPending,
    DuplicateFragment,
    FileActivated,
    FileBank,
    FileDeclared,
    FileDeletionDeferred,
    FileDeleted,
    FileExpired,
    FileRenewed,
    FileExists,
    FileStatusChanged,
    FragmentReassigned,
    FragmentsAssigned,
    HoldReason,
    InsufficientFunds,
    MalformedProof,
    NoLongerHeld,
    NoRepairOrder,
    NotAssigned,
    NotChallenged,
    NotEnoughNodes,
    NotFileOwner,
    NotRepairer,
    RepairCompleted,
    RepairOrdered,
    TooManyConfirmations,
    TooManyFragments,
    TooManySegments,
    UnderChallenge,
    UnderRepair,
    UnknownChallenge,
    UnknownFile,
    UploadAbandoned,
    WrongChunk,
    WrongChunkSize,
    WrongProofCount,
    WrongSegmentSize,
)
from storage_node.pallets.nodes import NodeSlashed, StorageNodes
from storage_node.pallets.types import FileStatus, NodeStatus, RepairReason

from .mock import (
    ALICE,
    BOB,
    CAPACITY,
    ENDOWMENT,
    NODES,
    STAKE,
    StoredFile,
    confirm_all,
    declare,
    free,
    held,
    make_file,
    new_ext,
    next_block,
    proofs_for,
    run_to,
)

EVE = bytes([0xEE]) * 32
"""An account with no balance."""
AUDIT = 10
"""The mock's audit period."""


def bank(ext) -> FileBank:
    return ext.pallet(FileBank)


def status(ext, stored: StoredFile) -> FileStatus:
    return bank(ext).files.get(stored.file_id).status


def active_file(ext, size: int = 3000, **kwargs) -> StoredFile:
    stored = declare(ext, ALICE, size, **kwargs)
    confirm_all(ext, stored)
    return stored


def confirm_first(ext, stored: StoredFile, count: int) -> tuple[bytes, ...]:
    """Segment 0's first ``count`` fragments confirmed by their nodes; its placement."""
    placement = bank(ext).placements.get(stored.file_id, 0)
    for fragment in range(count):
        ext.dispatch(Origin.signed(placement[fragment]), "FileBank", "confirm", file_id=stored.file_id,
                     fragments=((0, fragment),))
    return placement


def events_of(ext, cls) -> list:
    return [e for e in ext.events() if isinstance(e, cls)]


def run_audit(ext) -> list[Challenged]:
    """Advance to the next audit block; its challenges."""
    run_to(ext, (ext.pallet(System).number.get() // AUDIT + 1) * AUDIT)
    return events_of(ext, Challenged)


def audit_with_one_silent_node(ext, stored: StoredFile) -> Challenged:
    """Run an audit round in which every challenged node answers but the first; its challenge."""
    silent, *others = run_audit(ext)
    for challenge in others:
        answer(ext, stored, challenge)
    return silent


def answer(ext, stored: StoredFile, challenge: Challenged, proofs=None) -> None:
    proofs = proofs if proofs is not None else proofs_for(stored, challenge.segment, challenge.fragment,
                                                          challenge.chunk_indices)
    ext.dispatch(Origin.signed(challenge.node), "FileBank", "submit_proof", challenge_id=challenge.challenge_id,
                 proofs=proofs)


# --- declare --------------------------------------------------------------------------------------


def test_declare_takes_fee_and_deposit_and_places_every_segment_on_distinct_nodes():
    ext = new_ext()
    with ext:
        stored = declare(ext, ALICE, 3000)
        info = bank(ext).files.get(stored.file_id)
        assert (info.segment_count, info.width, info.status) == (2, 5, FileStatus.Pending)
        stored_bytes = 5 * (704 + 320)  # two segments of 3 data + 2 parity fragments (2048 and 952 bytes coded)
        assert info.stored_bytes() == stored_bytes
        deposit = 50 + 3 * 10 + 2 * stored_bytes  # the file, its 10 fragments, its bytes
        assert held(ext, HoldReason.FileDeposit, ALICE) == info.deposit == deposit
        assert free(ext, ALICE) == ENDOWMENT - 100 * stored_bytes - deposit  # 100 periods at 1 per byte
        assert bank(ext).reward_pool.get() == 100 * stored_bytes
        assert info.paid_until == 1 + 100 * AUDIT
        assert bank(ext).files_of.contains(ALICE, stored.file_id)
        assigned = events_of(ext, FragmentsAssigned)
        assert [e.segment for e in assigned] == [0, 1]
        for event in assigned:
            assert len(set(event.nodes)) == 5
            assert bank(ext).placements.get(stored.file_id, event.segment) == event.nodes
            assert bank(ext).segment_roots.get(stored.file_id, event.segment) == stored.manifest.segment_roots[event.segment]
        assert_has_event(ext, FileDeclared(stored.file_id, ALICE, 3000))
        used = sum(ext.pallet(StorageNodes).nodes.get(node).used for node in NODES[:6])
        assert used == stored_bytes


def test_a_declaration_weighs_the_nodes_it_read_not_the_most_there_may_be():
    """Its declared weight assumes ``max_nodes`` (16 here) registered nodes; once it ran it says it read the 7
    registered, a leaving one too (its record is read, and passed over), and for an empty file none (it places
    nothing)."""
    ext = new_ext(nodes=7)
    with ext:
        weights = bank(ext).config.weights
        first = declare(ext, ALICE, 3000, seed=99)
        leaving = bank(ext).placements.get(first.file_id, 0)[0]
        ext.dispatch(Origin.signed(leaving), "StorageNodes", "exit")
        assert ext.pallet(StorageNodes).nodes.get(leaving).status is NodeStatus.Exiting
        for embargoed, size, nodes_read in ((False, 3000, 7), (True, 3000, 7), (False, 0, 0)):
            stored = make_file(ALICE, size, seed=size + embargoed)
            call = "declare_embargoed" if embargoed else "declare"
            manifest = stored.manifest.encode()
            post = ext.dispatch(Origin.signed(ALICE), "FileBank", call, manifest=manifest)
            shape = (stored.manifest.segment_count(), 5)
            weigh = functools.partial(weights.declare_embargoed if embargoed else weights.declare,
                                      manifest_bytes=len(manifest))
            assert post.actual_weight == weigh(*shape, nodes_read)
            assert post.actual_weight.ref_time < weigh(*shape).ref_time == weigh(*shape, 16).ref_time


def test_an_empty_file_is_active_at_once_and_still_holds_the_deposit_for_its_record():
    ext = new_ext()
    with ext:
        stored = declare(ext, ALICE, 0)
        assert status(ext, stored) is FileStatus.Active
        assert_last_event(ext, FileActivated(stored.file_id))
        assert held(ext, HoldReason.FileDeposit, ALICE) == bank(ext).files.get(stored.file_id).deposit == 50


def test_placement_is_deterministic_from_the_parent_hash_and_the_file():
    stored = make_file(ALICE, 9000)

    def placements(parent: bytes) -> list[tuple[bytes, ...]]:
        ext = new_ext(nodes=8)
        with ext:
            ext.pallet(System).initialize(2, parent, Digest())
            ext.dispatch(Origin.signed(ALICE), "FileBank", "declare", manifest=stored.manifest.encode())
            return [bank(ext).placements.get(stored.file_id, s) for s in range(stored.manifest.segment_count())]

    first = placements(b"\x01" * 32)
    assert first == placements(b"\x01" * 32)
    assert first != placements(b"\x02" * 32)
    assert all(len(set(nodes)) == 5 for nodes in first)


def test_placement_weighs_stake_and_skips_nodes_without_room():
    ext = new_ext(nodes=6)
    with ext:
        full = NODES[0]
        ext.dispatch(Origin.signed(full), "StorageNodes", "update", endpoint=b"http://full", capacity=1)
        for seed in range(4):
            stored = declare(ext, ALICE, 3000, seed=seed)
            for segment in range(2):
                assert full not in bank(ext).placements.get(stored.file_id, segment)


def lying(stored: StoredFile, **changes) -> bytes:
    return dataclasses.replace(stored.manifest, **changes).encode()


@pytest.mark.parametrize("who, manifest, error", [
    (None, lambda s: s.manifest.encode(), BadOrigin),
    (BOB, lambda s: s.manifest.encode(), NotFileOwner),
    (ALICE, lambda s: b"\x01garbage", BadManifest),
    (ALICE, lambda s: s.manifest.encode()[:-1], BadManifest),
    (ALICE, lambda s: lying(s, size=5000), BadManifest),          # three segments' worth of bytes, two roots
    (ALICE, lambda s: lying(s, size=1000), BadManifest),          # one segment's worth, two roots
    (ALICE, lambda s: lying(s, k=10, m=7), TooManyFragments),
    (ALICE, lambda s: lying(s, k=4, m=3), NotEnoughNodes),        # 7 fragments, 6 nodes
    (ALICE, lambda s: lying(s, chunk_size=512), WrongChunkSize),
    (ALICE, lambda s: lying(s, segment_size=1500, size=3000 - 1000), WrongSegmentSize),
    (EVE, lambda s: lying(s, owner=EVE), InsufficientFunds),
])
def test_declare_refuses_bad_manifests_and_changes_nothing(who, manifest, error):
    ext = new_ext()
    stored = make_file(ALICE, 3000)
    origin = Origin.none() if who is None else Origin.signed(who)
    with ext:
        assert_noop(ext, error, ext.dispatch, origin, "FileBank", "declare", manifest=manifest(stored))


@pytest.mark.parametrize("call", ["declare", "declare_embargoed"])
def test_a_refused_declaration_says_what_it_used(call):
    """A manifest that does not decode used its decoding; one refused before the placing read no node record;
    one refused while placing (7 fragments a segment for 6 nodes) read all six. The call was admitted at
    ``max_nodes`` records read."""
    ext = new_ext()
    stored = make_file(ALICE, 3000)
    segments = stored.manifest.segment_count()
    refusals = [(b"\x01garbage", BadManifest, (0, 0), 0),  # (segments, k + m), nodes read
                (lying(stored, k=10, m=7), TooManyFragments, (segments, 17), 0),
                (lying(stored, k=4, m=3), NotEnoughNodes, (segments, 7), 6)]
    with ext:
        weigh = getattr(bank(ext).config.weights, call)
        for manifest, error, shape, nodes in refusals:
            with pytest.raises(error) as refused:
                ext.dispatch(Origin.signed(ALICE), "FileBank", call, manifest=manifest)
            assert refused.value.actual_weight == weigh(*shape, nodes, manifest_bytes=len(manifest))
            assert refused.value.actual_weight.ref_time < weigh(*shape, manifest_bytes=len(manifest)).ref_time


def test_declare_refuses_a_duplicate_and_too_many_segments():
    ext = new_ext(params={"FileBank": {"max_segments": 2}})
    with ext:
        stored = declare(ext, ALICE, 3000)
        assert_noop(ext, FileExists, ext.dispatch, Origin.signed(ALICE), "FileBank", "declare",
                    manifest=stored.manifest.encode())
        assert_noop(ext, TooManySegments, ext.dispatch, Origin.signed(ALICE), "FileBank", "declare",
                    manifest=make_file(ALICE, 5000).manifest.encode())


# --- confirmations --------------------------------------------------------------------------------


def test_the_file_activates_when_every_fragment_is_confirmed():
    ext = new_ext()
    with ext:
        stored = declare(ext, ALICE, 3000)
        confirm_all(ext, stored)
        info = bank(ext).files.get(stored.file_id)
        assert (info.status, info.healthy) == (FileStatus.Active, 10)
        assert all(bank(ext).confirmed.get(stored.file_id, s) == (True,) * 5 for s in range(2))
        assert_last_event(ext, FileActivated(stored.file_id))


def test_confirm_refuses_bad_input_and_changes_nothing():
    ext = new_ext(nodes=6)
    with ext:
        stored = declare(ext, ALICE, 3000)
        placement = bank(ext).placements.get(stored.file_id, 0)
        holder = placement[0]
        stranger = next(node for node in NODES[:6] if node not in placement)
        fid = stored.file_id
        for who, fragments, file_id, error in [
            (stranger, ((0, 0),), fid, NotAssigned),
            (holder, ((0, 5),), fid, BadFragmentIndex),
            (holder, ((2, 0),), fid, BadFragmentIndex),
            (holder, ((0, 0), (0, 0)), fid, DuplicateFragment),
            (holder, (), fid, TooManyConfirmations),
            (holder, ((0, 0),), b"\x99" * 32, UnknownFile),
        ]:
            assert_noop(ext, error, ext.dispatch, Origin.signed(who), "FileBank", "confirm", file_id=file_id,
                        fragments=fragments)
        assert_noop(ext, BadOrigin, ext.dispatch, Origin.none(), "FileBank", "confirm", file_id=fid,
                    fragments=((0, 0),))
        ext.dispatch(Origin.signed(holder), "FileBank", "confirm", file_id=fid, fragments=((0, 0),))
        assert_noop(ext, AlreadyConfirmed, ext.dispatch, Origin.signed(holder), "FileBank", "confirm", file_id=fid,
                    fragments=((0, 0),))


def test_a_leaving_node_confirms_nothing_more():
    """Five nodes for five fragments: the leaving node's unconfirmed fragment has nowhere else to go and stays
    placed on it; its confirmation would have made the file active with a fragment on a node on its way out."""
    ext = new_ext(nodes=5)
    with ext:
        stored = declare(ext, ALICE, 1000)
        leaver, *others = bank(ext).placements.get(stored.file_id, 0)
        for fragment, node in enumerate(others, 1):
            ext.dispatch(Origin.signed(node), "FileBank", "confirm", file_id=stored.file_id,
                         fragments=((0, fragment),))
        ext.dispatch(Origin.signed(leaver), "StorageNodes", "exit")
        next_block(ext)
        assert bank(ext).placements.get(stored.file_id, 0)[0] == leaver
        assert_noop(ext, NotAssigned, ext.dispatch, Origin.signed(leaver), "FileBank", "confirm",
                    file_id=stored.file_id, fragments=((0, 0),))


def test_a_fragment_unconfirmed_by_its_deadline_is_reassigned_when_its_segment_cannot_be_rebuilt():
    ext = new_ext(nodes=6)
    with ext:
        stored = declare(ext, ALICE, 1000)  # one segment
        placement = bank(ext).placements.get(stored.file_id, 0)
        # two of five confirm: fewer than k = 3, so the late ones must come from the uploader again
        for fragment in (0, 1):
            ext.dispatch(Origin.signed(placement[fragment]), "FileBank", "confirm", file_id=stored.file_id,
                         fragments=((0, fragment),))
        run_to(ext, 1 + 5)
        moves = events_of(ext, FragmentReassigned)
        assert [e.fragment for e in moves] == [2]  # only one node is free: the others wait for the next deadline
        assert moves[0].from_ == placement[2] and moves[0].to not in placement
        assert bank(ext).placements.get(stored.file_id, 0)[2] == moves[0].to
        ext.dispatch(Origin.signed(moves[0].to), "FileBank", "confirm", file_id=stored.file_id, fragments=((0, 2),))
        assert_noop(ext, NotAssigned, ext.dispatch, Origin.signed(placement[2]), "FileBank", "confirm",
                    file_id=stored.file_id, fragments=((0, 2),))


def test_a_segment_never_uploaded_is_reassigned_once_per_deadline_and_queued_once():
    ext = new_ext(nodes=8)
    with ext:
        stored = declare(ext, ALICE, 1000)  # one segment; no node ever confirms
        for deadline in (6, 11, 16, 21):
            run_to(ext, deadline)
            moved = [e.fragment for e in events_of(ext, FragmentReassigned)]
            assert len(moved) == len(set(moved)) == 3  # the three free nodes, each fragment moved once
            assert list(bank(ext).confirm_expiries.items()) == [(deadline + 5, ((stored.file_id, 0),))]
            assert bank(ext).confirm_due.get(stored.file_id, 0) == deadline + 5


def test_a_fragment_unconfirmed_by_its_deadline_is_repaired_when_its_segment_has_k():
    ext = new_ext(nodes=6)
    with ext:
        stored = declare(ext, ALICE, 1000)
        placement = confirm_first(ext, stored, 4)
        run_to(ext, 1 + 5)
        (order,) = events_of(ext, RepairOrdered)
        assert (order.fragment, order.reason) == (4, RepairReason.ConfirmationMissed)
        assert order.repairer not in placement
        assert_noop(ext, UnderRepair, ext.dispatch, Origin.signed(placement[4]), "FileBank", "confirm",
                    file_id=stored.file_id, fragments=((0, 4),))
        ext.dispatch(Origin.signed(order.repairer), "FileBank", "confirm_repair", file_id=stored.file_id,
                     segment=0, fragment=4)
        assert status(ext, stored) is FileStatus.Active
        assert bank(ext).fragment_count.get(placement[4]) == 0


def test_two_late_fragments_of_a_segment_go_to_two_repairers_and_both_complete():
    """``confirm_repair`` refuses a second fragment of a segment on one node: one repairer per fragment."""
    ext = new_ext(nodes=7)
    with ext:
        stored = declare(ext, ALICE, 1000)
        placement = confirm_first(ext, stored, 3)  # k = 3 confirmed: the two late ones are rebuilt, not pushed again
        run_to(ext, 1 + 5)
        orders = events_of(ext, RepairOrdered)
        assert sorted(order.fragment for order in orders) == [3, 4]
        repairers = {order.repairer for order in orders}
        assert len(repairers) == 2 and None not in repairers and not repairers & set(placement)
        for order in orders:
            ext.dispatch(Origin.signed(order.repairer), "FileBank", "confirm_repair", file_id=stored.file_id,
                         segment=0, fragment=order.fragment)
        assert status(ext, stored) is FileStatus.Active


def test_a_late_fragment_is_never_reassigned_to_the_repairer_of_another_fragment_of_its_segment():
    ext = new_ext(nodes=7)
    with ext:
        stored = declare(ext, ALICE, 1000)
        placement = confirm_first(ext, stored, 3)
        ext.dispatch(Origin.signed(placement[0]), "StorageNodes", "exit")  # fragment 0 is rebuilt elsewhere
        next_block(ext)
        repairer = bank(ext).repair_orders.get(stored.file_id, (0, 0)).repairer
        run_to(ext, 1 + 5)  # fragments 3 and 4 are late with two confirmed: pushed again, to other nodes
        moves = events_of(ext, FragmentReassigned)  # one: the only node neither holding nor rebuilding one
        assert len(moves) == 1 and moves[0].to != repairer
        assert repairer not in bank(ext).placements.get(stored.file_id, 0)
        ext.dispatch(Origin.signed(repairer), "FileBank", "confirm_repair", file_id=stored.file_id, segment=0,
                     fragment=0)


UPLOAD_TIMEOUT = {"FileBank": {"upload_timeout": 12}}
"""An upload with no confirmation for 12 blocks is abandoned: at the third confirm deadline (5 blocks each)."""


UPLOAD_TIMEOUT_NO_AUDITS = {"FileBank": {**UPLOAD_TIMEOUT["FileBank"], "audit_period": 1000}}
"""The same, with no audit round in a test's blocks: the nodes that confirmed would miss it (they never answer)."""


def test_an_upload_with_no_confirmation_for_upload_timeout_blocks_is_abandoned_and_deleted():
    ext = new_ext(nodes=8, params=UPLOAD_TIMEOUT)
    with ext:
        before = free(ext, ALICE)
        stored = declare(ext, ALICE, 1000)  # one segment; nobody ever uploads it
        fid = stored.file_id
        paid = before - free(ext, ALICE) - held(ext, HoldReason.FileDeposit, ALICE)  # the fee
        for deadline in (6, 11):
            run_to(ext, deadline)
            assert len(events_of(ext, FragmentReassigned)) == 3 and bank(ext).files.contains(fid)
        run_to(ext, 16)  # 15 blocks since the declaration, its last progress
        assert events_of(ext, UploadAbandoned) == [UploadAbandoned(fid)] and not events_of(ext, FragmentReassigned)
        assert_has_event(ext, FileDeleted(fid))
        assert not bank(ext).files.contains(fid) and held(ext, HoldReason.FileDeposit, ALICE) == 0
        assert free(ext, ALICE) == before - paid and paid > 0  # the deposit back, the fee kept
        run_to(ext, 30)
        assert all(bank(ext).fragment_count.get(node) == 0 for node in NODES)
        assert not list(bank(ext).confirm_expiries.items()) and bank(ext).confirm_due.get(fid, 0) is None


def test_an_upload_that_confirms_something_within_upload_timeout_goes_on():
    ext = new_ext(nodes=8, params=UPLOAD_TIMEOUT)
    with ext:
        stored = declare(ext, ALICE, 1000)
        fid = stored.file_id
        run_to(ext, 14)
        holder = bank(ext).placements.get(fid, 0)[0]  # the fragment's node now, after two reassignments
        ext.dispatch(Origin.signed(holder), "FileBank", "confirm", file_id=fid, fragments=((0, 0),))
        run_to(ext, 21)  # 20 blocks since the declaration, 7 since the confirmation
        assert status(ext, stored) is FileStatus.Pending and len(events_of(ext, FragmentReassigned)) == 3
        run_to(ext, 26)
        assert events_of(ext, UploadAbandoned) == [UploadAbandoned(fid)]


def test_an_upload_whose_segments_have_k_is_never_abandoned_while_its_repairs_are_late():
    """The uploader's part is done once each segment has k: what is missing the repairers owe."""
    ext = new_ext(nodes=6, params=UPLOAD_TIMEOUT_NO_AUDITS)
    with ext:
        stored = declare(ext, ALICE, 1000)
        confirm_first(ext, stored, 3)
        run_to(ext, 60)  # repairers never finish: their orders go from node to node
        assert status(ext, stored) is FileStatus.Pending and not events_of(ext, UploadAbandoned)
        assert bank(ext).repair_orders.contains(stored.file_id, (0, 3))


def test_an_upload_whose_segment_fell_below_k_under_repair_is_kept_for_its_repairers():
    """Fragments 3 and 4 late with three confirmed: repair orders. Then a confirmed fragment's node leaves: the
    segment has two healthy fragments and no late one. The file is not abandoned, whatever the time without a
    confirmation: a leaving node (or one that missed an audit) may still hold its fragment, and repairers fetch
    from every node of the placement, so the repairs may still complete; nor could the uploader help, since a
    fragment under repair takes no ``confirm``."""
    ext = new_ext(nodes=10, params=UPLOAD_TIMEOUT_NO_AUDITS)
    with ext:
        stored = declare(ext, ALICE, 1000)
        fid = stored.file_id
        placement = confirm_first(ext, stored, 3)
        run_to(ext, 6)
        ext.dispatch(Origin.signed(placement[0]), "StorageNodes", "exit")
        next_block(ext)
        assert sum(bank(ext).confirmed.get(fid, 0)) == 2
        run_to(ext, 30)  # 29 blocks without a confirmation (the timeout is 12), its orders passed on thrice
        orders = [bank(ext).repair_orders.get(fid, (0, fragment)) for fragment in (0, 3, 4)]
        while any(order.repairer is None for order in orders):  # (one finds no repairer now and then: ten nodes)
            assert status(ext, stored) is FileStatus.Pending
            next_block(ext)
            orders = [bank(ext).repair_orders.get(fid, (0, fragment)) for fragment in (0, 3, 4)]
        assert status(ext, stored) is FileStatus.Pending
        for fragment, order in zip((0, 3, 4), orders):
            ext.dispatch(Origin.signed(order.repairer), "FileBank", "confirm_repair", file_id=fid, segment=0,
                         fragment=fragment)
        assert_last_event(ext, FileActivated(fid))


# --- audits ---------------------------------------------------------------------------------------


def test_an_audit_challenges_every_node_holding_fragments_and_a_pass_pays_pro_rata():
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext)
        challenges = run_audit(ext)
        holders = {n for s in range(2) for n in bank(ext).placements.get(stored.file_id, s)}
        assert {c.node for c in challenges} == holders
        for challenge in challenges:
            assert len(set(challenge.chunk_indices)) == 2
            assert bank(ext).challenges.get(challenge.challenge_id).deadline == challenge.deadline == AUDIT + 3
            node = ext.pallet(StorageNodes).nodes.get(challenge.node)
            assert bank(ext).proven.get(challenge.node) == node.used  # every fragment confirmed
            before = free(ext, challenge.node)
            answer(ext, stored, challenge)
            assert_last_event(ext, AuditPassed(challenge.challenge_id, challenge.node, node.used))
            assert free(ext, challenge.node) == before + node.used  # fee_per_byte_period (1) x bytes stored
            assert ext.pallet(StorageNodes).nodes.get(challenge.node).audits_passed == 1
        assert not list(bank(ext).challenges.items())


def test_with_more_holders_than_challenges_a_pass_pays_for_the_rounds_a_node_goes_unchallenged():
    """H holders, two challenged a round: each is challenged one round in H/2 on average, so a pass pays H/2
    rounds' fee for its bytes, and the rewards match the fees in expectation."""
    ext = new_ext(nodes=6, params={"FileBank": {"challenges_per_audit": 2}})
    with ext:
        stored = active_file(ext)
        holders = len({node for segment in range(2) for node in bank(ext).placements.get(stored.file_id, segment)})
        assert holders > 2
        challenges = run_audit(ext)
        assert len(challenges) == 2
        for challenge in challenges:
            assert bank(ext).challenges.get(challenge.challenge_id).rounds_ppm == holders * 1_000_000 // 2
            before = free(ext, challenge.node)
            answer(ext, stored, challenge)
            assert free(ext, challenge.node) == before + holders * bank(ext).proven.get(challenge.node) // 2


def test_a_pass_pays_only_for_fragments_confirmed_and_not_under_repair():
    """A node assigned fragments it never confirmed, or one whose fragment is being repaired, is not paid for
    them: its ``Proven`` bytes follow confirmations, repairs and deletions exactly."""
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext)
        pending = declare(ext, ALICE, 3000, seed=7)  # assigned, never confirmed
        proven = {node: bank(ext).proven.get(node) for node in NODES[:6]}
        assert sum(proven.values()) == 5 * (704 + 320)  # the active file's fragments only
        used = {node: ext.pallet(StorageNodes).nodes.get(node).used for node in NODES[:6]}
        assert sum(used.values()) == 2 * sum(proven.values())
        challenges = run_audit(ext)
        paid = next(c for c in challenges if used[c.node] > proven[c.node])  # it holds unconfirmed ones too
        before = free(ext, paid.node)
        answer(ext, stored, paid)
        assert free(ext, paid.node) == before + proven[paid.node]
        failed = next(c for c in challenges if c.file_id == stored.file_id and c.node != paid.node)
        good = proofs_for(stored, failed.segment, failed.fragment, failed.chunk_indices)
        proof = ChunkProof.decode(good[0])
        answer(ext, stored, failed, (dataclasses.replace(proof, chunk=bytes(b ^ 1 for b in proof.chunk)).encode(),
                                     good[1]))
        size = bank(ext).files.get(stored.file_id).fragment_size_of(failed.segment)
        assert bank(ext).proven.get(failed.node) == proven[failed.node] - size  # its fragment is under repair
        next_block(ext)  # (its repairer is drawn)
        (order,) = events_of(ext, RepairOrdered)
        repairer_before = bank(ext).proven.get(order.repairer)
        ext.dispatch(Origin.signed(order.repairer), "FileBank", "confirm_repair", file_id=stored.file_id,
                     segment=order.segment, fragment=order.fragment)
        assert bank(ext).proven.get(order.repairer) == repairer_before + size
        for file_id in (stored.file_id, pending.file_id):
            ext.dispatch(Origin.signed(ALICE), "FileBank", "delete", file_id=file_id)
        next_block(ext)  # reaped
        assert not list(bank(ext).proven.items())


def test_submit_proof_refuses_bad_proofs_and_changes_nothing():
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext)
        challenge = run_audit(ext)[0]
        good = proofs_for(stored, challenge.segment, challenge.fragment, challenge.chunk_indices)
        other_chunk = (good[1], good[0])  # the two challenged chunks are distinct
        other = next(n for n in NODES[:6] if n != challenge.node)
        cases = [
            (challenge.node, challenge.challenge_id, good[:1], WrongProofCount),
            (challenge.node, challenge.challenge_id, (b"\x00", good[1]), MalformedProof),
            (challenge.node, challenge.challenge_id, other_chunk, WrongChunk),
            (other, challenge.challenge_id, good, NotChallenged),
            (challenge.node, 10**6, good, UnknownChallenge),
        ]
        for who, challenge_id, proofs, error in cases:
            assert_noop(ext, error, ext.dispatch, Origin.signed(who), "FileBank", "submit_proof",
                        challenge_id=challenge_id, proofs=proofs)
        # the deadline passed but this block has not got round to expiring it (the per-block limit)
        ext.pallet(System).initialize(challenge.deadline + 1, b"\x05" * 32, Digest())
        assert_noop(ext, ChallengeExpired, answer, ext, stored, challenge)


def test_a_proof_that_does_not_verify_slashes_and_orders_a_repair():
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext)
        challenge = run_audit(ext)[0]
        good = proofs_for(stored, challenge.segment, challenge.fragment, challenge.chunk_indices)
        bad = ChunkProof.decode(good[0])
        forged = dataclasses.replace(bad, chunk=bytes(b ^ 1 for b in bad.chunk)).encode()
        answer(ext, stored, challenge, (forged, good[1]))
        assert_has_event(ext, AuditFailed(challenge.challenge_id, challenge.node))
        assert_has_event(ext, NodeSlashed(challenge.node, STAKE // 10))
        node = ext.pallet(StorageNodes).nodes.get(challenge.node)
        assert (node.stake, node.audits_missed, node.consecutive_misses) == (STAKE - STAKE // 10, 1, 1)
        assert ext.pallet(StorageNodes).slashed_pool.get() == STAKE // 10
        (order,) = events_of(ext, RepairOrdered)
        assert (order.segment, order.fragment, order.reason, order.repairer) == (
            challenge.segment, challenge.fragment, RepairReason.AuditFailed, None)
        assert status(ext, stored) is FileStatus.Degraded
        assert_has_event(ext, FileStatusChanged(stored.file_id, FileStatus.Degraded))
        # its repairer is drawn at the next block's start, where reading every node is charged once a block
        ordered_at = ext.pallet(System).number.get()
        next_block(ext)
        (order,) = events_of(ext, RepairOrdered)
        assert (order.segment, order.fragment, order.reason) == (
            challenge.segment, challenge.fragment, RepairReason.AuditFailed)
        assert order.repairer is not None
        assert order.repairer not in bank(ext).placements.get(stored.file_id, challenge.segment)
        record = bank(ext).repair_orders.get(stored.file_id, (challenge.segment, challenge.fragment))
        assert (record.repairer, record.created_at) == (order.repairer, ordered_at)
        assert record.deadline == ordered_at + 1 + bank(ext).config.repair_deadline  # its whole window, from the draw


def test_a_missed_audit_slashes_and_orders_a_repair_at_the_deadline():
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext)
        challenge = audit_with_one_silent_node(ext, stored)
        run_to(ext, challenge.deadline + 1)
        assert_has_event(ext, AuditMissed(challenge.challenge_id, challenge.node))
        assert_has_event(ext, NodeSlashed(challenge.node, STAKE // 10))
        assert [e.reason for e in events_of(ext, RepairOrdered)] == [RepairReason.AuditMissed]
        assert bank(ext).challenges.get(challenge.challenge_id) is None


def test_a_completed_repair_moves_the_placement_pays_the_repairer_and_restores_the_file():
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext)
        challenge = audit_with_one_silent_node(ext, stored)
        run_to(ext, challenge.deadline + 1)  # missed: degraded, repair ordered
        (order,) = events_of(ext, RepairOrdered)
        assert status(ext, stored) is FileStatus.Degraded
        key = (stored.file_id, order.segment, order.fragment)
        assert_noop(ext, NotRepairer, ext.dispatch, Origin.signed(challenge.node), "FileBank", "confirm_repair",
                    file_id=stored.file_id, segment=order.segment, fragment=order.fragment)
        assert_noop(ext, NoRepairOrder, ext.dispatch, Origin.signed(order.repairer), "FileBank", "confirm_repair",
                    file_id=stored.file_id, segment=order.segment, fragment=(order.fragment + 1) % 5)
        before = free(ext, order.repairer)
        ext.dispatch(Origin.signed(order.repairer), "FileBank", "confirm_repair", file_id=stored.file_id,
                     segment=order.segment, fragment=order.fragment)
        size = bank(ext).files.get(stored.file_id).fragment_size_of(order.segment)
        assert_has_event(ext, RepairCompleted(*key, order.repairer, size))  # repair_reward_per_byte 1
        assert free(ext, order.repairer) == before + size
        assert ext.pallet(StorageNodes).slashed_pool.get() == STAKE // 10 - size
        assert bank(ext).placements.get(stored.file_id, order.segment)[order.fragment] == order.repairer
        assert bank(ext).repair_orders.get(stored.file_id, (order.segment, order.fragment)) is None
        assert ext.pallet(StorageNodes).nodes.get(order.repairer).repairs_done == 1
        assert not bank(ext).fragments_of.contains(challenge.node, key)
        assert bank(ext).fragments_of.contains(order.repairer, key)
        assert status(ext, stored) is FileStatus.Active
        assert_has_event(ext, FileStatusChanged(stored.file_id, FileStatus.Active))


def test_with_no_spare_node_a_fragment_is_rebuilt_by_its_own_node_unpaid():
    ext = new_ext(nodes=5)  # the default file is 5 fragments wide: every node holds one of each segment
    with ext:
        stored = active_file(ext)
        challenge = audit_with_one_silent_node(ext, stored)
        run_to(ext, challenge.deadline + 1)
        (order,) = events_of(ext, RepairOrdered)
        assert order.repairer == challenge.node  # the alternative was an order nobody could ever complete
        key = (stored.file_id, order.segment, order.fragment)
        placement = bank(ext).placements.get(stored.file_id, order.segment)
        other = placement[(order.fragment + 1) % 5]
        assert_noop(ext, NotRepairer, ext.dispatch, Origin.signed(other), "FileBank", "confirm_repair",
                    file_id=stored.file_id, segment=order.segment, fragment=order.fragment)
        before, pool = free(ext, challenge.node), ext.pallet(StorageNodes).slashed_pool.get()
        assigned = ext.pallet(StorageNodes).nodes.get(challenge.node).used
        ext.dispatch(Origin.signed(challenge.node), "FileBank", "confirm_repair", file_id=stored.file_id,
                     segment=order.segment, fragment=order.fragment)
        assert_has_event(ext, RepairCompleted(*key, challenge.node, 0))
        assert (free(ext, challenge.node), ext.pallet(StorageNodes).slashed_pool.get()) == (before, pool)
        node = ext.pallet(StorageNodes).nodes.get(challenge.node)
        assert (node.repairs_done, node.used) == (0, assigned)
        assert bank(ext).placements.get(stored.file_id, order.segment) == placement
        assert bank(ext).fragments_of.contains(challenge.node, key)
        assert status(ext, stored) is FileStatus.Active


def test_a_node_leaving_under_a_challenge_it_cannot_answer_is_still_slashed():
    """A node that dropped its data is challenged and asks to leave: its exit's repairs moved the challenged
    fragment before the deadline, the miss lapsed (nothing left to prove), and its whole stake came back, its
    record clean to register again. The challenged fragment's exit repair now waits for the challenge to close:
    the miss is slashed, then the fragment moves, and the node leaves with what is left of its stake."""
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext)
        challenge = audit_with_one_silent_node(ext, stored)
        ext.dispatch(Origin.signed(challenge.node), "StorageNodes", "exit")
        next_block(ext)  # the exit orders every fragment of the node repaired
        challenged = (challenge.segment, challenge.fragment)

        def confirm(order: RepairOrdered) -> None:
            ext.dispatch(Origin.signed(order.repairer), "FileBank", "confirm_repair", file_id=order.file_id,
                         segment=order.segment, fragment=order.fragment)

        for order in events_of(ext, RepairOrdered):
            if (order.segment, order.fragment) == challenged:
                assert_noop(ext, UnderChallenge, confirm, order)
                held_back = order
            else:
                confirm(order)
        assert ext.pallet(StorageNodes).nodes.get(challenge.node) is not None
        run_to(ext, challenge.deadline + 1)
        assert_has_event(ext, AuditMissed(challenge.challenge_id, challenge.node))
        assert_has_event(ext, NodeSlashed(challenge.node, STAKE // 10))
        confirm(held_back)  # closed: the repair moves it now
        assert ext.pallet(StorageNodes).nodes.get(challenge.node) is None
        assert ext.pallet(StorageNodes).past_records.get(challenge.node).audits_missed == 1


def test_a_fragment_is_not_challenged_again_while_its_last_challenge_is_open():
    """With audits closer together than the proof deadline a fragment drawn in each round had overlapping
    challenges, and a leaving node down to its last fragment one always open: its exit's repair, held back
    while one is, waited for ever."""
    ext = new_ext(nodes=6, params={"FileBank": {"proof_deadline": 3 * AUDIT}})
    with ext:
        active_file(ext, 1000)  # one segment: a fragment on each of five nodes
        drawn = [(c.file_id, c.segment, c.fragment) for _ in range(3) for c in run_audit(ext)]
        assert drawn and len(drawn) == len(set(drawn))


def test_a_leaving_node_that_answers_its_challenge_moves_on_at_once():
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext)
        challenge = audit_with_one_silent_node(ext, stored)
        ext.dispatch(Origin.signed(challenge.node), "StorageNodes", "exit")
        next_block(ext)
        answer(ext, stored, challenge)
        for order in events_of(ext, RepairOrdered):
            ext.dispatch(Origin.signed(order.repairer), "FileBank", "confirm_repair", file_id=order.file_id,
                         segment=order.segment, fragment=order.fragment)
        assert ext.pallet(StorageNodes).nodes.get(challenge.node) is None  # repaired away: its exit is done
        assert not bank(ext).challenged.contains(stored.file_id, (challenge.segment, challenge.fragment))


def test_a_leaving_node_is_audited_on_what_it_confirmed_until_its_repairs_move_it():
    """A node that dropped its data and then asked to leave would otherwise get its stake back unchallenged:
    its fragments under exit repairs are still drawn, and a miss is slashed. A fragment it never confirmed is
    a confirmation it will not make (ordered as such), never a challenge."""
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext, 1000)  # one segment on five of six nodes
        unconfirmed = declare(ext, ALICE, 1000, seed=9)
        placement = bank(ext).placements.get(unconfirmed.file_id, 0)
        leaver = bank(ext).placements.get(stored.file_id, 0)[0]
        for fragment, node in enumerate(placement):
            if node != leaver:
                ext.dispatch(Origin.signed(node), "FileBank", "confirm", file_id=unconfirmed.file_id,
                             fragments=((0, fragment),))
        ext.dispatch(Origin.signed(leaver), "StorageNodes", "exit")
        next_block(ext)
        reasons = {order.file_id: order.reason for order in events_of(ext, RepairOrdered)}
        assert reasons[stored.file_id] is RepairReason.NodeExit
        assert leaver in placement and reasons[unconfirmed.file_id] is RepairReason.ConfirmationMissed
        challenges = [c for c in run_audit(ext) if c.node == leaver]
        assert [c.file_id for c in challenges] == [stored.file_id]
        run_to(ext, challenges[0].deadline + 1)  # silent: its data is gone
        assert_has_event(ext, AuditMissed(challenges[0].challenge_id, leaver))
        assert_has_event(ext, NodeSlashed(leaver, STAKE // 10))
        order = bank(ext).repair_orders.get(stored.file_id, (challenges[0].segment, challenges[0].fragment))
        assert order.reason is RepairReason.AuditMissed  # punished once: not challenged on it again
        assert not [c for c in run_audit(ext) if c.node == leaver]


def test_audits_draw_a_nodes_fragments_by_bytes_not_by_count():
    """A pass pays a node for every byte it holds, so a challenge must find a node that dropped its one large
    fragment among many tiny ones as often as that fragment's share of its bytes: drawn by count it was caught
    about one round in ten here, paid for the missing bytes meanwhile."""
    ext = new_ext(nodes=5)  # k + m = 5: every node holds a fragment of every segment
    with ext:
        large = active_file(ext, 6000)  # three fragments of ~680 bytes on each node
        files = {large.file_id: large} | {(tiny := active_file(ext, 1, seed=seed)).file_id: tiny for seed in range(10)}
        node = bank(ext).placements.get(large.file_id, 0)[0]
        share = sum(bank(ext).files.get(large.file_id).fragment_size_of(s) for s in range(3)) / \
            ext.pallet(StorageNodes).nodes.get(node).used
        assert 0.7 < share < 0.8  # of its bytes; 3 of its 13 fragments
        drawn = []
        for _ in range(10):
            for challenge in run_audit(ext):
                drawn.append(challenge.file_id)
                answer(ext, files[challenge.file_id], challenge)
        assert len(drawn) == 50 and drawn.count(large.file_id) >= 30  # ~38 by bytes; ~12 by count


def test_a_challenge_of_a_deleted_file_binds_no_node_of_its_declaration_again():
    """The owner deletes a file while one of its fragments is challenged and declares it again (same manifest,
    same id) until the new placement puts the challenged node on the same fragment: that node was never sent
    the new fragment, and its old challenge must neither be answered nor missed."""
    ext = new_ext(nodes=6, params={"FileBank": {"proof_deadline": 60}})
    with ext:
        stored = active_file(ext, 1000)
        challenge = run_audit(ext)[0]
        for _ in range(50):
            ext.dispatch(Origin.signed(ALICE), "FileBank", "delete", file_id=stored.file_id)
            next_block(ext)  # reaped: the id is free again
            ext.dispatch(Origin.signed(ALICE), "FileBank", "declare", manifest=stored.manifest.encode())
            if bank(ext).placements.get(stored.file_id, challenge.segment)[challenge.fragment] == challenge.node:
                break
        else:
            pytest.fail("the challenged node was never placed on its fragment again")
        assert ext.pallet(System).number.get() < challenge.deadline
        assert_noop(ext, NoLongerHeld, answer, ext, stored, challenge)
        before = ext.pallet(StorageNodes).nodes.get(challenge.node)
        run_to(ext, challenge.deadline + 1)
        assert not events_of(ext, AuditMissed) and not events_of(ext, NodeSlashed)
        assert ext.pallet(StorageNodes).nodes.get(challenge.node) == before


def test_an_unfinished_repair_goes_to_another_node_at_its_deadline():
    ext = new_ext(nodes=7)
    with ext:
        stored = active_file(ext, 1000)  # one segment on five of seven nodes: two candidates to repair
        challenge = audit_with_one_silent_node(ext, stored)
        run_to(ext, challenge.deadline + 1)
        (first,) = events_of(ext, RepairOrdered)
        run_to(ext, challenge.deadline + 1 + 5)  # the order's deadline: a confirmation is still in time
        assert not events_of(ext, RepairOrdered)
        next_block(ext)
        (second,) = events_of(ext, RepairOrdered)
        assert second.repairer not in (first.repairer, None)
        assert bank(ext).repair_orders.get(stored.file_id, (first.segment, first.fragment)).repairer == second.repairer


def test_a_node_whose_exit_deletions_ended_keeps_what_it_stores_after_it_registers_again():
    ext = new_ext(nodes=6, params={"FileBank": {"max_expiries_per_block": 1}})
    with ext:
        stored = active_file(ext, 3000)
        node = bank(ext).placements.get(stored.file_id, 0)[0]
        ext.dispatch(Origin.signed(node), "StorageNodes", "exit")
        ext.dispatch(Origin.signed(ALICE), "FileBank", "delete", file_id=stored.file_id)
        next_block(ext)  # one of its fragments looked at, then reaping empties it: its exit is over
        assert ext.pallet(StorageNodes).nodes.get(node) is None
        ext.dispatch(Origin.signed(node), "StorageNodes", "register", endpoint=b"http://again", capacity=CAPACITY,
                     stake=STAKE)
        declare(ext, ALICE, 3000, seed=7)
        assert bank(ext).fragment_count.get(node)
        next_block(ext)
        assert not events_of(ext, RepairOrdered) and not events_of(ext, FragmentReassigned)
        assert not bank(ext).exits.contains(node)


def test_repeated_misses_force_a_node_out_and_all_its_fragments_are_repaired():
    ext = new_ext(nodes=4)
    with ext:
        files = [active_file(ext, 3000, seed=seed, k=2, m=1) for seed in range(4)]
        victim = NODES[0]
        for _ in range(12):
            for challenge in run_audit(ext):
                if challenge.node != victim:
                    answer(ext, next(f for f in files if f.file_id == challenge.file_id), challenge)
            run_to(ext, ext.pallet(System).number.get() + 4)
            if ext.pallet(StorageNodes).nodes.get(victim).status is NodeStatus.ForcedOut:
                break
        node = ext.pallet(StorageNodes).nodes.get(victim)
        assert (node.status, node.consecutive_misses) == (NodeStatus.ForcedOut, 3)
        assert node.stake == 7_290  # three 10% slashes of 10,000
        next_block(ext)  # FileBank picks the exit up and orders the rest of the node's fragments repaired
        still_held = [bank(ext).node_fragments.get(victim, i) for i in range(bank(ext).fragment_count.get(victim))]
        assert still_held
        assert all(bank(ext).repair_orders.contains(file_id, (segment, fragment))
                   for file_id, segment, fragment in still_held)


def test_a_node_forced_out_during_a_block_is_not_given_fragments_later_in_that_block():
    ext = new_ext(nodes=4)
    with ext:
        placer = bank(ext)._placer()  # on_initialize's view of the nodes, built once per block
        for _ in range(3):
            ext.pallet(StorageNodes).record_miss(NODES[3])  # e.g. its third missed audit, earlier in the block
        assert ext.pallet(StorageNodes).nodes.get(NODES[3]).status is NodeStatus.ForcedOut
        assert placer.pick(bytes(32), b"label", NODES[:3], 100) is None


def test_health_goes_degraded_then_active_and_lost_when_a_segment_falls_below_k():
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext, 1000)  # one segment, k = 3 of 5
        placement = bank(ext).placements.get(stored.file_id, 0)
        ext.dispatch(Origin.signed(placement[0]), "StorageNodes", "exit")
        next_block(ext)
        assert status(ext, stored) is FileStatus.Degraded
        (order,) = events_of(ext, RepairOrdered)
        ext.dispatch(Origin.signed(order.repairer), "FileBank", "confirm_repair", file_id=stored.file_id,
                     segment=0, fragment=0)
        assert status(ext, stored) is FileStatus.Active
        for node in placement[1:4]:  # three of five gone: two left, fewer than k
            ext.dispatch(Origin.signed(node), "StorageNodes", "exit")
        next_block(ext)
        info = bank(ext).files.get(stored.file_id)
        assert (info.status, info.healthy, info.lost_segments) == (FileStatus.Lost, 2, 1)
        assert_has_event(ext, FileStatusChanged(stored.file_id, FileStatus.Lost))


# --- delete ---------------------------------------------------------------------------------------


def test_delete_returns_the_deposit_and_reaps_the_fragments():
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext)
        deposit = bank(ext).files.get(stored.file_id).deposit
        before = free(ext, ALICE)
        assert_noop(ext, NotFileOwner, ext.dispatch, Origin.signed(BOB), "FileBank", "delete", file_id=stored.file_id)
        assert_noop(ext, UnknownFile, ext.dispatch, Origin.signed(ALICE), "FileBank", "delete", file_id=b"\x01" * 32)
        ext.dispatch(Origin.signed(ALICE), "FileBank", "delete", file_id=stored.file_id)
        assert_last_event(ext, FileDeleted(stored.file_id))
        assert free(ext, ALICE) == before + deposit
        assert held(ext, HoldReason.FileDeposit, ALICE) == 0
        assert bank(ext).files.get(stored.file_id) is None and not bank(ext).files_of.contains(ALICE, stored.file_id)
        next_block(ext)
        assert all(ext.pallet(StorageNodes).nodes.get(node).used == 0 for node in NODES[:6])
        assert all(bank(ext).fragment_count.get(node) == 0 for node in NODES[:6])
        assert bank(ext).placements.get(stored.file_id, 0) is None
        assert bank(ext).reaping.get(stored.file_id) is None


SHORT_PAID = {"FileBank": {"prepaid_periods": 2, "max_paid_periods": 5}}
"""Files paid for 2 audit periods (20 blocks), renewable up to 5 periods ahead."""


def test_a_file_expires_when_its_paid_time_ends_unless_renewed():
    ext = new_ext(nodes=6, params=SHORT_PAID)
    with ext:
        stored = active_file(ext)
        file_id, stored_bytes = stored.file_id, bank(ext).files.get(stored.file_id).stored_bytes()
        deposit = bank(ext).files.get(file_id).deposit
        assert bank(ext).files.get(file_id).paid_until == 1 + 2 * AUDIT
        renew = lambda who, periods, fid=file_id: ext.dispatch(  # noqa: E731
            Origin.signed(who), "FileBank", "renew", file_id=fid, periods=periods)
        assert_noop(ext, BadPeriods, renew, BOB, 0)
        assert_noop(ext, BadPeriods, renew, BOB, 4)  # paid until 61: more than 5 periods past block 1
        assert_noop(ext, UnknownFile, renew, BOB, 1, b"\x01" * 32)
        assert_noop(ext, InsufficientFunds, renew, bytes([0x99]) * 32, 1)
        before, pool = free(ext, BOB), bank(ext).reward_pool.get()
        renew(BOB, 1)  # anyone may pay to keep a file
        assert_last_event(ext, FileRenewed(file_id, BOB, 1 + 3 * AUDIT))
        assert free(ext, BOB) == before - stored_bytes and bank(ext).reward_pool.get() == pool + stored_bytes
        run_to(ext, 1 + 3 * AUDIT)  # the first end passed: the renewal kept it
        assert bank(ext).files.contains(file_id)
        next_block(ext)
        assert_has_event(ext, FileExpired(file_id))
        assert_has_event(ext, FileDeleted(file_id))
        assert not bank(ext).files.contains(file_id) and held(ext, HoldReason.FileDeposit, ALICE) == 0
        assert deposit > 0  # back with the owner


def test_an_expired_file_in_use_is_deleted_at_its_last_unpin():
    ext = new_ext(nodes=6, params=SHORT_PAID)
    with ext:
        stored = active_file(ext)
        bank(ext).pin(stored.file_id)
        run_to(ext, 2 + 2 * AUDIT)
        assert_has_event(ext, FileExpired(stored.file_id))
        assert_has_event(ext, FileDeletionDeferred(stored.file_id, 1))
        assert_noop(ext, DeletionPending, ext.dispatch, Origin.signed(ALICE), "FileBank", "renew",
                    file_id=stored.file_id, periods=1)
        bank(ext).unpin(stored.file_id)
        assert_last_event(ext, FileDeleted(stored.file_id))


def test_a_pinned_file_is_deleted_at_its_last_unpin_and_takes_no_new_use_meanwhile():
    """Other pallets pin a file while their runs read it (a compute job's inputs): the owner's deletion waits."""
    ext = new_ext(nodes=6)
    with ext:
        stored = active_file(ext)
        files, file_id = bank(ext), stored.file_id
        deposit = files.files.get(file_id).deposit
        files.pin(file_id)
        files.pin(file_id)
        ext.dispatch(Origin.signed(ALICE), "FileBank", "delete", file_id=file_id)
        assert_last_event(ext, FileDeletionDeferred(file_id, 2))
        assert files.files.contains(file_id) and held(ext, HoldReason.FileDeposit, ALICE) == deposit
        assert files.deleting.contains(file_id)
        assert_noop(ext, DeletionPending, ext.dispatch, Origin.signed(ALICE), "FileBank", "delete", file_id=file_id)

        files.unpin(file_id)
        assert files.files.contains(file_id) and files.pins.get(file_id) == 1
        before = free(ext, ALICE)
        files.unpin(file_id)
        assert_last_event(ext, FileDeleted(file_id))
        assert free(ext, ALICE) == before + deposit and not files.files.contains(file_id)
        assert not files.pins.contains(file_id) and not files.deleting.contains(file_id)
        next_block(ext)
        assert all(files.fragment_count.get(node) == 0 for node in NODES[:6])  # reaped as after any delete


def test_a_locked_file_is_kept_from_its_owner_and_still_expires():
    """A verified job's outputs are locked: the provider that owns them may not delete what the submitter paid
    for; they go when their paid time ends, as any file."""
    ext = new_ext(nodes=6, params=SHORT_PAID)
    with ext:
        files, file_id = bank(ext), active_file(ext).file_id
        files.lock(file_id)
        files.lock(b"\x01" * 32)  # no such file: nothing to lock
        assert files.locked.contains(file_id) and not files.locked.contains(b"\x01" * 32)
        assert_noop(ext, FileLocked, ext.dispatch, Origin.signed(ALICE), "FileBank", "delete", file_id=file_id)
        run_to(ext, 2 + 2 * AUDIT)
        assert_has_event(ext, FileExpired(file_id))
        assert_has_event(ext, FileDeleted(file_id))
        assert not files.files.contains(file_id) and not files.locked.contains(file_id)
        assert held(ext, HoldReason.FileDeposit, ALICE) == 0  # the deposit back with the owner


def test_an_embargo_is_declared_with_the_file_and_ends_at_its_release_or_deletion():
    ext = new_ext(nodes=6)
    with ext:
        files = bank(ext)
        plain, released, deleted = (declare(ext, ALICE, 3000, seed=seed, embargoed=seed > 0) for seed in range(3))
        assert not files.is_embargoed(plain.file_id)
        assert files.is_embargoed(released.file_id) and files.is_embargoed(deleted.file_id)
        files.release(released.file_id)
        ext.dispatch(Origin.signed(ALICE), "FileBank", "delete", file_id=deleted.file_id)
        assert not files.is_embargoed(released.file_id) and not files.is_embargoed(deleted.file_id)
        assert files.files.contains(released.file_id)


def test_unpinning_a_file_nobody_deleted_only_ends_the_use():
    ext = new_ext(nodes=6)
    with ext:
        file_id = active_file(ext).file_id
        bank(ext).pin(file_id)
        bank(ext).unpin(file_id)
        assert bank(ext).files.contains(file_id) and not bank(ext).pins.contains(file_id)
        assert not bank(ext).deleting.contains(file_id)


def test_the_deadline_budget_gives_every_queue_a_share_before_the_first_takes_the_rest():
    """Shared out in queue order alone, a queue kept full (tiny uploads never confirmed re-queue their
    confirmation deadline again and again) took the whole budget: repairs and paid time ending waited without end."""
    from storage_node.pallets.file_bank import _shared_out

    assert _shared_out([100, 100, 5, 3], 64, 12) == [44, 12, 5, 3]
    assert _shared_out([0, 500, 0, 40], 64, 12) == [0, 52, 0, 12]
    assert _shared_out([3, 0, 0, 0], 64, 12) == [3, 0, 0, 0]
    assert sum(_shared_out([1000] * 4, 52, 12)) == 52


def test_parameters_whose_audit_records_overflow_are_refused_when_the_runtime_is_built():
    """5,000 nodes and one challenge a round: a pass's rounds_ppm (5·10⁹) overflows its u32, and encoding the
    challenge would fail every audit block's initialization."""
    with pytest.raises(AssertionError, match="rounds_ppm"):
        new_ext(params={"FileBank": {"challenges_per_audit": 1}, "StorageNodes": {"max_nodes": 5000}})
    new_ext(params={"FileBank": {"challenges_per_audit": 2}, "StorageNodes": {"max_nodes": 5000}})
