"""ComputeJobs, FRAME-style: submission and its refusals, assignment, commit-reveal, verdicts that pay and slash,
disputes, no-shows and stale providers replaced, failures refunded, lineage, escrow exact to the unit."""

from __future__ import annotations

import dataclasses

import pytest

from compute_pallet.pallets.jobs import (
    AbsurdResources,
    MemoryTooLow,
    BadDeadline,
    BadInputs,
    BadOutputs,
    BadRedundancy,
    CommitmentMismatch,
    DisputeOpened,
    HoldReason,
    InputDeleted,
    InputNotActive,
    InputNotReadable,
    InputsWithheld,
    InsufficientFunds,
    InvalidParams,
    JobAssigned,
    JobFailed,
    JobSubmitted,
    JobVerified,
    NotAssigned,
    NotCommitPhase,
    NotCommitted,
    NotEnoughProviders,
    NotRevealPhase,
    OutputNotOwned,
    OutputNotStored,
    ParamsTooLong,
    ProviderPaid,
    TooManyScores,
    UnknownInput,
    UnknownJob,
    UnknownKind,
)
from compute_pallet.kinds import estimate
from compute_pallet.pallets.providers import HoldReason as ProviderHold
from compute_pallet.pallets.providers import (
    AlreadyLeaving,
    NotLeaving,
    NotRegistered,
    ProviderDeregistered,
    ProviderLeaving,
    ProviderSlashed,
    ProviderStale,
    ProviderStays,
)
from compute_pallet.pallets.types import (
    JobStatus,
    LineageEntry,
    Offer,
    Resources,
    SlashReason,
    SlotStatus,
)
from compute_pallet.pallets.weights import Judged
from runtime.frame.pallet import Origin
from runtime.frame.testing import assert_has_event, assert_noop
from runtime.hashing import blake2_256
from runtime.pallets.system import System
from runtime.weights import READ, US
from storage_node.pallets.access import StorageAccess
from storage_node.pallets.file_bank import DeletionPending, FileBank, FileDeleted, FileDeletionDeferred, FileLocked
from storage_node.pallets.file_bank import HoldReason as FileHold

from .mock import (
    ALICE,
    BOB,
    CAP,
    HARDWARE,
    HONEST,
    PRICE,
    PROVIDERS,
    RESOURCES,
    STAKE,
    TRAIN,
    WRONG,
    commit,
    copy_of,
    declare,
    free,
    grant,
    heartbeat_all,
    held,
    job,
    jobs_pallet,
    new_ext,
    next_block,
    output_file,
    providers_pallet,
    referees,
    register_provider,
    reveal,
    run_to,
    salt_of,
    slot_providers,
    stored_file,
    submit,
)

EVE = bytes([0xEE]) * 32
"""An account with no balance."""


def run_job(ext, job_id, digests: dict[bytes, bytes] | None = None) -> None:
    """Every assigned provider commits, then every committed one reveals (``digests[who]``, or HONEST)."""
    digests = digests or {}
    for who in slot_providers(ext, job_id):
        commit(ext, job_id, who, digests.get(who, HONEST))
    for who in slot_providers(ext, job_id, SlotStatus.Committed):
        reveal(ext, job_id, who, digests.get(who, HONEST))


def totals(ext, accounts) -> dict[bytes, int]:
    """Free plus held balance of each account."""
    return {who: free(ext, who) + held(ext, HoldReason.JobEscrow, who) + held(ext, ProviderHold.ProviderStake, who)
            for who in accounts}


# --- submission --------------------------------------------------------------------------------


def test_submit_holds_escrow_and_assigns_distinct_eligible_providers():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        before = free(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,), redundancy=2)
        record = job(ext, job_id)
        assigned = [slot.provider for slot in record.slots]
        assert len(set(assigned)) == 2 and set(assigned) <= set(PROVIDERS[:3])
        assert record.escrow == CAP * 3 == held(ext, HoldReason.JobEscrow, ALICE)
        assert free(ext, ALICE) == before - CAP * 3
        assert record.status is JobStatus.Committing and all(slot.price == PRICE for slot in record.slots)
        n = ext.pallet(System).number.get()
        assert_has_event(ext, JobSubmitted(job_id, ALICE, record.kind, CAP * 3, n + 100))
        # the commit period (5) and the kind's estimate of the run (1 s: one 2 s block)
        assert record.commit_window == 5 + 1
        assert_has_event(ext, JobAssigned(job_id, 0, tuple(assigned), n + 6))
        assert all(providers_pallet(ext).providers.get(who).active_jobs == 1 for who in assigned)


def test_a_submission_pays_for_the_providers_registered_not_the_most_there_may_be():
    """``submit`` is admitted at the weight of ``max_providers`` (16 here) read to assign it; once it ran it says
    it read the 3 registered."""
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        weights = jobs_pallet(ext).config.weights
        post = ext.dispatch(Origin.signed(ALICE), "ComputeJobs", "submit", kind=TRAIN, inputs=(dataset,),
                            params=b'{"hidden": [16]}', resources=RESOURCES, price_cap=CAP,
                            deadline=ext.pallet(System).number.get() + 100, redundancy=2)
        assert post.actual_weight == weights.submit(1, 2, 3)
        assert weights.submit(1, 2).ref_time - post.actual_weight.ref_time == 13 * (2 * READ + 3 * US)


def test_a_refused_submission_pays_for_the_providers_it_read():
    """A submission refused before the draw (an unknown kind) read no provider; one the draw could not fill (r = 4
    of 3 providers) read all three. Each says so, and is charged that instead of ``max_providers`` (16)."""
    ext = new_ext(providers=3)
    with ext:
        weights = jobs_pallet(ext).config.weights
        args = dict(inputs=(stored_file(ext, ALICE),), params=b'{"hidden": [16]}', resources=RESOURCES,
                    price_cap=CAP, deadline=ext.pallet(System).number.get() + 100)
        with pytest.raises(UnknownKind) as early:
            ext.dispatch(Origin.signed(ALICE), "ComputeJobs", "submit", kind=9, redundancy=2, **args)
        assert early.value.actual_weight == weights.submit(1, 2, 0)
        with pytest.raises(NotEnoughProviders) as drawn:
            ext.dispatch(Origin.signed(ALICE), "ComputeJobs", "submit", kind=TRAIN, redundancy=4, **args)
        assert drawn.value.actual_weight == weights.submit(1, 4, 3)
        assert drawn.value.actual_weight.ref_time < weights.submit(1, 4).ref_time


def test_only_the_last_reveal_pays_for_a_verdict_and_for_the_job_it_judged():
    """Any reveal is admitted as the one that judges the largest job there may be (``max_slots`` slots, each with
    ``max_outputs`` outputs, over ``max_inputs`` inputs); a reveal that leaves another to come says it did not, and
    the last one says what it judged: two slots of one output over one input."""
    ext = new_ext(providers=3)
    with ext:
        job_id = submit(ext, ALICE, inputs=(stored_file(ext, ALICE),), redundancy=2)
        for who in slot_providers(ext, job_id):
            commit(ext, job_id, who, HONEST)
        weights = jobs_pallet(ext).config.weights
        first, last = slot_providers(ext, job_id, SlotStatus.Committed)
        outsider = next(who for who in PROVIDERS if who not in (first, last))
        with pytest.raises(NotCommitted) as refused:  # refused before judging anything
            reveal(ext, job_id, outsider, HONEST)
        assert refused.value.actual_weight == weights.reveal(1, judges=False)
        assert reveal(ext, job_id, first, HONEST).actual_weight == weights.reveal(1, judges=False)
        assert job(ext, job_id).status is JobStatus.Revealing
        judged = reveal(ext, job_id, last, HONEST).actual_weight
        assert job(ext, job_id).status is JobStatus.Verified
        assert judged == weights.reveal(1, judged=Judged(slots=2, inputs=1, outputs=1))
        assert weights.reveal(1, judges=False).ref_time < judged.ref_time < weights.reveal(1).ref_time


LONG_RUN = b'{"hidden": [256], "epochs": 1000}'
"""train's estimate over the mock's 3,000-byte dataset: 15 s, 8 blocks of 2 s (longer than the commit period,
short of the storage mock's audits making the dataset unreadable)."""


def test_a_long_run_gets_a_commit_window_that_fits_it_from_every_assignment():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        run_blocks = estimate("train", LONG_RUN, [3000]).blocks(2000)
        assert run_blocks == 8
        n = ext.pallet(System).number.get()
        job_id = submit(ext, ALICE, inputs=(dataset,), params=LONG_RUN, redundancy=2)
        window = 5 + run_blocks
        assert job(ext, job_id).commit_window == window and job(ext, job_id).phase_deadline == n + window
        first, late = slot_providers(ext, job_id)
        commit(ext, job_id, first, HONEST)
        while ext.pallet(System).number.get() < n + window:  # alive, and the late one still has its slot
            heartbeat_all(ext, PROVIDERS[:3])
            next_block(ext)
        assert job(ext, job_id).slots[1].status is SlotStatus.Assigned
        next_block(ext)  # past the window: the late provider is replaced, and its replacement gets a whole one
        m = ext.pallet(System).number.get()
        record = job(ext, job_id)
        assert record.slots[1].status is SlotStatus.NoShow and record.phase_deadline == m + window
        assert_has_event(ext, JobAssigned(job_id, 0, (record.slots[2].provider,), m + window))


def test_a_deadline_too_soon_for_the_run_is_refused_with_nothing_escrowed():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        n = ext.pallet(System).number.get()
        window = 5 + estimate("train", LONG_RUN, [3000]).blocks(2000)
        # enough for the commit period and a reveal, not for the run as well
        assert_noop(ext, BadDeadline, submit, ext, ALICE, inputs=(dataset,), params=LONG_RUN,
                    deadline=n + window + 3 - 1)
        assert held(ext, HoldReason.JobEscrow, ALICE) == 0
        submit(ext, ALICE, inputs=(dataset,), params=LONG_RUN, deadline=n + window + 3)


def test_assignment_is_a_function_of_the_chain_state():
    picks = []
    for _ in range(2):
        ext = new_ext(providers=6)
        with ext:
            dataset = stored_file(ext, ALICE)
            picks.append([slot_providers(ext, submit(ext, ALICE, inputs=(dataset,), redundancy=3)) for _ in range(4)])
    assert picks[0] == picks[1]
    assert len({tuple(p) for p in picks[0]}) > 1, "different jobs draw differently"


def test_providers_storing_the_inputs_are_preferred():
    ext = new_ext(providers=4, params={"ComputeJobs": {"locality_bonus": 10**6}})
    with ext:
        dataset = stored_file(ext, ALICE)
        holders = ext.pallet(FileBank).placements.get(dataset, 0)
        register_provider(ext, holders[0])  # a storage node holding a fragment of the input is also a provider
        for _ in range(4):
            job_id = submit(ext, ALICE, inputs=(dataset,), redundancy=1)
            assert slot_providers(ext, job_id) == [holders[0]]
            run_job(ext, job_id)


@pytest.mark.parametrize("change, error", [
    ({"kind": 9}, UnknownKind),
    ({"inputs": ()}, BadInputs),
    ({"inputs": (b"\x00" * 32,) * 17}, BadInputs),
    ({"params": b"x" * 4097}, ParamsTooLong),
    ({"params": b'{"hidden": 16'}, InvalidParams),  # not JSON
    ({"params": b'{"hidden": [16], "hiden": 8}'}, InvalidParams),  # a field train does not know
    ({"params": b'{"hidden": [0]}'}, InvalidParams),  # out of range
    ({"resources": Resources(0, 1024, 0)}, AbsurdResources),
    ({"resources": Resources(10**6, 1024, 0)}, AbsurdResources),
    ({"resources": Resources(2, 1 << 40, 0)}, AbsurdResources),
    ({"resources": Resources(2, 1024, 1 << 40)}, AbsurdResources),
    ({"resources": Resources(2, 255, 0)}, MemoryTooLow),  # train's estimate: at least the 256 MiB interpreter
    ({"inputs": "dataset, model, model"}, BadInputs),  # more than train takes
    ({"redundancy": 0}, BadRedundancy),
    ({"redundancy": 6}, BadRedundancy),
    ({"deadline": 5}, BadDeadline),
    ({"deadline": 10**6}, BadDeadline),
    ({"inputs": (blake2_256(b"no such file"),)}, UnknownInput),
    ({"redundancy": 4}, NotEnoughProviders),
    ({"price_cap": PRICE - 1}, NotEnoughProviders),
    ({"resources": Resources(2, 1024, 8_192)}, NotEnoughProviders),  # nobody has a GPU
])
def test_bad_submissions_are_refused_with_nothing_escrowed(change, error):
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        if change.get("inputs") == "dataset, model, model":
            change = {"inputs": (dataset, stored_file(ext, ALICE, seed=1), stored_file(ext, ALICE, seed=2))}
        args = {"inputs": (dataset,), **change}
        assert_noop(ext, error, submit, ext, ALICE, **args)
        assert held(ext, HoldReason.JobEscrow, ALICE) == 0


def test_inputs_must_be_active_and_public_or_the_submitters_own():
    """BOB's grant lets him read ALICE's private file, not grant it to his job's providers: they could never
    read it, and he would pay each its price for a job that fails (its inputs withheld)."""
    ext = new_ext(providers=3)
    with ext:
        pending = declare(ext, ALICE, 3000, seed=1).file_id
        private = stored_file(ext, ALICE, seed=2, encrypted=True)
        public = stored_file(ext, ALICE, seed=3)
        assert_noop(ext, InputNotActive, submit, ext, ALICE, inputs=(pending,))
        assert_noop(ext, InputNotReadable, submit, ext, BOB, inputs=(public, private))
        grant(ext, private, ALICE, BOB)
        assert_noop(ext, InputNotReadable, submit, ext, BOB, inputs=(public, private))
        submit(ext, BOB, inputs=(public,))  # a public file anyone may use
        submit(ext, ALICE, inputs=(private,))  # the owner may use its own private file


def delete(ext, file_id: bytes, owner: bytes = ALICE) -> None:
    ext.dispatch(Origin.signed(owner), "FileBank", "delete", file_id=file_id)


def test_an_input_deleted_while_jobs_read_it_is_kept_until_the_last_verdict():
    """A job pins its inputs: their owner's deletion waits for the verdict (a verified job here, a failed one
    below), and no new job may use the file meanwhile."""
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        files = ext.pallet(FileBank)
        deposit = files.files.get(dataset).deposit
        first = submit(ext, ALICE, inputs=(dataset,))
        second = submit(ext, BOB, inputs=(dataset, dataset), redundancy=1)  # a file twice is two uses
        delete(ext, dataset)
        assert_has_event(ext, FileDeletionDeferred(dataset, 3))
        assert files.files.contains(dataset) and held(ext, FileHold.FileDeposit, ALICE) == deposit
        assert_noop(ext, InputDeleted, submit, ext, BOB, inputs=(dataset,))
        assert_noop(ext, DeletionPending, delete, ext, dataset)

        run_job(ext, first)
        assert job(ext, first).status is JobStatus.Verified
        assert files.files.contains(dataset) and files.pins.get(dataset) == 2  # the second job still reads it
        for _ in range(job(ext, second).deadline):  # nobody commits: no-shows replaced, then the job fails
            if job(ext, second).status is JobStatus.Failed:
                break
            next_block(ext)
        assert job(ext, second).status is JobStatus.Failed
        assert_has_event(ext, FileDeleted(dataset))  # in the block of the verdict
        assert not files.files.contains(dataset) and not files.pins.contains(dataset)
        assert not files.deleting.contains(dataset) and held(ext, FileHold.FileDeposit, ALICE) == 0


def test_a_file_no_live_job_reads_is_deleted_at_once():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        run_job(ext, submit(ext, ALICE, inputs=(dataset,)))  # its pin ended with the verdict
        delete(ext, dataset)
        assert_has_event(ext, FileDeleted(dataset))
        assert not ext.pallet(FileBank).files.contains(dataset)


def test_a_submitter_who_cannot_pay_is_refused():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        assert_noop(ext, InsufficientFunds, submit, ext, ALICE, inputs=(dataset,), price_cap=10**12)
        assert_noop(ext, InsufficientFunds, submit, ext, EVE, inputs=(dataset,))


# --- commit, reveal, verdicts ------------------------------------------------------------------


def test_agreeing_results_are_paid_and_the_rest_refunded_to_the_unit():
    ext = new_ext(providers=3, prices={PROVIDERS[0]: 700, PROVIDERS[1]: 900, PROVIDERS[2]: 1_100})
    with ext:
        dataset = stored_file(ext, ALICE)
        everyone = (ALICE, *PROVIDERS[:3])
        before = totals(ext, everyone)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        assigned = slot_providers(ext, job_id)
        prices = {who: providers_pallet(ext).providers.get(who).offers[0].price for who in assigned}
        run_job(ext, job_id)
        record = job(ext, job_id)
        assert record.status is JobStatus.Verified and record.digest == HONEST and record.escrow == 0
        after = totals(ext, everyone)
        paid = sum(prices.values())
        assert after[ALICE] == before[ALICE] - paid
        for who in assigned:
            assert after[who] == before[who] + prices[who]
        assert held(ext, HoldReason.JobEscrow, ALICE) == 0
        assert_has_event(ext, JobVerified(job_id, HONEST, record.outputs, paid, CAP * 3 - paid))
        assert (record.escrowed, record.refunded) == (CAP * 3, CAP * 3 - paid)  # kept, as the event said
        assert jobs_pallet(ext).lineage.get(record.outputs[0]) == LineageEntry(
            job_id, record.kind, (dataset,), tuple(assigned), None, ext.pallet(System).number.get())
        assert all(providers_pallet(ext).providers.get(who).jobs_verified == 1 for who in assigned)
        files = ext.pallet(FileBank)  # the submitter paid for the outputs: their provider may not delete them
        owner = files.files.get(record.outputs[0]).owner
        assert owner in assigned and all(files.locked.contains(file_id) for file_id in record.outputs)
        assert_noop(ext, FileLocked, ext.dispatch, Origin.signed(owner), "FileBank", "delete",
                    file_id=record.outputs[0])


def test_a_private_copy_the_submitter_was_never_granted_is_not_the_jobs_output():
    ext = new_ext(providers=2)
    with ext:
        job_id = submit(ext, ALICE, inputs=(stored_file(ext, ALICE),))
        first, second = slot_providers(ext, job_id)
        withheld = stored_file(ext, first, seed=801, encrypted=True)
        granted = copy_of(ext, withheld, second)
        grant(ext, granted, second, ALICE)
        for who in (first, second):
            commit(ext, job_id, who, HONEST)
        reveal(ext, job_id, first, HONEST, outputs=(withheld,))
        reveal(ext, job_id, second, HONEST, outputs=(granted,))
        record = job(ext, job_id)
        assert record.status is JobStatus.Verified and record.outputs == (granted,)


@pytest.mark.parametrize("named", ["other bytes", "a private copy", "a deleted copy"])
def test_a_provider_that_names_other_bytes_than_its_digest_loses_the_dispute(named):
    """Two providers agree on the digest, and the first names as its output a file of other bytes, a private
    copy the submitter may not read, or its copy deleted after its reveal (before the verdict locks anything).
    The digest binds the bytes, not the file: the first was paid, and a federated round could adopt its junk
    as the next global model. The verdict compares what the outputs hold: the first disagrees, and a dispute's
    referee, naming its own copy of the true bytes, outvotes it."""
    ext = new_ext(providers=3)
    with ext:
        job_id = submit(ext, ALICE, inputs=(stored_file(ext, ALICE),))
        first, second = slot_providers(ext, job_id)
        true = stored_file(ext, second, seed=801)
        lie = {"other bytes": lambda: stored_file(ext, first, seed=666),
               "a private copy": lambda: stored_file(ext, first, seed=801, encrypted=True),
               "a deleted copy": lambda: copy_of(ext, true, first)}[named]()
        for who in (first, second):
            commit(ext, job_id, who, HONEST)
        reveal(ext, job_id, first, HONEST, outputs=(lie,))
        if named == "a deleted copy":
            ext.dispatch(Origin.signed(first), "FileBank", "delete", file_id=lie)
        reveal(ext, job_id, second, HONEST, outputs=(true,))
        (referee,) = referees(ext, job_id)
        assert_has_event(ext, DisputeOpened(job_id, (referee,)))
        commit(ext, job_id, referee, HONEST)
        reveal(ext, job_id, referee, HONEST, outputs=(copy_of(ext, true, referee),))
        record = job(ext, job_id)
        assert record.status is JobStatus.Verified and record.outputs == (true,)
        statuses = {slot.provider: slot.status for slot in record.slots}
        assert statuses == {first: SlotStatus.Slashed, second: SlotStatus.Paid, referee: SlotStatus.Paid}
        assert ext.pallet(FileBank).locked.contains(true)


def test_private_outputs_agree_when_they_are_the_same_ciphertext():
    """Honest providers seal a private output under the key ``output_seal`` derives from the job, its private
    inputs' keys and the bytes: their copies are the same ciphertext, and compare as public outputs do."""
    ext = new_ext(providers=2)
    with ext:
        job_id = submit(ext, ALICE, inputs=(stored_file(ext, ALICE),))
        first, second = slot_providers(ext, job_id)
        for who in (first, second):
            commit(ext, job_id, who, HONEST)
        sealed = stored_file(ext, first, seed=900, encrypted=True)
        reveal(ext, job_id, first, HONEST, outputs=(sealed,))
        reveal(ext, job_id, second, HONEST, outputs=(copy_of(ext, sealed, second),))
        record = job(ext, job_id)
        assert record.status is JobStatus.Verified
        assert [slot.status for slot in record.slots] == [SlotStatus.Paid, SlotStatus.Paid]


def test_a_referee_copying_a_revealed_digest_with_a_private_file_of_its_own_agrees_with_nobody():
    """Private outputs compared as "private", whatever they held: a dispute's referee, drawn after the
    reveals, could copy either digest off the chain, name any private file of its own, and decide the verdict
    without running anything (the honest provider slashed whenever it sided with the liar). Now its file's
    content must match too, which it cannot make without the output's bytes; the job fails unjudged."""
    ext = new_ext(providers=3)
    with ext:
        job_id = submit(ext, ALICE, inputs=(stored_file(ext, ALICE, seed=1, encrypted=True),))
        honest, liar = slot_providers(ext, job_id)
        for who, digest in ((honest, HONEST), (liar, WRONG)):
            commit(ext, job_id, who, digest)
        reveal(ext, job_id, honest, HONEST, outputs=(stored_file(ext, honest, seed=900, encrypted=True),))
        reveal(ext, job_id, liar, WRONG, outputs=(stored_file(ext, liar, seed=901, encrypted=True),))
        (referee,) = referees(ext, job_id)
        commit(ext, job_id, referee, WRONG)  # copied off the liar's reveal
        reveal(ext, job_id, referee, WRONG, outputs=(stored_file(ext, referee, seed=902, encrypted=True),))
        record = job(ext, job_id)
        assert record.status is JobStatus.Failed
        assert {slot.status for slot in record.slots} == {SlotStatus.Unjudged}
        assert not any(isinstance(event, ProviderSlashed) for event in ext.events())


def test_a_wrong_result_is_caught_by_a_dispute_and_slashed_while_the_honest_are_paid():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        honest, liar = slot_providers(ext, job_id)
        before = totals(ext, (ALICE, *PROVIDERS[:3]))
        run_job(ext, job_id, {liar: WRONG})
        (referee,) = referees(ext, job_id)
        assert_has_event(ext, DisputeOpened(job_id, (referee,)))
        assert job(ext, job_id).round == 1
        run_job(ext, job_id)
        record = job(ext, job_id)
        assert record.status is JobStatus.Verified and record.digest == HONEST
        statuses = {slot.provider: slot.status for slot in record.slots}
        assert statuses == {honest: SlotStatus.Paid, liar: SlotStatus.Slashed, referee: SlotStatus.Paid}
        slash = STAKE // 10
        assert_has_event(ext, ProviderSlashed(liar, job_id, slash, SlashReason.DisputeLost))
        after = totals(ext, (ALICE, *PROVIDERS[:3]))
        assert after[ALICE] == before[ALICE] - 2 * PRICE
        assert after[honest] == before[honest] + PRICE and after[referee] == before[referee] + PRICE
        assert after[liar] == before[liar] - slash
        info = providers_pallet(ext).providers.get(liar)
        assert (info.stake, info.disputes_lost, info.active_jobs) == (STAKE - slash, 1, 0)
        assert jobs_pallet(ext).lineage.get(record.outputs[0]).providers == (honest, referee)


def test_a_copied_commitment_cannot_be_opened_by_the_copier():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        worker, copier = slot_providers(ext, job_id)
        commit(ext, job_id, worker, HONEST)
        copied = job(ext, job_id).slots[0].commitment
        ext.dispatch(Origin.signed(copier), "ComputeJobs", "commit", job_id=job_id, commitment=copied)
        reveal(ext, job_id, worker, HONEST)
        outputs = (output_file(ext, copier, 1),)
        for salt in (salt_of(worker), salt_of(copier)):  # neither the worker's opening nor its own opens it
            assert_noop(ext, CommitmentMismatch, ext.dispatch, Origin.signed(copier), "ComputeJobs", "reveal",
                        job_id=job_id, digest=HONEST, salt=salt, outputs=outputs, scores=())
        run_to(ext, job(ext, job_id).phase_deadline + 1)  # the copier never reveals: slashed as a liar would be
        assert_has_event(ext, ProviderSlashed(copier, job_id, STAKE // 10, SlashReason.Unrevealed))
        assert providers_pallet(ext).providers.get(copier).no_shows == 1
        (referee,) = referees(ext, job_id)  # one reveal cannot verify r = 2: the dispute round re-runs it
        run_job(ext, job_id)
        record = job(ext, job_id)
        assert record.status is JobStatus.Verified
        assert {slot.provider for slot in record.slots if slot.status is SlotStatus.Paid} == {worker, referee}


def test_a_no_show_is_slashed_and_replaced_and_the_job_completes():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        present, absent = slot_providers(ext, job_id)
        commit(ext, job_id, present, HONEST)
        before = totals(ext, (ALICE, *PROVIDERS[:3]))
        run_to(ext, job(ext, job_id).phase_deadline + 1)
        assert_has_event(ext, ProviderSlashed(absent, job_id, STAKE // 20, SlashReason.NoShow))
        (replacement,) = slot_providers(ext, job_id)
        assert replacement not in (present, absent)
        run_job(ext, job_id)
        record = job(ext, job_id)
        assert record.status is JobStatus.Verified
        after = totals(ext, (ALICE, *PROVIDERS[:3]))
        assert after[ALICE] == before[ALICE] - 2 * PRICE
        assert after[absent] == before[absent] - STAKE // 20
        assert providers_pallet(ext).providers.get(absent).no_shows == 1


def test_a_provider_that_stops_heartbeating_loses_its_assignments_at_once():
    ext = new_ext(providers=3, params={"ComputeJobs": {"commit_period": 50}})
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,), deadline=200)
        alive, silent = slot_providers(ext, job_id)
        others = tuple(who for who in PROVIDERS[:3] if who != silent)
        commit(ext, job_id, alive, HONEST)
        seen = []
        for _ in range(providers_pallet(ext).config.heartbeat_timeout + 1):  # well before the commit deadline
            heartbeat_all(ext, others)
            next_block(ext)
            seen += ext.events()
        assert ProviderStale(silent) in seen
        assert ProviderSlashed(silent, job_id, STAKE // 20, SlashReason.NoShow) in seen
        (replacement,) = slot_providers(ext, job_id)
        assert replacement not in (alive, silent)
        assert providers_pallet(ext).providers.get(silent).active_jobs == 0
        run_job(ext, job_id)
        assert job(ext, job_id).status is JobStatus.Verified


def test_a_provider_that_goes_stale_with_its_commitment_unopened_is_slashed_as_a_liar_would_be():
    """Seeing the other reveal disagree with its commitment, a provider could stop heartbeating rather than
    reveal: losing its slot as stale in the reveal phase costs what losing the dispute would."""
    ext = new_ext(providers=3, params={"ComputeJobs": {"reveal_period": 50}})
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,), deadline=300)
        honest, liar = slot_providers(ext, job_id)
        commit(ext, job_id, honest, HONEST)
        commit(ext, job_id, liar, WRONG)
        reveal(ext, job_id, honest, HONEST)
        seen = []
        for _ in range(providers_pallet(ext).config.heartbeat_timeout + 1):  # well before the reveal deadline
            heartbeat_all(ext, tuple(who for who in PROVIDERS[:3] if who != liar))
            next_block(ext)
            seen += ext.events()
        assert ProviderSlashed(liar, job_id, STAKE // 10, SlashReason.Unrevealed) in seen
        assert job(ext, job_id).slots[1].status is SlotStatus.NoShow


def test_without_a_replacement_the_job_fails_and_everything_is_refunded():
    ext = new_ext(providers=2)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        present, absent = slot_providers(ext, job_id)
        commit(ext, job_id, present, HONEST)
        before = free(ext, ALICE)
        run_to(ext, job(ext, job_id).phase_deadline + 1)
        assert_has_event(ext, JobFailed(job_id, CAP * 3))
        assert job(ext, job_id).refunded == CAP * 3
        assert free(ext, ALICE) == before + CAP * 3 and held(ext, HoldReason.JobEscrow, ALICE) == 0
        statuses = {slot.provider: slot.status for slot in job(ext, job_id).slots}
        assert statuses == {present: SlotStatus.Unjudged, absent: SlotStatus.NoShow}
        assert providers_pallet(ext).providers.get(present).stake == STAKE  # the one that worked keeps all


def test_phase_ends_past_the_per_block_bound_are_handled_a_block_later():
    """Three jobs whose commit phases end in one block, one phase end a block: the others carry over, and
    every job still moves on (here: its no-shows slashed, then failed when no replacement fits)."""
    ext = new_ext(providers=3, params={"ComputeJobs": {"max_expiries_per_block": 1}})
    with ext:
        dataset = stored_file(ext, ALICE)
        jobs = [submit(ext, ALICE, inputs=(dataset,), redundancy=1) for _ in range(3)]
        for _ in range(job(ext, jobs[0]).deadline + 3):
            heartbeat_all(ext, PROVIDERS[:3])  # alive, never committing: only the phase ends move the jobs
            next_block(ext)
        assert [job(ext, job_id).status for job_id in jobs] == [JobStatus.Failed] * 3
        assert held(ext, HoldReason.JobEscrow, ALICE) == 0 and not ext.pallet(FileBank).pins.contains(dataset)
        assert all(providers_pallet(ext).providers.get(who).active_jobs == 0 for who in PROVIDERS[:3])


@pytest.mark.parametrize("phase", ["commit", "reveal"])
def test_a_phase_past_its_deadline_takes_nothing_while_its_end_waits_in_a_backlog(phase):
    """The second job's phase end is carried over a block: its late provider may not commit (or reveal) in the
    meantime, which would have opened a reveal phase ending in the past, or escaped its slash."""
    ext = new_ext(providers=3, params={"ComputeJobs": {"max_expiries_per_block": 1}})
    with ext:
        dataset = stored_file(ext, ALICE)
        jobs = [submit(ext, ALICE, inputs=(dataset,), redundancy=1) for _ in range(2)]
        late = slot_providers(ext, jobs[1])[0]
        if phase == "reveal":
            for job_id in jobs:
                commit(ext, job_id, slot_providers(ext, job_id)[0], HONEST)
        deadline = job(ext, jobs[1]).phase_deadline
        assert job(ext, jobs[0]).phase_deadline == deadline
        while ext.pallet(System).number.get() <= deadline:  # the first job's phase end is handled, the second's
            heartbeat_all(ext, PROVIDERS[:3])               # carried over
            next_block(ext)
        if phase == "commit":
            assert job(ext, jobs[1]).status is JobStatus.Committing
            assert_noop(ext, NotCommitPhase, commit, ext, jobs[1], late, HONEST)
        else:
            assert job(ext, jobs[1]).status is JobStatus.Revealing
            assert_noop(ext, NotRevealPhase, reveal, ext, jobs[1], late, HONEST)
        next_block(ext)
        reason = SlashReason.NoShow if phase == "commit" else SlashReason.Unrevealed
        assert [(e.provider, e.reason) for e in ext.events() if isinstance(e, ProviderSlashed)] == [(late, reason)]


@pytest.mark.parametrize("granted_to_one", [True, False])
def test_providers_whose_inputs_were_withheld_are_paid_not_slashed_and_the_job_fails(granted_to_one):
    """An honest provider cannot run a job whose private input was never granted to it; the chain sees that,
    so at the commit deadline such a slot is paid for the time it was held, and the job fails with the rest
    refunded. The provider it was granted to, which ran the job and committed, is paid too: else a submitter
    granting one provider only would get its result for nothing."""
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE, encrypted=True)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        granted, withheld = slot_providers(ext, job_id)
        if granted_to_one:
            grant(ext, dataset, ALICE, granted)  # the granted one runs and commits; the other waits in vain
            commit(ext, job_id, granted, HONEST)
        else:
            granted, withheld = None, (granted, withheld)
        everyone = (ALICE, *PROVIDERS[:3])
        before = totals(ext, everyone)
        run_to(ext, job(ext, job_id).phase_deadline + 1)

        record = job(ext, job_id)
        worked = () if granted is None else (granted,)
        compensated = (withheld,) if granted is not None else withheld
        paid_to = compensated + worked
        assert record.status is JobStatus.Failed
        assert {slot.provider: slot.status for slot in record.slots} == {
            **{who: SlotStatus.InputsWithheld for who in compensated}, **{who: SlotStatus.Paid for who in worked}}
        for who in compensated:
            assert_has_event(ext, InputsWithheld(job_id, who, PRICE))
        for who in worked:
            assert_has_event(ext, ProviderPaid(job_id, who, PRICE))
        paid = PRICE * len(paid_to)
        assert_has_event(ext, JobFailed(job_id, CAP * 3 - paid))
        assert (record.paid, record.refunded, record.escrow) == (paid, CAP * 3 - paid, 0)
        after = totals(ext, everyone)
        assert after[ALICE] == before[ALICE] - paid and held(ext, HoldReason.JobEscrow, ALICE) == 0
        for who in PROVIDERS[:3]:
            assert after[who] == before[who] + (PRICE if who in paid_to else 0)  # nobody slashed
            info = providers_pallet(ext).providers.get(who)
            assert (info.no_shows, info.active_jobs, info.stake) == (0, 0, STAKE)
        assert not any(isinstance(event, ProviderSlashed) for event in ext.events())


def test_a_job_with_a_private_input_is_only_assigned_to_providers_that_can_be_granted_it():
    """A provider with no encryption key can never be granted a private input: drawn, it sat out its slot
    (paid, as a withheld one) and failed the job for the providers that ran it."""
    ext = new_ext(providers=3)
    with ext:
        keyless = PROVIDERS[3]
        register_provider(ext, keyless)
        ext.pallet(StorageAccess).keys.remove(keyless)  # (registered without one)
        private = stored_file(ext, ALICE, encrypted=True)
        assigned = {who for _ in range(4) for who in slot_providers(ext, submit(ext, ALICE, inputs=(private,)))}
        assert keyless not in assigned
        public = stored_file(ext, ALICE, seed=5)
        assert keyless in {who for _ in range(6) for who in slot_providers(ext, submit(ext, ALICE, inputs=(public,)))}


def granted_private_job(ext) -> tuple[int, tuple[bytes, ...]]:
    """A job of ALICE's over a private dataset she granted to both its assigned providers; (its id, them)."""
    dataset = stored_file(ext, ALICE, encrypted=True)
    job_id = submit(ext, ALICE, inputs=(dataset,))
    providers = slot_providers(ext, job_id)
    for who in providers:
        grant(ext, dataset, ALICE, who)
    return job_id, tuple(providers)


def test_a_dispute_whose_referee_was_withheld_pays_it_and_both_reveals():
    """The referee of a private job is never granted the input: it is paid for the slot, as any withheld one,
    and so is each first-round reveal, the wrong one too (else the honest one went unpaid, and a submitter
    withholding its referees' input got the result it already held for one price)."""
    ext = new_ext(providers=3)
    with ext:
        job_id, (honest, liar) = granted_private_job(ext)
        run_job(ext, job_id, {liar: WRONG})
        (referee,) = referees(ext, job_id)
        run_to(ext, job(ext, job_id).phase_deadline + 1)
        record = job(ext, job_id)
        assert record.status is JobStatus.Failed
        assert {slot.provider: slot.status for slot in record.slots} == {
            honest: SlotStatus.Paid, liar: SlotStatus.Paid, referee: SlotStatus.InputsWithheld}
        assert record.paid == 3 * PRICE and not any(isinstance(e, ProviderSlashed) for e in ext.events())


def test_a_provider_that_could_read_its_inputs_and_did_not_commit_is_still_a_no_show():
    ext = new_ext(providers=3)
    with ext:
        job_id, (present, absent) = granted_private_job(ext)
        commit(ext, job_id, present, HONEST)
        run_to(ext, job(ext, job_id).phase_deadline + 1)
        assert_has_event(ext, ProviderSlashed(absent, job_id, STAKE // 20, SlashReason.NoShow))
        assert job(ext, job_id).status is JobStatus.Committing  # replaced, as any no-show


def test_the_disputes_referee_is_drawn_after_the_last_reveal_from_a_hash_nobody_knew():
    """The referee was drawn in the block of the reveal that opened the dispute, from its parent's hash: the
    last revealer could compute the draw beforehand and reveal its wrong result only in a block whose draw
    picked its accomplice, who would agree with it and have the honest provider slashed. It is drawn at the
    next block now, from the hash of the block holding that reveal."""
    ext = new_ext(providers=4)
    with ext:
        job_id = submit(ext, ALICE, inputs=(stored_file(ext, ALICE),))
        honest, liar = slot_providers(ext, job_id)
        run_job(ext, job_id, {liar: WRONG})
        opened = job(ext, job_id)
        assert opened.status is JobStatus.Disputing and opened.round == 1 and not slot_providers(ext, job_id)
        assert not any(isinstance(e, DisputeOpened) for e in ext.events())
        n = ext.pallet(System).number.get()
        (referee,) = referees(ext, job_id)
        assert_has_event(ext, DisputeOpened(job_id, (referee,)))
        assert jobs_pallet(ext)._pick(job_id, opened, 1, n + 1)[0] == [(referee, PRICE)]  # block n's hash: the reveal's
        run_job(ext, job_id)
        assert job(ext, job_id).status is JobStatus.Verified


def test_a_dispute_adds_the_providers_its_escrow_was_sized_for():
    """A runtime upgrade raising DisputeExtra while a job is in flight: a dispute added the new number of
    referees, paid beyond the job's escrow from the submitter's other jobs' (one pooled hold), and failed to
    release a negative rest, which in a phase end's hook stops blocks being built. A job keeps its own."""
    ext = new_ext(providers=6, prices={who: CAP for who in PROVIDERS})
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        other = submit(ext, ALICE, inputs=(dataset,))
        jobs = jobs_pallet(ext)
        jobs.config = dataclasses.replace(jobs.config, dispute_extra=3)
        honest, liar = slot_providers(ext, job_id)
        run_job(ext, job_id, {liar: WRONG})
        (referee,) = referees(ext, job_id)
        run_job(ext, job_id)
        record = job(ext, job_id)
        assert record.status is JobStatus.Verified and record.escrowed == record.paid + record.refunded
        assert held(ext, HoldReason.JobEscrow, ALICE) == job(ext, other).escrow


def test_a_public_output_is_embargoed_until_the_job_ends():
    """A provider uploads its outputs during the commit phase. Public and readable then, they let the other
    provider, not committed yet, copy the result rather than run the job (the digest is computed from the
    outputs), and so could a dispute's referee once they were revealed. Uploaded under embargo they are their
    provider's own until the verdict."""
    ext = new_ext(providers=3)
    with ext:
        job_id = submit(ext, ALICE, inputs=(stored_file(ext, ALICE),))
        honest, liar = slot_providers(ext, job_id)
        output = stored_file(ext, honest, seed=900, embargoed=True)
        storage = jobs_pallet(ext).config.storage
        assert not storage.file_facts(output).public
        assert storage.may_read(output, honest) and not storage.may_read(output, liar)
        commit(ext, job_id, honest, HONEST)
        commit(ext, job_id, liar, WRONG)
        reveal(ext, job_id, honest, HONEST, outputs=(output,))
        reveal(ext, job_id, liar, WRONG)
        (referee,) = referees(ext, job_id)
        assert not storage.may_read(output, referee) and not storage.may_read(output, liar)
        commit(ext, job_id, referee, HONEST)
        reveal(ext, job_id, referee, HONEST, outputs=(copy_of(ext, output, referee),))  # (it ran the job)
        assert job(ext, job_id).outputs == (output,)
        assert storage.file_facts(output).public and storage.may_read(output, referee)
        assert not ext.pallet(FileBank).embargoed.contains(output)


def test_a_dispute_opened_late_by_a_backlog_of_phase_ends_fails_the_job_slashing_no_referee():
    """A backlog of phase ends carried over can open a dispute blocks after the one that decided it. Its
    referees were then given a reveal phase cut short by the job's deadline, or none: honest, they were
    slashed as if they had kept silent. A dispute with no time left for its round fails the job."""
    ext = new_ext(providers=4, params={"ComputeJobs": {"max_expiries_per_block": 1}})
    with ext:
        dataset = stored_file(ext, ALICE)
        n = ext.pallet(System).number.get()
        window = job(ext, submit(ext, ALICE, inputs=(dataset,))).commit_window
        job_id = submit(ext, ALICE, inputs=(dataset,), deadline=n + 1 + window + 3)  # room for a dispute at n + 1
        honest, liar = slot_providers(ext, job_id)
        run_job(ext, job_id, {liar: WRONG})
        ends = jobs_pallet(ext).phase_ends
        ends.insert(n + 1, (999,) * 5 + tuple(ends.get(n + 1)))  # five phase ends due first
        while job(ext, job_id).status is JobStatus.Disputing:
            next_block(ext)
        assert job(ext, job_id).status is JobStatus.Failed
        assert not any(isinstance(e, (ProviderSlashed, DisputeOpened)) for e in ext.events())


def test_providers_that_deleted_their_outputs_do_not_agree_with_each_other():
    """r = 3: two providers reveal the true digest, then delete their outputs before the verdict. A deleted
    output's content read as None for both, so they agreed with each other and outvoted the one provider
    whose copy the submitter can read, which was slashed. Each now agrees with no one: no majority."""
    ext = new_ext(providers=4)
    with ext:
        job_id = submit(ext, ALICE, inputs=(stored_file(ext, ALICE),), redundancy=3)
        keeper, *deleters = slot_providers(ext, job_id)
        for who in (keeper, *deleters):
            commit(ext, job_id, who, HONEST)
        for i, who in enumerate(deleters):
            output = output_file(ext, who, 50 + i)
            reveal(ext, job_id, who, HONEST, outputs=(output,))
            ext.dispatch(Origin.signed(who), "FileBank", "delete", file_id=output)
        reveal(ext, job_id, keeper, HONEST, outputs=(output_file(ext, keeper, 60),))
        assert job(ext, job_id).status is JobStatus.Disputing
        assert not any(isinstance(e, ProviderSlashed) for e in ext.events())


def test_an_unsettled_dispute_fails_the_job_without_slashing_anyone():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        first, second = slot_providers(ext, job_id)
        run_job(ext, job_id, {second: WRONG})
        (third,) = referees(ext, job_id)
        run_job(ext, job_id, {third: blake2_256(b"a third answer")})
        assert job(ext, job_id).status is JobStatus.Failed
        assert not any(isinstance(e, ProviderSlashed) for e in ext.events())
        assert held(ext, HoldReason.JobEscrow, ALICE) == 0


def test_redundancy_one_trusts_a_single_reveal():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,), redundancy=1)
        (provider,) = slot_providers(ext, job_id)
        run_job(ext, job_id)
        assert job(ext, job_id).status is JobStatus.Verified
        assert_has_event(ext, ProviderPaid(job_id, provider, providers_pallet(ext).providers.get(provider).offers[0].price))
        # ... but nobody checked it: a provider could wash a record of no-shows with jobs it sends itself
        assert providers_pallet(ext).providers.get(provider).jobs_verified == 0


# --- bad commits and reveals ---------------------------------------------------------------------


def test_commit_and_reveal_refuse_the_wrong_phase_the_wrong_signer_and_bad_outputs():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        a, b = slot_providers(ext, job_id)
        outsider = next(who for who in PROVIDERS[:3] if who not in (a, b))
        assert_noop(ext, UnknownJob, commit, ext, 99, a, HONEST)
        assert_noop(ext, NotAssigned, commit, ext, job_id, outsider, HONEST)
        assert_noop(ext, NotRevealPhase, reveal, ext, job_id, a, HONEST, outputs=(dataset,))
        commit(ext, job_id, a, HONEST)
        assert_noop(ext, NotAssigned, commit, ext, job_id, a, HONEST)
        commit(ext, job_id, b, HONEST)
        assert_noop(ext, NotCommitPhase, commit, ext, job_id, outsider, HONEST)
        mine = output_file(ext, a, 7)
        assert_noop(ext, NotCommitted, reveal, ext, job_id, outsider, HONEST, outputs=(mine,))
        assert_noop(ext, BadOutputs, reveal, ext, job_id, a, HONEST, outputs=())
        assert_noop(ext, BadOutputs, reveal, ext, job_id, a, HONEST, outputs=(blake2_256(b"nothing"),))
        assert_noop(ext, BadOutputs, reveal, ext, job_id, a, HONEST, outputs=(mine,) * 9)
        assert_noop(ext, OutputNotOwned, reveal, ext, job_id, a, HONEST, outputs=(dataset,))
        # declared, not stored: a declaration of another provider's public output costs no download
        declared = declare(ext, a, 1000, seed=8).file_id
        assert_noop(ext, OutputNotStored, reveal, ext, job_id, a, HONEST, outputs=(declared,))
        assert_noop(ext, TooManyScores, reveal, ext, job_id, a, HONEST, outputs=(mine,), scores=(1,) * 65)
        assert_noop(ext, CommitmentMismatch, reveal, ext, job_id, a, WRONG, outputs=(mine,))
        reveal(ext, job_id, a, HONEST, outputs=(mine,))
        assert_noop(ext, NotCommitted, reveal, ext, job_id, a, HONEST, outputs=(mine,))


def test_a_provider_holding_assignments_drains_and_leaves_when_they_settle():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        who = slot_providers(ext, job_id)[0]
        ext.dispatch(Origin.signed(who), "ComputeProviders", "deregister")
        assert_has_event(ext, ProviderLeaving(who, 1))
        assert providers_pallet(ext).providers.get(who).leaving
        assert held(ext, ProviderHold.ProviderStake, who) == STAKE
        assert_noop(ext, AlreadyLeaving, ext.dispatch, Origin.signed(who), "ComputeProviders", "deregister")
        later = submit(ext, ALICE, inputs=(dataset,))  # 3 providers, r = 2: only the two staying ones
        assert who not in slot_providers(ext, later)
        assert_noop(ext, NotEnoughProviders, submit, ext, ALICE, inputs=(dataset,), redundancy=3)
        before = free(ext, who)
        run_job(ext, job_id)
        assert job(ext, job_id).status is JobStatus.Verified
        assert_has_event(ext, ProviderDeregistered(who, STAKE))
        assert free(ext, who) == before + PRICE + STAKE and held(ext, ProviderHold.ProviderStake, who) == 0
        assert providers_pallet(ext).providers.get(who) is None and providers_pallet(ext).provider_count.get() == 2


def test_a_draining_provider_may_stay_and_then_keeps_its_stake_and_takes_jobs_again():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        who = slot_providers(ext, job_id)[0]
        idle = next(p for p in PROVIDERS if p not in slot_providers(ext, job_id))
        assert_noop(ext, NotLeaving, ext.dispatch, Origin.signed(who), "ComputeProviders", "stay")
        assert_noop(ext, NotRegistered, ext.dispatch, Origin.signed(ALICE), "ComputeProviders", "stay")
        ext.dispatch(Origin.signed(who), "ComputeProviders", "deregister")
        ext.dispatch(Origin.signed(who), "ComputeProviders", "stay")
        assert_has_event(ext, ProviderStays(who))
        assert not providers_pallet(ext).providers.get(who).leaving
        run_job(ext, job_id)  # its last slot settles: it stays registered, its stake held
        assert providers_pallet(ext).providers.get(who).active_jobs == 0
        assert held(ext, ProviderHold.ProviderStake, who) == STAKE
        ext.dispatch(Origin.signed(idle), "ComputeProviders", "deregister")  # gone at once: no slot held
        later = submit(ext, ALICE, inputs=(dataset,))  # r = 2 of the two left: the one that stayed among them
        assert who in slot_providers(ext, later)


def test_leaving_and_registering_again_keeps_the_verified_history():
    """A new provider starts at the best reputation: leaving must not wash a record back to it."""
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        present, absent = slot_providers(ext, job_id)
        commit(ext, job_id, present, HONEST)
        run_to(ext, job(ext, job_id).phase_deadline + 1)  # absent: a no-show
        run_job(ext, job_id)
        record = providers_pallet(ext).providers.get(absent)
        assert record.no_shows == 1 and record.reputation_permill() < 1000
        ext.dispatch(Origin.signed(absent), "ComputeProviders", "deregister")
        assert providers_pallet(ext).past_records.get(absent) == record.history()
        ext.dispatch(Origin.signed(absent), "ComputeProviders", "register", hardware=HARDWARE,
                     offers=(Offer(TRAIN, PRICE),), endpoint=b"http://again", stake=STAKE)
        again = providers_pallet(ext).providers.get(absent)
        assert again.history() == record.history() and again.reputation_permill() == record.reputation_permill()
        assert providers_pallet(ext).past_records.get(absent) is None


def test_a_leaving_provider_that_walks_away_is_slashed_as_a_no_show_then_deregistered():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        present, absent = slot_providers(ext, job_id)
        ext.dispatch(Origin.signed(absent), "ComputeProviders", "deregister")
        commit(ext, job_id, present, HONEST)
        before = free(ext, absent)
        run_to(ext, job(ext, job_id).phase_deadline + 1)
        assert_has_event(ext, ProviderSlashed(absent, job_id, STAKE // 20, SlashReason.NoShow))
        assert_has_event(ext, ProviderDeregistered(absent, STAKE - STAKE // 20))
        assert free(ext, absent) == before + STAKE - STAKE // 20
        assert providers_pallet(ext).providers.get(absent) is None
        (replacement,) = slot_providers(ext, job_id)
        run_job(ext, job_id)
        assert job(ext, job_id).status is JobStatus.Verified and replacement != absent


def test_a_stale_provider_that_heartbeats_before_its_turn_keeps_its_slot():
    ext = new_ext(providers=4, params={"ComputeJobs": {"commit_period": 50}})
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,), deadline=200)
        first, second = slot_providers(ext, job_id)  # both go silent; only one stale provider is handled a block
        others = tuple(who for who in PROVIDERS[:4] if who not in (first, second))
        seen = []
        while not any(isinstance(e, ProviderStale) for e in seen):
            heartbeat_all(ext, others)
            next_block(ext)
            seen = ext.events()
        heartbeat_all(ext, (first, second))  # both come back; the one not handled yet keeps its slot
        next_block(ext)
        kept = slot_providers(ext, job_id)
        assert len([who for who in (first, second) if who in kept]) == 1
        slashed = [e.provider for e in seen + ext.events() if isinstance(e, ProviderSlashed)]
        assert len(slashed) == 1 and slashed[0] not in kept
