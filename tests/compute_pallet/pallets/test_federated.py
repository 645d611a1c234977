"""FederatedLearning, FRAME-style: a 3-participant, 2-round task with a no-show, end to end through ComputeJobs
(rewards follow scores, the no-show slashed, lineage reaches every round, update and the base model), and the
calls' refusals."""

from __future__ import annotations

import dataclasses

import pytest

from compute_pallet.commitment import update_commitment
from compute_pallet.formats import MAX_HEADER_BYTES
from compute_pallet.kinds import InvalidParams as KindRefusesParams
from compute_pallet.kinds import fedavg, result_digest
from compute_pallet.pallets.federated import (
    AlreadyCommitted,
    BadRedundancy,
    BadRounds,
    CommitClosed,
    CommitWindowClosed,
    CommitmentMismatch,
    ContributorRewarded,
    DeliveryWindowClosed,
    FederatedLearning,
    FileDeleting,
    FileNotPublic,
    FileNotReadable,
    HoldReason,
    InvalidParams,
    InsufficientFunds,
    NotCommitted,
    NotListed,
    NotMember,
    ParticipantSlashed,
    RewardTooLow,
    RoundAggregated,
    RoundAggregating,
    RoundFailed,
    StakeTooLow,
    TaskFinished,
    UnknownFile,
    UpdateNotOwned,
    UpdateTooLarge,
    WrongRound,
)
from compute_pallet.pallets.jobs import HoldReason as JobHold
from compute_pallet.pallets.jobs import ComputeJobs, JobFailed
from compute_pallet.pallets.types import JobStatus, SlotStatus, TaskStatus
from runtime.frame.pallet import Origin
from runtime.frame.testing import assert_noop
from runtime.hashing import blake2_256
from runtime.pallets.system import System
from storage_node.pallets.file_bank import FileBank, FileDeleted, FileLocked
from storage_node.pallets.types import FileStatus

from .mock import (
    ALICE,
    BOB,
    CAP,
    FEDAVG,
    PARTICIPANTS,
    PRICE,
    PROVIDERS,
    commit,
    copy_of,
    free,
    grant,
    heartbeat_all,
    held,
    job,
    jobs_pallet,
    new_ext,
    next_block,
    reveal,
    slot_providers,
    stored_file,
)

P1, P2, P3 = PARTICIPANTS
STAKE = 1_000
POOL = 10_000
AGGREGATION = b'{"aggregation": "mean"}'
VALIDATED = b'{"aggregation": "mean", "features": 4}'
"""A task with a validation set declares its width: it tells the chain what the aggregation's last input is."""


def salt(who: bytes, round: int) -> bytes:
    return blake2_256(b"fl salt" + who + bytes([round]))


def fl(ext) -> FederatedLearning:
    return ext.pallet(FederatedLearning)


def create(ext, *, base: bytes, validation: bytes | None, participants=PARTICIPANTS, **changes) -> int:
    task_id = fl(ext).next_task_id.get()
    args = dict(base_model=base, rounds=2, participants=participants, stake=STAKE, commit_period=4,
                deliver_period=4, reward_pool=POOL, validation=validation, price_cap=CAP, redundancy=2,
                aggregation_params=AGGREGATION if validation is None else VALIDATED)
    ext.dispatch(Origin.signed(ALICE), "FederatedLearning", "create_task", **{**args, **changes})
    return task_id


def commit_update(ext, task_id, round, who, update):
    ext.dispatch(Origin.signed(who), "FederatedLearning", "commit_update", task_id=task_id, round=round,
                 commitment=update_commitment(task_id, round, who, update, salt(who, round)))


def deliver(ext, task_id, round, who, update):
    ext.dispatch(Origin.signed(who), "FederatedLearning", "deliver_update", task_id=task_id, round=round,
                 update=update, salt=salt(who, round))


def until(ext, predicate, *, limit: int = 60) -> list:
    """Run blocks until ``predicate(events of the block)``; returns every event seen."""
    seen = []
    for _ in range(limit):
        next_block(ext)
        events = ext.events()
        seen += events
        if predicate(events):
            return seen
    raise AssertionError("the awaited event never came")


def bob_delivers(ext, task_id: int) -> bytes:
    """BOB joins the open task and delivers an update in round 0; returns the update's file id."""
    ext.dispatch(Origin.signed(BOB), "FederatedLearning", "join", task_id=task_id)
    update = stored_file(ext, BOB, seed=5)
    commit_update(ext, task_id, 0, BOB, update)
    deliver(ext, task_id, 0, BOB, update)
    return update


def until_aggregating(ext) -> tuple[int, list]:
    """Run blocks until a round's aggregation job is submitted: its id, and every event seen."""
    seen = until(ext, lambda events: any(isinstance(e, RoundAggregating) for e in events))
    return next(e.job_id for e in seen if isinstance(e, RoundAggregating)), seen


def one_round_aggregating(ext) -> tuple[bytes, int, int]:
    """A one-round open task on ALICE's base model, BOB's update delivered, until its aggregation job is
    submitted: (the base model, the task id, the job id)."""
    base = stored_file(ext, ALICE, seed=1)
    task_id = create(ext, base=base, validation=None, participants=(), rounds=1)
    bob_delivers(ext, task_id)
    job_id, _ = until_aggregating(ext)
    return base, task_id, job_id


def aggregate(ext, job_id: int, scores: tuple[int, ...], *models: bytes, digest: bytes | None = None) -> None:
    """The assigned providers agree on an aggregation (``digest``, by default one of their own): each names its
    model in ``models`` as its output, in slot order (the rest their own copy of the first, declared)."""
    digest = digest or blake2_256(b"fedavg" + models[0])
    assigned = slot_providers(ext, job_id)
    for who in assigned:
        commit(ext, job_id, who, digest)
    for i, who in enumerate(assigned):
        outputs = (models[i],) if i < len(models) else (copy_of(ext, models[0], who),)
        reveal(ext, job_id, who, digest, scores=scores, outputs=outputs)


def test_three_participants_two_rounds_one_no_show():
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        validation = stored_file(ext, ALICE, seed=2)
        alice_before = free(ext, ALICE)
        task_id = create(ext, base=base, validation=validation)
        funds = POOL + 2 * CAP * 3
        assert held(ext, HoldReason.TaskFunds, ALICE) == funds
        for who in PARTICIPANTS:
            ext.dispatch(Origin.signed(who), "FederatedLearning", "join", task_id=task_id)
        stake_before = {who: held(ext, HoldReason.ParticipantStake, who) for who in PARTICIPANTS}

        # round 0: P1 and P2 deliver, P3 commits and walks away
        updates0 = {who: stored_file(ext, who, seed=20 + i) for i, who in enumerate(PARTICIPANTS)}
        for who in PARTICIPANTS:
            commit_update(ext, task_id, 0, who, updates0[who])
        deliver(ext, task_id, 0, P1, updates0[P1])
        deliver(ext, task_id, 0, P2, updates0[P2])
        job0, seen = until_aggregating(ext)
        assert ParticipantSlashed(task_id, 0, P3, STAKE // 10) in seen
        record = job(ext, job0)
        assert record.kind == FEDAVG and record.submitter == ALICE and record.parent == base
        assert record.inputs == (base, updates0[P1], updates0[P2], validation) and record.params == VALIDATED
        global1 = stored_file(ext, slot_providers(ext, job0)[0], seed=100)  # uploaded and active
        aggregate(ext, job0, (3, 1), global1)
        seen = until(ext, lambda events: any(isinstance(e, RoundAggregated) for e in events))
        assert RoundAggregated(task_id, 0, job0, global1) in seen
        assert ContributorRewarded(task_id, 0, P1, 3, 3_750) in seen
        assert ContributorRewarded(task_id, 0, P2, 1, 1_250) in seen
        task = fl(ext).tasks.get(task_id)
        assert (task.round, task.global_model, task.status) == (1, global1, TaskStatus.Training)

        # round 1: everyone delivers
        updates1 = {who: stored_file(ext, who, seed=30 + i) for i, who in enumerate(PARTICIPANTS)}
        for who in PARTICIPANTS:
            commit_update(ext, task_id, 1, who, updates1[who])
            deliver(ext, task_id, 1, who, updates1[who])
        job1, _ = until_aggregating(ext)
        ordered = [who for who, _ in fl(ext).updates.iter_prefix((task_id, 1))]
        assert job(ext, job1).inputs == (global1, *(updates1[who] for who in ordered), validation)
        global2 = stored_file(ext, slot_providers(ext, job1)[0], seed=101)
        scores = {P1: 1, P2: 1, P3: 2}
        aggregate(ext, job1, tuple(scores[who] for who in ordered), global2)
        seen = until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))
        rewards1 = {e.contributor: e.reward for e in seen if isinstance(e, ContributorRewarded)}
        assert rewards1 == {P1: 1_250, P2: 1_250, P3: 2_500}
        assert TaskFinished(task_id, global2, 0) in seen

        # money: the pool went to contributors by score, the jobs' providers were paid, everything else is back
        assert held(ext, HoldReason.TaskFunds, ALICE) == 0 and held(ext, JobHold.JobEscrow, ALICE) == 0
        assert all(held(ext, HoldReason.ParticipantStake, who) == 0 for who in PARTICIPANTS)
        assert stake_before[P3] == STAKE
        jobs_paid = sum(slot.price for j in (job0, job1) for slot in job(ext, j).slots if slot.status is SlotStatus.Paid)
        assert jobs_paid == 4 * PRICE
        assert free(ext, ALICE) == alice_before - POOL - jobs_paid

        # lineage: from the final model back through both rounds to the base model
        walked_inputs, walked_jobs, model = set(), [], global2
        while (entry := jobs_pallet(ext).lineage.get(model)) is not None:
            walked_jobs.append(entry.job_id)
            walked_inputs |= set(entry.inputs)
            model = entry.parent
        assert model == base and walked_jobs == [job1, job0]
        assert set(updates1.values()) | {updates0[P1], updates0[P2], base, global1} <= walked_inputs
        rounds = [fl(ext).rounds.get(task_id, r) for r in (0, 1)]
        assert [r.global_out for r in rounds] == [global1, global2] and rounds[0].global_in == base
        assert set(rounds[0].contributors) == {P1, P2} and set(rounds[1].contributors) == set(PARTICIPANTS)
        assert fl(ext).model_rounds.get(global2) == (task_id, 1)
        assert job(ext, job1).status is JobStatus.Verified


def block(ext) -> int:
    return ext.pallet(System).number.get()


def join_all(ext, task_id: int, members=PARTICIPANTS) -> None:
    for who in members:
        ext.dispatch(Origin.signed(who), "FederatedLearning", "join", task_id=task_id)


def window_events(ext) -> list:
    return [e for e in ext.events() if isinstance(e, (CommitWindowClosed, DeliveryWindowClosed))]


def test_a_round_whose_every_member_committed_and_delivered_ends_without_idling():
    """The last commitment a listed task can get closes its commit window in that block, the delivery window then
    runs its full length from there, and the last delivery closes it: the round ends in the next block, not at
    the end of windows of 40 and 30 blocks."""
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, commit_period=40, deliver_period=30)
        began = fl(ext).tasks.get(task_id)
        first_looks = [began.commit_deadline + 1, began.deliver_deadline + 1]  # queued as the round began
        join_all(ext, task_id)
        updates = {who: stored_file(ext, who, seed=20 + i) for i, who in enumerate(PARTICIPANTS)}
        for who in PARTICIPANTS[:2]:
            commit_update(ext, task_id, 0, who, updates[who])
        next_block(ext)
        assert window_events(ext) == [] and fl(ext).tasks.get(task_id).committed == 2
        commit_update(ext, task_id, 0, P3, updates[P3])
        closed = block(ext)
        assert window_events(ext) == [CommitWindowClosed(task_id, 0, closed + 30)]
        task = fl(ext).tasks.get(task_id)
        assert (task.commit_deadline, task.deliver_deadline) == (closed, closed + 30)
        next_block(ext)
        assert_noop(ext, CommitClosed, commit_update, ext, task_id, 0, P3, updates[P3])
        for who in PARTICIPANTS[:2]:
            deliver(ext, task_id, 0, who, updates[who])
        next_block(ext)
        assert window_events(ext) == [] and fl(ext).tasks.get(task_id).delivered == 2
        deliver(ext, task_id, 0, P3, updates[P3])
        last = block(ext)
        assert window_events(ext) == [DeliveryWindowClosed(task_id, 0)]
        assert fl(ext).tasks.get(task_id).deliver_deadline == last
        next_block(ext)
        aggregating = [e for e in ext.events() if isinstance(e, RoundAggregating)]
        assert [e.task_id for e in aggregating] == [task_id] and not any(
            isinstance(e, ParticipantSlashed) for e in ext.events())

        job_id = aggregating[0].job_id  # the next round starts with full windows and fresh counts
        aggregate(ext, job_id, (1, 1, 1), stored_file(ext, slot_providers(ext, job_id)[0], seed=100))
        until(ext, lambda events: any(isinstance(e, RoundAggregated) for e in events))
        task = fl(ext).tasks.get(task_id)
        assert (task.round, task.committed, task.delivered) == (1, 0, 0)
        assert (task.commit_deadline, task.deliver_deadline) == (block(ext) + 40, block(ext) + 70)
        commit_update(ext, task_id, 1, P1, updates[P1])  # (the round then lasts to its delivery deadline)
        task = fl(ext).tasks.get(task_id)
        assert first_looks[0] < task.commit_deadline < first_looks[1] < task.deliver_deadline
        while block(ext) <= first_looks[1]:  # round 0's queued looks, left at its old deadlines, end nothing
            next_block(ext)
            assert fl(ext).tasks.get(task_id) == task


def test_a_delivery_in_the_last_block_anyone_may_commit_in_closes_nothing():
    """The last block of the commit window still takes commitments: a delivery made in it, even of every update
    committed so far, leaves the delivery window open for a member committing later in that block."""
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, commit_period=4, deliver_period=10)
        join_all(ext, task_id, PARTICIPANTS[:2])
        updates = {who: stored_file(ext, who, seed=20 + i) for i, who in enumerate(PARTICIPANTS[:2])}
        commit_update(ext, task_id, 0, P1, updates[P1])
        while block(ext) < fl(ext).tasks.get(task_id).commit_deadline:
            next_block(ext)
        deliver(ext, task_id, 0, P1, updates[P1])
        commit_update(ext, task_id, 0, P2, updates[P2])
        assert window_events(ext) == []
        next_block(ext)
        deliver(ext, task_id, 0, P2, updates[P2])
        assert window_events(ext) == [DeliveryWindowClosed(task_id, 0)]
        next_block(ext)
        assert any(isinstance(e, RoundAggregating) for e in ext.events())
        assert not any(isinstance(e, ParticipantSlashed) for e in ext.events())


def test_a_round_nobody_committed_to_ends_with_its_commit_window():
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, commit_period=5, deliver_period=40)
        join_all(ext, task_id)
        commit_deadline = fl(ext).tasks.get(task_id).commit_deadline
        seen = until(ext, lambda events: any(isinstance(e, RoundFailed) for e in events))
        assert block(ext) == commit_deadline + 1 and RoundFailed(task_id, 0) in seen
        task = fl(ext).tasks.get(task_id)
        assert task.round == 1 and task.commit_deadline == block(ext) + 5


def test_a_member_that_committed_and_does_not_deliver_is_slashed_when_the_shortened_window_ends():
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, commit_period=20, deliver_period=6)
        join_all(ext, task_id)
        updates = {who: stored_file(ext, who, seed=20 + i) for i, who in enumerate(PARTICIPANTS)}
        for who in PARTICIPANTS:
            commit_update(ext, task_id, 0, who, updates[who])
        closed = block(ext)
        next_block(ext)
        for who in PARTICIPANTS[:2]:
            deliver(ext, task_id, 0, who, updates[who])
        while block(ext) < closed + 6:
            next_block(ext)
            assert window_events(ext) == [] and not any(isinstance(e, RoundAggregating) for e in ext.events())
        next_block(ext)
        assert ParticipantSlashed(task_id, 0, P3, STAKE // 10) in ext.events()
        assert any(isinstance(e, RoundAggregating) for e in ext.events())


def test_windows_stay_open_while_a_member_may_still_commit():
    """A listed participant that has not joined could still join and commit, and so could anyone while an open task
    has room: the commit window runs its length, and deliveries made inside it (the chain takes them; the SDK
    waits) do not close the delivery window. Past the commit deadline, the last committed update delivered closes
    it. A full open task closes its commit window like a listed one."""
    ext = new_ext(providers=3, params={"FederatedLearning": {"max_participants": 2}})
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        listed = create(ext, base=base, validation=None, participants=(P1, P2), commit_period=6, deliver_period=30)
        join_all(ext, listed, PARTICIPANTS[:1])  # P2 has not joined
        updates = {who: stored_file(ext, who, seed=20 + i) for i, who in enumerate(PARTICIPANTS)}
        commit_update(ext, listed, 0, P1, updates[P1])
        deliver(ext, listed, 0, P1, updates[P1])
        assert window_events(ext) == []
        open_task = create(ext, base=base, validation=None, participants=(), commit_period=6, deliver_period=30)
        join_all(ext, open_task, PARTICIPANTS[:1])
        commit_update(ext, open_task, 0, P1, updates[P1])
        assert window_events(ext) == []
        join_all(ext, open_task, PARTICIPANTS[1:2])  # now full
        commit_update(ext, open_task, 0, P2, updates[P2])
        assert window_events(ext) == [CommitWindowClosed(open_task, 0, block(ext) + 30)]

        task = fl(ext).tasks.get(listed)
        while block(ext) < task.commit_deadline:
            next_block(ext)
            assert not any(isinstance(e, RoundAggregating) and e.task_id == listed for e in ext.events())
        assert fl(ext).tasks.get(listed) == task  # nothing closed
        next_block(ext)  # the commit window ran out with its one committed update delivered: the round ends
        assert any(isinstance(e, RoundAggregating) and e.task_id == listed for e in ext.events())

    ext = new_ext(providers=3)
    with ext:  # the same listed task whose members deliver only once the commit window ran out
        base = stored_file(ext, ALICE, seed=1)
        listed = create(ext, base=base, validation=None, commit_period=6, deliver_period=30)
        join_all(ext, listed, PARTICIPANTS[:2])
        updates = {who: stored_file(ext, who, seed=20 + i) for i, who in enumerate(PARTICIPANTS[:2])}
        for who in PARTICIPANTS[:2]:
            commit_update(ext, listed, 0, who, updates[who])
        while block(ext) <= fl(ext).tasks.get(listed).commit_deadline:
            next_block(ext)
        deliver(ext, listed, 0, P1, updates[P1])
        assert window_events(ext) == []
        deliver(ext, listed, 0, P2, updates[P2])
        assert window_events(ext) == [DeliveryWindowClosed(listed, 0)]
        next_block(ext)
        assert any(isinstance(e, RoundAggregating) and e.task_id == listed for e in ext.events())


def test_a_round_whose_aggregation_fails_keeps_the_global_model_and_pays_nothing():
    ext = new_ext(providers=2)
    with ext:
        base, task_id, job_id = one_round_aggregating(ext)
        before = free(ext, BOB)
        seen = until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))  # nobody commits
        assert TaskFinished(task_id, base, POOL) in seen and JobFailed(job_id, CAP * 3) in seen
        assert free(ext, BOB) == before + STAKE and held(ext, HoldReason.TaskFunds, ALICE) == 0


def test_files_deleted_while_a_task_reads_them_are_kept_until_it_no_longer_does():
    """The task pins its model and validation set while it runs, a delivered update until its round's
    aggregation job ends: their owners' deletions wait, so nobody can break the task for the others; a deleting
    file is no new update or task input."""
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, participants=(), rounds=2)
        files = ext.pallet(FileBank)
        ext.dispatch(Origin.signed(ALICE), "FileBank", "delete", file_id=base)
        assert files.deleting.contains(base) and files.pins.get(base) == 1
        update = bob_delivers(ext, task_id)
        ext.dispatch(Origin.signed(BOB), "FileBank", "delete", file_id=update)
        assert files.deleting.contains(update) and files.files.contains(update)
        assert_noop(ext, FileDeleting, create, ext, base=update, validation=None)
        assert_noop(ext, FileDeleting, create, ext, base=base, validation=None)

        job_id, _ = until_aggregating(ext)
        assert job(ext, job_id).inputs == (base, update) and files.pins.get(update) == 1  # the job's own
        model = stored_file(ext, slot_providers(ext, job_id)[0], seed=700)  # uploaded and active
        aggregate(ext, job_id, (1,), model)
        assert job(ext, job_id).status is JobStatus.Verified
        assert FileDeleted(update) in ext.events() and not files.files.contains(update)
        assert not files.pins.contains(update) and not files.deleting.contains(update)
        assert files.files.contains(base)  # the task still reads it

        seen = until(ext, lambda events: any(isinstance(e, RoundAggregated) for e in events))
        assert fl(ext).tasks.get(task_id).global_model == model and files.pins.get(model) == 1
        assert FileDeleted(base) in seen and not files.files.contains(base)  # the task's pin was its last use
        until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))  # round 2: no update
        assert not files.pins.contains(model) and files.files.contains(model)  # unpinned, not deleted


def test_the_aggregating_provider_cannot_delete_the_model_before_the_task_adopts_it():
    """The aggregating provider tries to delete its output in the verdict's block, before the task adopts it:
    the verdict locked it (the task paid for it), so the round adopts it as any other."""
    ext = new_ext(providers=3)
    with ext:
        base, task_id, job_id = one_round_aggregating(ext)
        provider = slot_providers(ext, job_id)[0]
        model = stored_file(ext, provider, seed=700)
        aggregate(ext, job_id, (1,), model)
        assert_noop(ext, FileLocked, ext.dispatch, Origin.signed(provider), "FileBank", "delete", file_id=model)
        seen = until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))
        assert RoundAggregated(task_id, 0, job_id, model) in seen and TaskFinished(task_id, model, 0) in seen


def test_a_round_adopts_the_first_agreeing_model_later_rounds_can_read():
    """The providers agree, and the first provider's copy of the model is lost after the verdict (its storage
    nodes lost its fragments: set here as failed audits would): the round adopts the second provider's copy,
    which later rounds' providers can read, and locks it, whichever copy the job's verdict adopted. (A private
    or deleted copy loses the job's verdict: ``test_jobs``.)"""
    ext = new_ext(providers=3)
    with ext:
        base, task_id, job_id = one_round_aggregating(ext)
        providers = slot_providers(ext, job_id)
        usable = stored_file(ext, providers[1], seed=701)
        lost = copy_of(ext, usable, providers[0])
        aggregate(ext, job_id, (1,), lost, usable)
        bank = ext.pallet(FileBank)
        bank.files.insert(lost, dataclasses.replace(bank.files.get(lost), status=FileStatus.Lost))
        seen = until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))
        assert RoundAggregated(task_id, 0, job_id, usable) in seen
        assert fl(ext).rounds.get(task_id, 0).global_out == usable
        assert ext.pallet(FileBank).locked.contains(usable)


def test_a_provider_naming_a_file_of_other_bytes_as_the_round_s_model_is_outvoted():
    """The providers agree on the digest, and the first names as its model a public file of other bytes (a
    backdoored model, or junk that would fail every later round): it was paid and its file adopted. The
    verdict compares what the named files hold: the two providers storing the true model outvote it."""
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, participants=(), rounds=1, redundancy=3)
        bob_delivers(ext, task_id)
        job_id, _ = until_aggregating(ext)
        providers = slot_providers(ext, job_id)
        junk = stored_file(ext, providers[0], seed=666)
        copies = [stored_file(ext, who, seed=700) for who in providers[1:]]  # the same bytes, stored alike
        aggregate(ext, job_id, (1,), junk, *copies)
        seen = until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))
        assert RoundAggregated(task_id, 0, job_id, copies[0]) in seen
        assert [slot.status for slot in job(ext, job_id).slots] == [SlotStatus.Slashed, SlotStatus.Paid,
                                                                    SlotStatus.Paid]


def test_a_round_with_no_usable_agreeing_model_fails():
    ext = new_ext(providers=3)
    with ext:
        base, task_id, job_id = one_round_aggregating(ext)
        providers = slot_providers(ext, job_id)
        models = [stored_file(ext, who, seed=700 + i, encrypted=True) for i, who in enumerate(providers)]
        aggregate(ext, job_id, (1,), *models)
        seen = until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))
        assert RoundFailed(task_id, 0) in seen and TaskFinished(task_id, base, POOL) in seen
        assert not any(isinstance(e, (ContributorRewarded, RoundAggregated)) for e in seen)


@pytest.mark.parametrize("verdict", ["refusal", "scores not one per update"])
def test_a_round_whose_aggregation_is_no_model_fails_and_pays_nothing(verdict):
    """A verified refusal (fedavg could not average the updates: BOB's is no model) names the refusal's record
    as its output, and a result with another count of scores than updates is not fedavg's: neither becomes
    the global model, and no contributor is paid for it."""
    ext = new_ext(providers=3)
    with ext:
        base, task_id, job_id = one_round_aggregating(ext)
        providers = slot_providers(ext, job_id)
        record = stored_file(ext, providers[0], seed=700)  # public and active: a model file as far as the chain sees
        if verdict == "refusal":
            aggregate(ext, job_id, (1,), record, digest=result_digest({}, {"refused": "MalformedModel"}))
        else:
            aggregate(ext, job_id, (1, 1), record)
        seen = until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))
        assert job(ext, job_id).status is JobStatus.Verified  # the providers are paid for the verified result
        assert RoundFailed(task_id, 0) in seen and TaskFinished(task_id, base, POOL) in seen
        assert not any(isinstance(e, (ContributorRewarded, RoundAggregated)) for e in seen)
        assert fl(ext).rounds.get(task_id, 0).global_out is None


def test_each_round_spends_the_aggregation_budget_fixed_at_creation():
    """A later change of the market's parameters (a runtime upgrade raising ``dispute_extra``) does not make
    the task's rounds release more than the creator held for them, from another task's funds."""
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, participants=(), rounds=2)
        other = create(ext, base=base, validation=None, participants=(), rounds=2)
        budget = fl(ext).tasks.get(task_id).round_budget
        assert budget == ext.pallet(ComputeJobs).escrow_for(CAP, 2)
        jobs = ext.pallet(ComputeJobs)
        jobs.config = dataclasses.replace(jobs.config, dispute_extra=jobs.config.dispute_extra + 2)
        bob_delivers(ext, task_id)
        until_aggregating(ext)
        assert fl(ext).tasks.get(task_id).funds == POOL + budget  # one round's budget spent, as held
        assert held(ext, HoldReason.TaskFunds, ALICE) == sum(fl(ext).tasks.get(t).funds for t in (task_id, other))


def test_an_aggregation_that_needs_longer_than_the_configured_deadline_gets_what_it_needs():
    """ComputeJobs' commit window covers its kind's estimate of the run; a round's aggregation deadline is
    stretched to fit it and a dispute rather than have every round's job refused."""
    ext = new_ext(providers=3, params={"FederatedLearning": {"aggregation_deadline": 5}})
    with ext:
        _, _, job_id = one_round_aggregating(ext)
        record = job(ext, job_id)
        reveal_period = ext.pallet(ComputeJobs).config.reveal_period
        assert record.deadline == record.submitted_at + 2 * (record.commit_window + reveal_period) > \
            record.submitted_at + 5


@pytest.mark.parametrize("walks_away", [False, True], ids=["nobody-commits", "a-member-commits-and-walks-away"])
def test_round_ends_past_the_per_block_bound_are_ended_a_block_later(walks_away: bool):
    """Two tasks whose rounds close in the same block, one round end a block: the second carries over. Nobody
    committing, they close with their commit windows; a member committing to each and never delivering, with
    their delivery windows (their commit windows' looks then end nothing)."""
    ext = new_ext(providers=3, params={"FederatedLearning": {"max_round_ends_per_block": 1}})
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        tasks = [create(ext, base=base, validation=None, participants=(), rounds=1) for _ in range(2)]
        if walks_away:
            for task_id in tasks:
                ext.dispatch(Origin.signed(BOB), "FederatedLearning", "join", task_id=task_id)
                commit_update(ext, task_id, 0, BOB, base)
        task = fl(ext).tasks.get(tasks[0])
        closes = task.deliver_deadline if walks_away else task.commit_deadline
        ended = {}
        for _ in range(2):
            seen = until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))
            ended |= {e.task_id: block(ext) for e in seen if isinstance(e, TaskFinished)}
        assert ended == {tasks[0]: closes + 1, tasks[1]: closes + 2}
        assert held(ext, HoldReason.TaskFunds, ALICE) == 0
        assert not ext.pallet(FileBank).pins.contains(base)  # both tasks let go of their model


def test_create_task_refuses_bad_tasks_with_nothing_held():
    ext = new_ext(providers=2)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        private = stored_file(ext, BOB, seed=2, encrypted=True)
        own_private = stored_file(ext, ALICE, seed=3, encrypted=True)
        for changes, error in (
            ({"base": blake2_256(b"none")}, UnknownFile),
            ({"base": private}, FileNotReadable),
            ({"base": own_private}, FileNotPublic),  # the creator's own: the participants could not read it
            ({"validation": own_private}, FileNotPublic),
            ({"stake": 1}, StakeTooLow),
            ({"reward_pool": 1}, RewardTooLow),
            ({"reward_pool": 10**15}, InsufficientFunds),
            ({"aggregation_params": b'{"aggregation": "mode"}'}, InvalidParams),
            ({"aggregation_params": b"not json"}, InvalidParams),
            ({"aggregation_params": VALIDATED}, InvalidParams),  # a validation set's width, and no validation set
            ({"validation": base, "aggregation_params": AGGREGATION}, InvalidParams),  # a validation set, undeclared
            ({"aggregation_params": b'{"aggregation": "mean", "weights": [1, 2, 3]}'}, InvalidParams),  # each
            # round has its own updates in its own order: positional weights fit none, and fedavg refused them
            ({"aggregation_params": b'{"aggregation": "trimmed_mean", "trim": 1}'}, InvalidParams),  # needs 4
            # updates, and the task lists 3 participants: every round would fail
            ({"redundancy": 0}, BadRedundancy),
            ({"redundancy": 1}, BadRedundancy),  # one provider's reveal would set every round's scores alone
            ({"redundancy": 6}, BadRedundancy),  # above ComputeJobs' MaxRedundancy: every round's job refused
        ):
            args = {"base": base, "validation": None, **changes}
            assert_noop(ext, error, create, ext, **args)
        assert held(ext, HoldReason.TaskFunds, ALICE) == 0


def test_updates_are_refused_out_of_turn_unopened_or_not_the_participants_own():
    ext = new_ext(providers=2)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, participants=(BOB, PROVIDERS[0]))
        assert_noop(ext, NotListed, ext.dispatch, Origin.signed(ALICE), "FederatedLearning", "join",
                    task_id=task_id)
        update = stored_file(ext, BOB, seed=5)
        assert_noop(ext, NotMember, commit_update, ext, task_id, 0, BOB, update)
        ext.dispatch(Origin.signed(BOB), "FederatedLearning", "join", task_id=task_id)
        assert_noop(ext, WrongRound, commit_update, ext, task_id, 1, BOB, update)
        assert_noop(ext, NotCommitted, deliver, ext, task_id, 0, BOB, update)
        commit_update(ext, task_id, 0, BOB, update)
        assert_noop(ext, AlreadyCommitted, commit_update, ext, task_id, 0, BOB, update)
        assert_noop(ext, CommitmentMismatch, deliver, ext, task_id, 0, BOB, base)
        ext.dispatch(Origin.signed(PROVIDERS[0]), "FederatedLearning", "join", task_id=task_id)
        commit_update(ext, task_id, 0, PROVIDERS[0], base)  # commits to someone else's file
        assert_noop(ext, UpdateNotOwned, deliver, ext, task_id, 0, PROVIDERS[0], base)
        private = stored_file(ext, PROVIDERS[0], seed=6, encrypted=True)
        grant(ext, private, PROVIDERS[0], ALICE)  # the creator may read it; the aggregation's providers not
        other = create(ext, base=base, validation=None, participants=(PROVIDERS[0],))
        ext.dispatch(Origin.signed(PROVIDERS[0]), "FederatedLearning", "join", task_id=other)
        commit_update(ext, other, 0, PROVIDERS[0], private)
        assert_noop(ext, FileNotPublic, deliver, ext, other, 0, PROVIDERS[0], private)
        deliver(ext, task_id, 0, BOB, update)
        while ext.pallet(System).number.get() <= fl(ext).tasks.get(task_id).commit_deadline:
            next_block(ext)
        assert_noop(ext, CommitClosed, commit_update, ext, task_id, 0, BOB, update)


def test_an_update_larger_than_the_task_s_model_could_be_is_refused():
    """fedavg refuses a model past its bound, and its refusal failed the round for every participant: one
    member's oversized update was enough. An update holds the global model's tensors; only its header, at most
    ``MAX_HEADER_BYTES``, may differ."""
    ext = new_ext(providers=2)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None)
        ext.dispatch(Origin.signed(P1), "FederatedLearning", "join", task_id=task_id)
        oversized = stored_file(ext, P1, seed=5, size=3000 + MAX_HEADER_BYTES + 1)
        commit_update(ext, task_id, 0, P1, oversized)
        assert_noop(ext, UpdateTooLarge, deliver, ext, task_id, 0, P1, oversized)
        ext.dispatch(Origin.signed(P2), "FederatedLearning", "join", task_id=task_id)
        largest = stored_file(ext, P2, seed=6, size=3000 + MAX_HEADER_BYTES)
        commit_update(ext, task_id, 0, P2, largest)
        deliver(ext, task_id, 0, P2, largest)


def test_open_tasks_bound_a_trimmed_mean_by_the_most_participants_they_may_have():
    ext = new_ext(providers=2)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        most = fl(ext).config.max_participants
        for trim, refused in (((most - 2) // 2, False), ((most - 2) // 2 + 1, True)):
            params = b'{"aggregation": "trimmed_mean", "trim": %d}' % trim
            if refused:
                assert_noop(ext, InvalidParams, create, ext, base=base, validation=None, participants=(),
                            aggregation_params=params)
            else:
                create(ext, base=base, validation=None, participants=(), aggregation_params=params)


def test_a_task_nobody_delivers_to_for_max_idle_rounds_ends_and_releases_everything():
    """A task of 10 rounds that its only member abandoned held the creator's pool and escrow, and the member's
    stake, until its last round (up to 1,000 rounds of two-day windows); it ends after MaxIdleRounds rounds in
    a row that gave no new model: round 0's, whose update nobody could aggregate, counts as one."""
    ext = new_ext(providers=0)  # round 0's delivered update is aggregated by no one: the round fails at once
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        before = free(ext, ALICE)
        task_id = create(ext, base=base, validation=None, participants=(), rounds=10)
        funds = fl(ext).tasks.get(task_id).funds
        bob_delivers(ext, task_id)  # then walks away
        idle = fl(ext).config.max_idle_rounds
        seen = until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events), limit=200)
        failed = [e.round for e in seen if isinstance(e, RoundFailed)]
        assert failed == list(range(idle)) and TaskFinished(task_id, base, funds) in seen
        assert free(ext, ALICE) == before and held(ext, HoldReason.ParticipantStake, BOB) == 0
        assert fl(ext).tasks.get(task_id).status is TaskStatus.Finished


def test_a_member_feeding_junk_fedavg_refuses_cannot_keep_a_task_alive():
    """An open task's one member delivers junk each round: fedavg refuses it, and the refusal is verified (its
    providers paid from the round's budget). A delivered update reset the idle count, so the task ran all its
    rounds (up to 1,000), paying for an aggregation each; now each refused round counts as idle."""
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, participants=(), rounds=10)
        ext.dispatch(Origin.signed(BOB), "FederatedLearning", "join", task_id=task_id)
        idle = fl(ext).config.max_idle_rounds
        for round in range(idle):
            heartbeat_all(ext, PROVIDERS[:3])  # (their heartbeats would be stale by the third round's job)
            junk = stored_file(ext, BOB, seed=100 + round)
            commit_update(ext, task_id, round, BOB, junk)
            deliver(ext, task_id, round, BOB, junk)
            job_id, _ = until_aggregating(ext)
            record = stored_file(ext, slot_providers(ext, job_id)[0], seed=200 + round)
            aggregate(ext, job_id, (), record, digest=result_digest({}, {"refused": "MalformedModel"}))
            seen = until(ext, lambda events: any(isinstance(e, (RoundFailed, TaskFinished)) for e in events))
        assert [e.global_model for e in seen if isinstance(e, TaskFinished)] == [base]
        task = fl(ext).tasks.get(task_id)
        assert task.status is TaskStatus.Finished and task.round == idle - 1 and task.idle_rounds == idle


def test_a_trimmed_mean_round_with_too_few_updates_submits_no_job_and_counts_as_idle():
    """A trimmed mean with trim 1 needs four updates: a round with one would be refused by fedavg, on every
    provider, after being paid for. No job is submitted; the round fails, idle."""
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, participants=(), rounds=10,
                         aggregation_params=b'{"aggregation": "trimmed_mean", "trim": 1}')
        funds = fl(ext).tasks.get(task_id).funds
        bob_delivers(ext, task_id)
        seen = until(ext, lambda events: any(isinstance(e, RoundFailed) for e in events))
        assert not any(isinstance(e, RoundAggregating) for e in seen)
        task = fl(ext).tasks.get(task_id)
        assert (task.round, task.idle_rounds, task.funds) == (1, 1, funds)


def test_a_round_ends_even_if_fedavg_refuses_params_it_once_took(monkeypatch):
    """A runtime upgrade's stricter fedavg parser refusing a task's stored params raised out of the round's end,
    in a hook: no block could be built. The round fails instead."""
    ext = new_ext(providers=3)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        task_id = create(ext, base=base, validation=None, participants=(), rounds=1)
        bob_delivers(ext, task_id)

        def stricter(params: bytes) -> None:
            raise KindRefusesParams("aggregation", "no longer taken")

        monkeypatch.setattr(fedavg, "parse", stricter)
        seen = until(ext, lambda events: any(isinstance(e, (RoundFailed, RoundAggregating)) for e in events))
        assert RoundFailed(task_id, 0) in seen and not any(isinstance(e, RoundAggregating) for e in seen)


@pytest.mark.parametrize("rounds", [0, 1_001])
def test_round_counts_are_bounded(rounds):
    ext = new_ext(providers=2)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        assert_noop(ext, BadRounds, create, ext, base=base, validation=None, rounds=rounds)


def test_an_aggregation_no_provider_can_take_leaves_the_task_funds_untouched():
    ext = new_ext(providers=0)
    with ext:
        base = stored_file(ext, ALICE, seed=1)
        before = free(ext, ALICE)
        task_id = create(ext, base=base, validation=None, participants=(), rounds=1)
        bob_delivers(ext, task_id)
        seen = until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))
        assert RoundFailed(task_id, 0) in seen and not any(isinstance(e, RoundAggregating) for e in seen)
        assert TaskFinished(task_id, base, POOL + CAP * 3) in seen
        assert free(ext, ALICE) == before and jobs_pallet(ext).next_job_id.get() == 0
