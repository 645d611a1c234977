"""Properties of the compute market over random jobs and random provider behaviour (hypothesis):

- escrow is conserved: what jobs escrowed is exactly what they paid plus what they refunded, every account's
  balance moves by exactly what it was paid or slashed, and the issuance falls by exactly the slashed stake
  (burned: the runtime has no treasury), so paid + refunded + slashed-to-burn = escrowed + slashed stake;
- a provider that asks to leave while holding slots is assigned no new one, and is deregistered with the rest
  of its stake released once they are settled, whatever it does meanwhile;
- an honest provider is never slashed (faulty providers fail independently: each lies with its own digest),
  even by a submitter that withholds the input (private and never granted) or deletes it after submission
  (its deletion waits for the job);
- a compute call that fails changes nothing, and no input makes one raise anything but a ``DispatchError``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compute_pallet.pallets.jobs import (
    HoldReason,
    InputsWithheld,
    JobFailed,
    JobSubmitted,
    JobVerified,
    ProviderPaid,
)
from compute_pallet.pallets.providers import HoldReason as ProviderHold
from compute_pallet.pallets.providers import ProviderSlashed
from compute_pallet.pallets.types import JobStatus, Offer, Resources, SlotStatus
from runtime.frame.pallet import DispatchError, Origin
from runtime.hashing import blake2_256
from runtime.pallets.balances import Balances
from storage_node.pallets.file_bank import FileBank
from storage_node.pallets.file_bank import HoldReason as FileHold

from .mock import (
    ALICE,
    BOB,
    HARDWARE,
    HONEST,
    PROVIDERS,
    commit,
    free,
    grant,
    heartbeat_all,
    held,
    job,
    new_ext,
    next_block,
    providers_pallet,
    reveal,
    slot_providers,
    stored_file,
    submit,
)

NO_AUDITS = {"FileBank": {"audit_period": 10**6}}
"""Storage audits would mint rewards and burn storage nodes' stake: kept out of the issuance this test counts."""
BEHAVIOURS = ("honest", "wrong", "silent", "no_reveal")
"""What a provider does with each assignment: the right result, its own wrong one, nothing (not even
heartbeats), or commit only."""
INPUTS = ("public", "private, granted", "private, never granted", "deleted")
"""The submitter's dataset: public, private and granted to every provider, private and granted to none, or
public and deleted once the first job is submitted (deleted when that job ends; later jobs are refused)."""


def digest_of(who: bytes, behaviour: str) -> bytes:
    return HONEST if behaviour == "honest" else blake2_256(b"wrong" + who)


class EventLog:
    """Every event of every block a test runs (a block's events are reset when the next begins)."""

    def __init__(self, ext) -> None:
        self.ext, self.events = ext, []

    def next_block(self) -> None:
        self.events += self.ext.events()
        next_block(self.ext)

    def close(self) -> list:
        return self.events + self.ext.events()


def play(ext, log: EventLog, job_ids: list[int], behaviour: dict[bytes, str]) -> None:
    """Providers act on the jobs as their behaviour says, block after block, until every one has ended."""
    for _ in range(200):
        for job_id in job_ids:
            for who in slot_providers(ext, job_id):
                if behaviour[who] != "silent":
                    commit(ext, job_id, who, digest_of(who, behaviour[who]))
            if job(ext, job_id).status is JobStatus.Revealing:
                for who in slot_providers(ext, job_id, SlotStatus.Committed):
                    if behaviour[who] in ("honest", "wrong"):
                        reveal(ext, job_id, who, digest_of(who, behaviour[who]))
        if all(job(ext, job_id).status in (JobStatus.Verified, JobStatus.Failed) for job_id in job_ids):
            return
        registered = providers_pallet(ext).providers
        heartbeat_all(ext, tuple(who for who, does in behaviour.items()
                                 if does != "silent" and registered.contains(who)))
        log.next_block()
    raise AssertionError("the job never ended")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(behaviours=st.lists(st.sampled_from(BEHAVIOURS), min_size=5, max_size=5),
       jobs=st.lists(st.integers(1, 3), min_size=1, max_size=3), inputs=st.sampled_from(INPUTS),
       leavers=st.sets(st.sampled_from(PROVIDERS[:5]), max_size=2))
def test_escrow_is_conserved_and_the_honest_are_never_slashed(behaviours, jobs, inputs, leavers):
    ext = new_ext(providers=5, params=NO_AUDITS)
    with ext:
        behaviour = dict(zip(PROVIDERS, behaviours))
        dataset = stored_file(ext, ALICE, encrypted=inputs.startswith("private"))
        if inputs == "private, granted":
            for who in PROVIDERS[:5]:
                grant(ext, dataset, ALICE, who)
        balances = ext.pallet(Balances)
        accounts = (ALICE, *PROVIDERS[:5])

        def total(who: bytes) -> int:  # the file's deposit too: deleting it releases that
            return (free(ext, who) + held(ext, HoldReason.JobEscrow, who) + held(ext, ProviderHold.ProviderStake, who)
                    + held(ext, FileHold.FileDeposit, who))

        before = {who: total(who) for who in accounts}
        issuance = balances.total_issuance.get()
        log = EventLog(ext)
        job_ids, in_flight = [], []
        for i, redundancy in enumerate(jobs):
            try:
                in_flight.append(submit(ext, ALICE, inputs=(dataset,), redundancy=redundancy))
                job_ids.append(in_flight[-1])
                if inputs == "deleted":
                    ext.dispatch(Origin.signed(ALICE), "FileBank", "delete", file_id=dataset)
            except DispatchError:
                pass  # too few eligible providers left (the slashed below the least stake), or no input
            if i == 0:  # the leavers leave while the first job is in flight, some holding its slots (they drain)
                for who in sorted(leavers):
                    ext.dispatch(Origin.signed(who), "ComputeProviders", "deregister")
                after_leaving = len(job_ids)
                continue  # the next job is submitted while they drain, and both run together
            play(ext, log, in_flight, behaviour)
            in_flight = []
        play(ext, log, in_flight, behaviour)
        events = log.close()
        for who in leavers:
            assert providers_pallet(ext).providers.get(who) is None, "a leaving provider stayed after its jobs"
            assert held(ext, ProviderHold.ProviderStake, who) == 0
            assert all(slot.provider != who for job_id in job_ids[after_leaving:] for slot in job(ext, job_id).slots)
        escrowed = sum(e.escrow for e in events if isinstance(e, JobSubmitted))
        payments = [e for e in events if isinstance(e, (ProviderPaid, InputsWithheld))]
        paid = {who: sum(e.amount for e in payments if e.provider == who) for who in accounts}
        slashed = {who: sum(e.amount for e in events if isinstance(e, ProviderSlashed) and e.provider == who)
                   for who in accounts}
        refunded = sum(e.refunded for e in events if isinstance(e, (JobVerified, JobFailed)))
        assert escrowed == sum(paid.values()) + refunded
        assert total(ALICE) == before[ALICE] - sum(paid.values())
        for who in PROVIDERS[:5]:
            assert total(who) == before[who] + paid[who] - slashed[who]
            if behaviour[who] == "honest":
                assert slashed[who] == 0, "an honest provider was slashed"
        assert issuance - balances.total_issuance.get() == sum(slashed.values())
        assert held(ext, HoldReason.JobEscrow, ALICE) == 0
        files = ext.pallet(FileBank)  # every job ended: none of them still holds the dataset
        assert not files.pins.contains(dataset) and not files.deleting.contains(dataset)
        assert files.files.contains(dataset) is (inputs != "deleted" or not any(
            isinstance(e, JobSubmitted) for e in events))


ACCOUNTS = st.sampled_from([ALICE, BOB, *PROVIDERS[:4], bytes([0xEE]) * 32])


def calls(dataset: bytes, job_ids: list[int]) -> st.SearchStrategy:
    """``(pallet, call, args)`` near the valid ones: real ids and accounts mixed with random ones."""
    files = st.one_of(st.just(dataset), st.binary(min_size=32, max_size=32))
    hashes = st.binary(min_size=32, max_size=32)
    small = st.integers(0, 2**32 - 1)
    return st.one_of(
        st.tuples(st.just("ComputeJobs"), st.just("submit"), st.fixed_dictionaries({
            "kind": st.integers(0, 255), "inputs": st.lists(files, max_size=3).map(tuple),
            "params": st.binary(max_size=64), "resources": st.builds(Resources, small, st.integers(0, 2**64 - 1),
                                                                     st.integers(0, 2**64 - 1)),
            "price_cap": st.integers(0, 10**13), "deadline": small, "redundancy": st.integers(0, 255)})),
        st.tuples(st.just("ComputeJobs"), st.just("commit"), st.fixed_dictionaries({
            "job_id": st.one_of(st.sampled_from(job_ids), st.integers(0, 2**64 - 1)), "commitment": hashes})),
        st.tuples(st.just("ComputeJobs"), st.just("reveal"), st.fixed_dictionaries({
            "job_id": st.sampled_from(job_ids), "digest": hashes, "salt": hashes,
            "outputs": st.lists(files, max_size=3).map(tuple), "scores": st.lists(st.integers(0, 9), max_size=3).map(tuple)})),
        st.tuples(st.just("ComputeProviders"), st.just("register"), st.fixed_dictionaries({
            "hardware": st.just(HARDWARE), "offers": st.lists(st.builds(Offer, st.integers(0, 255), st.integers(0, 10)),
                                                                max_size=3).map(tuple),
            "endpoint": st.binary(max_size=300), "stake": st.integers(0, 10**13)})),
        st.tuples(st.just("ComputeProviders"), st.sampled_from(["heartbeat", "deregister", "stay"]), st.just({})),
        st.tuples(st.just("ComputeProviders"), st.just("add_stake"),
                  st.fixed_dictionaries({"amount": st.integers(0, 10**25)})),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_failed_compute_call_changes_nothing(data):
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        committing = submit(ext, ALICE, inputs=(dataset,))
        revealing = submit(ext, ALICE, inputs=(dataset,))
        for who in slot_providers(ext, revealing):
            commit(ext, revealing, who, HONEST)
        pallet, name, args = data.draw(calls(dataset, [committing, revealing]))
        origin = data.draw(st.one_of(st.just(Origin.none()), ACCOUNTS.map(Origin.signed)))
        before = ext.changes()
        try:
            ext.dispatch(origin, pallet, name, **args)
        except DispatchError:
            assert ext.changes() == before
