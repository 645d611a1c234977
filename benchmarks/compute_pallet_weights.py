"""What the compute pallets' calls and hooks cost the runtime, against the weights they charge.

Dispatches real calls on the pallet tests' mock runtime (``tests/compute_pallet/pallets/mock.py``: System,
Balances, the storage pallets and the three compute pallets, 6 providers and 6 storage nodes) and times each
from dispatch to return, or a pallet's ``on_initialize`` alone at the start of a block, on the thread's CPU
clock (``time.thread_time``: the time the VM's vCPU was taken away does not count); every sample on a fresh
mock, set up to the moment before the call (a job submitted and committed to, a task joined, ...). The weight
charged is the call's ``dispatch_info`` corrected by the actual weight it reports (or what the hook returned),
whole: its CPython time and its reads and writes at ``runtime.weights``'s prices, which the mock does not pay (its
storage is a dict).

The whole table is measured ``--runs`` times, since this VM's speed varies up to 2x between minutes (in CPU time
too: its host's other tenants share caches and clocks); a weight
covers its call when the slowest run's median is at most what it charges. ``compute_pallet/pallets/weights.py``
is set from these figures. Appends the table to ``benchmarks/RESULTS.md``.

    python benchmarks/compute_pallet_weights.py [--repeat 40] [--runs 3] [--no-record]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package: the pallets' mock runtime

from compute_pallet.commitment import commitment, update_commitment  # noqa: E402
from compute_pallet.kinds import KIND_IDS  # noqa: E402
from compute_pallet.pallets.federated import CommitWindowClosed, DeliveryWindowClosed, FederatedLearning  # noqa: E402
from compute_pallet.pallets.federated import RoundAggregated, RoundAggregating  # noqa: E402
from compute_pallet.pallets.jobs import ComputeJobs  # noqa: E402
from compute_pallet.pallets.providers import ComputeProviders, ProviderSlashed, ProviderStale  # noqa: E402
from compute_pallet.pallets.types import JobStatus, Offer  # noqa: E402
from runtime.frame.pallet import Origin, Pallet  # noqa: E402
from runtime.frame.testing import TestExternalities  # noqa: E402
from runtime.hashing import blake2_256  # noqa: E402
from runtime.pallets.system import System  # noqa: E402
from runtime.primitives import Digest  # noqa: E402
from runtime.weights import US  # noqa: E402
from tests.compute_pallet.pallets.mock import (  # noqa: E402
    ALICE, CAP, FEDAVG, HARDWARE, HONEST, PARTICIPANTS, PROVIDERS, RESOURCES, STAKE, WRONG, commit, default_output,
    job, new_ext, output_file, referees, reveal, salt_of, slot_providers, stored_file, submit)
from tests.compute_pallet.pallets.test_federated import (  # noqa: E402
    AGGREGATION, VALIDATED, aggregate, create, deliver, fl, join_all, salt)
from tests.compute_pallet.pallets.test_federated import commit_update as commit_member_update  # noqa: E402
from results import record  # noqa: E402  (a sibling: the script's folder is on the path)

Sample = tuple[float, float]
"""(µs the call or hook took, µs of ref time it charged)."""
NEW_PROVIDER = PROVIDERS[6]
"""Endowed by the mock, not registered with 6 providers."""
OFFERS = tuple(Offer(kind, 1_000) for kind in sorted(KIND_IDS.values()))


def fresh() -> TestExternalities:
    return new_ext(providers=6, nodes=6)


def dispatched(ext: TestExternalities, who: bytes, pallet: str, name: str, **args: object) -> Sample:
    """The call's CPU time, and what it is charged: its declared weight, or the actual weight it reports."""
    admitted = ext.runtime.dispatch_info(ext.runtime.call(pallet, name, **args))
    gc.collect()
    started = time.thread_time()
    post = ext.dispatch(Origin.signed(who), pallet, name, **args)
    took = (time.thread_time() - started) * 1e6
    return took, (admitted if post is None else post.corrected(admitted)).weight.ref_time / US


def next_block(ext: TestExternalities, timed: type[Pallet] | None = None) -> Sample | None:
    """Start the next block, timing ``timed``'s ``on_initialize`` alone."""
    system = ext.pallet(System)
    n = system.number.get() + 1
    system.initialize(n, blake2_256(b"mock block" + n.to_bytes(4, "little")), Digest())
    sample = None
    for pallet in ext.runtime.pallets.values():
        if timed is not None and isinstance(pallet, timed):
            gc.collect()
            started = time.thread_time()
            weight = pallet.on_initialize(n)
            sample = ((time.thread_time() - started) * 1e6, weight.ref_time / US)
        else:
            pallet.on_initialize(n)
    return sample


# --- ComputeProviders -----------------------------------------------------------------------------------

def register() -> Sample:
    with (ext := fresh()):
        output_file(ext, NEW_PROVIDER, 0)
        ext.dispatch(Origin.signed(NEW_PROVIDER), "StorageAccess", "register_key", key=bytes(32))
        return dispatched(ext, NEW_PROVIDER, "ComputeProviders", "register", hardware=HARDWARE, offers=OFFERS,
                          endpoint=b"http://provider-new", stake=STAKE)


def update() -> Sample:
    with (ext := fresh()):
        return dispatched(ext, PROVIDERS[0], "ComputeProviders", "update", hardware=HARDWARE, offers=OFFERS[:2],
                          endpoint=b"http://provider-moved")


def heartbeat() -> Sample:
    with (ext := fresh()):
        next_block(ext)  # (registering was a heartbeat: this one is a block later)
        return dispatched(ext, PROVIDERS[0], "ComputeProviders", "heartbeat")


def add_stake() -> Sample:
    with (ext := fresh()):
        return dispatched(ext, PROVIDERS[0], "ComputeProviders", "add_stake", amount=1_000)


def providers_idle() -> Sample:
    with (ext := fresh()):
        return next_block(ext, ComputeProviders)


def provider_stale() -> Sample:
    """The block in which an assigned provider's heartbeat check finds it silent: queued as stale."""
    with (ext := fresh()):
        submitted(ext)
        for _ in range(ext.pallet(ComputeProviders).config.heartbeat_timeout + 5):
            result = next_block(ext, ComputeProviders)
            if any(isinstance(e, ProviderStale) for e in ext.events()):
                return result
        raise AssertionError("no provider went stale")


# --- ComputeJobs ----------------------------------------------------------------------------------------

def submitted(ext: TestExternalities, redundancy: int = 2) -> int:
    return submit(ext, ALICE, inputs=(stored_file(ext, ALICE, seed=1),), redundancy=redundancy)


def submit_job(redundancy: int, inputs: int) -> Callable[[], Sample]:
    def sample() -> Sample:
        with (ext := fresh()):
            files = tuple(stored_file(ext, ALICE, seed=1 + i) for i in range(inputs))
            kind, params = ((KIND_IDS["train"], b'{"hidden": [16]}') if inputs == 1
                            else (FEDAVG, b'{"aggregation": "mean"}'))
            return dispatched(ext, ALICE, "ComputeJobs", "submit", kind=kind, inputs=files, params=params,
                              resources=RESOURCES, price_cap=CAP, deadline=ext.pallet(System).number.get() + 100,
                              redundancy=redundancy)
    return sample


def commit_result(last: bool) -> Callable[[], Sample]:
    """The first commitment of a job of r = 2, or the last (which starts its reveal phase)."""
    def sample() -> Sample:
        with (ext := fresh()):
            job_id = submitted(ext)
            first, second = slot_providers(ext, job_id)
            if last:
                commit(ext, job_id, first, HONEST)
            who = second if last else first
            return dispatched(ext, who, "ComputeJobs", "commit", job_id=job_id,
                              commitment=commitment(job_id, who, HONEST, salt_of(who)))
    return sample


def reveal_result(last: bool) -> Callable[[], Sample]:
    """The first reveal of a job of r = 2, or the last (which judges the job: pays both and refunds)."""
    def sample() -> Sample:
        with (ext := fresh()):
            job_id = submitted(ext)
            assigned = slot_providers(ext, job_id)
            for who in assigned:
                commit(ext, job_id, who, HONEST)
            if last:
                reveal(ext, job_id, assigned[0], HONEST)
            who = assigned[-1] if last else assigned[0]
            result = dispatched(ext, who, "ComputeJobs", "reveal", job_id=job_id, digest=HONEST, salt=salt_of(who),
                                outputs=(default_output(who),), scores=())
            assert (job(ext, job_id).status is JobStatus.Verified) == last
            return result
    return sample


def referee_reveal() -> Sample:
    """The referee's reveal in a dispute of a job of r = 2, one of whose providers lied: it judges three slots,
    pays two and slashes one."""
    with (ext := fresh()):
        job_id = submitted(ext)
        honest, liar = slot_providers(ext, job_id)
        for who, digest in ((honest, HONEST), (liar, WRONG)):
            commit(ext, job_id, who, digest)
        for who, digest in ((honest, HONEST), (liar, WRONG)):
            reveal(ext, job_id, who, digest)
        (referee,) = referees(ext, job_id)
        commit(ext, job_id, referee, HONEST)
        result = dispatched(ext, referee, "ComputeJobs", "reveal", job_id=job_id, digest=HONEST,
                            salt=salt_of(referee), outputs=(default_output(referee),), scores=())
        assert job(ext, job_id).status is JobStatus.Verified
        assert any(isinstance(e, ProviderSlashed) and e.provider == liar for e in ext.events())
        return result


def jobs_idle() -> Sample:
    with (ext := fresh()):
        submitted(ext)
        return next_block(ext, ComputeJobs)


def no_show() -> Sample:
    """The block in which a commit deadline passes with one provider of two silent: slashed and replaced."""
    with (ext := fresh()):
        job_id = submitted(ext)
        present, absent = slot_providers(ext, job_id)
        commit(ext, job_id, present, HONEST)
        while ext.pallet(System).number.get() < job(ext, job_id).phase_deadline:
            next_block(ext)
        result = next_block(ext, ComputeJobs)
        assert any(isinstance(e, ProviderSlashed) and e.provider == absent for e in ext.events())
        return result


# --- FederatedLearning ----------------------------------------------------------------------------------

def participants(ext: TestExternalities, count: int) -> tuple[bytes, ...]:
    """``count`` endowed accounts: the mock's participants, then new ones Alice funds."""
    extra = tuple(bytes([0x70 + i]) * 32 for i in range(count - len(PARTICIPANTS)))
    for who in extra:
        ext.dispatch(Origin.signed(ALICE), "Balances", "transfer_keep_alive", dest=who, value=40_000_000)
    return PARTICIPANTS[:count] + extra


def create_task(listed: int, validation: bool) -> Callable[[], Sample]:
    def sample() -> Sample:
        with (ext := fresh()):
            base = stored_file(ext, ALICE, seed=1)
            validation_set = stored_file(ext, ALICE, seed=2) if validation else None
            args = dict(base_model=base, rounds=2, participants=tuple(bytes([0x90 + i]) * 32 for i in range(listed)),
                        stake=1_000, commit_period=4, deliver_period=4, reward_pool=10_000, validation=validation_set,
                        price_cap=1_500, redundancy=2, aggregation_params=VALIDATED if validation else AGGREGATION)
            return dispatched(ext, ALICE, "FederatedLearning", "create_task", **args)
    return sample


def task(ext: TestExternalities, members: int, *, joined: int) -> tuple[int, tuple[bytes, ...]]:
    listed = participants(ext, members)
    task_id = create(ext, base=stored_file(ext, ALICE, seed=1), validation=None, participants=listed)
    join_all(ext, task_id, listed[:joined])
    return task_id, listed


def with_updates(ext: TestExternalities, members: int) -> tuple[int, tuple[bytes, ...], dict[bytes, bytes]]:
    """A task every member joined, each member's update stored."""
    task_id, listed = task(ext, members, joined=members)
    return task_id, listed, {who: stored_file(ext, who, seed=20 + i) for i, who in enumerate(listed)}


def join() -> Sample:
    """The last of 3 listed participants to join."""
    with (ext := fresh()):
        task_id, listed = task(ext, 3, joined=2)
        return dispatched(ext, listed[-1], "FederatedLearning", "join", task_id=task_id)


def commit_update(members: int, last: bool) -> Callable[[], Sample]:
    """The first member's commitment, or the last's (which closes the commit window early)."""
    def sample() -> Sample:
        with (ext := fresh()):
            task_id, listed, updates = with_updates(ext, members)
            for who in listed[:-1] if last else ():
                commit_member_update(ext, task_id, 0, who, updates[who])
            who = listed[-1]
            result = dispatched(ext, who, "FederatedLearning", "commit_update", task_id=task_id, round=0,
                                commitment=update_commitment(task_id, 0, who, updates[who], salt(who, 0)))
            assert any(isinstance(e, CommitWindowClosed) for e in ext.events()) == last
            return result
    return sample


def committed(ext: TestExternalities, members: int) -> tuple[int, tuple[bytes, ...], dict[bytes, bytes]]:
    task_id, listed, updates = with_updates(ext, members)
    for who in listed:
        commit_member_update(ext, task_id, 0, who, updates[who])
    return task_id, listed, updates


def deliver_update(members: int, last: bool) -> Callable[[], Sample]:
    """The first member's delivery, or the last's (which closes the delivery window early)."""
    def sample() -> Sample:
        with (ext := fresh()):
            task_id, listed, updates = committed(ext, members)
            for who in listed[:-1] if last else ():
                deliver(ext, task_id, 0, who, updates[who])
            who = listed[-1]
            result = dispatched(ext, who, "FederatedLearning", "deliver_update", task_id=task_id, round=0,
                                update=updates[who], salt=salt(who, 0))
            assert any(isinstance(e, DeliveryWindowClosed) for e in ext.events()) == last
            return result
    return sample


def federated_idle() -> Sample:
    with (ext := fresh()):
        task(ext, 3, joined=0)
        return next_block(ext, FederatedLearning)


def stale_look() -> Sample:
    """The commit deadline's look of a round with an update still to deliver: it ends nothing."""
    with (ext := fresh()):
        task_id, listed = task(ext, 3, joined=3)
        commit_member_update(ext, task_id, 0, listed[0], stored_file(ext, listed[0], seed=20))
        while ext.pallet(System).number.get() < fl(ext).tasks.get(task_id).commit_deadline:
            next_block(ext)
        return next_block(ext, FederatedLearning)


def round_end(members: int) -> Callable[[], Sample]:
    """The block after the last delivery: the round ends and its aggregation job is submitted."""
    def sample() -> Sample:
        with (ext := fresh()):
            task_id, listed, updates = committed(ext, members)
            for who in listed:
                deliver(ext, task_id, 0, who, updates[who])
            result = next_block(ext, FederatedLearning)
            assert any(isinstance(e, RoundAggregating) for e in ext.events())
            return result
    return sample


def settle() -> Sample:
    """The block in which a round of 3 updates, its aggregation verified, is settled (rewards, the next round)."""
    with (ext := fresh()):
        task_id, listed, updates = committed(ext, 3)
        for who in listed:
            deliver(ext, task_id, 0, who, updates[who])
        next_block(ext)
        job_id = next(e.job_id for e in ext.events() if isinstance(e, RoundAggregating))
        aggregate(ext, job_id, (1, 2, 3), stored_file(ext, slot_providers(ext, job_id)[0], seed=100))
        for _ in range(10):
            result = next_block(ext, FederatedLearning)
            if any(isinstance(e, RoundAggregated) for e in ext.events()):
                return result
        raise AssertionError("the round was never settled")


SCENARIOS: tuple[tuple[str, Callable[[], Sample]], ...] = (
    ("ComputeProviders.register", register),
    ("ComputeProviders.update", update),
    ("ComputeProviders.heartbeat", heartbeat),
    ("ComputeProviders.add_stake", add_stake),
    ("ComputeProviders.on_initialize, nothing due", providers_idle),
    ("ComputeProviders.on_initialize, a provider gone stale", provider_stale),
    ("ComputeJobs.submit, r = 2, one input", submit_job(2, 1)),
    ("ComputeJobs.submit, r = 2, 16 inputs (fedavg)", submit_job(2, 16)),
    ("ComputeJobs.commit, the first of r = 2", commit_result(False)),
    ("ComputeJobs.commit, the last (reveals start)", commit_result(True)),
    ("ComputeJobs.reveal, the first of r = 2", reveal_result(False)),
    ("ComputeJobs.reveal, the last (judges, pays)", reveal_result(True)),
    ("ComputeJobs.reveal, a dispute's referee (judges 3 slots, slashes 1)", referee_reveal),
    ("ComputeJobs.on_initialize, nothing due", jobs_idle),
    ("ComputeJobs.on_initialize, a no-show replaced", no_show),
    ("FederatedLearning.create_task, 3 listed", create_task(3, False)),
    ("FederatedLearning.create_task, 12 listed, validation", create_task(12, True)),
    ("FederatedLearning.join, the last of 3", join),
    ("FederatedLearning.commit_update, the first of 3", commit_update(3, False)),
    ("FederatedLearning.commit_update, the last of 12 (closes)", commit_update(12, True)),
    ("FederatedLearning.deliver_update, the first of 3", deliver_update(3, False)),
    ("FederatedLearning.deliver_update, the last of 12 (closes)", deliver_update(12, True)),
    ("FederatedLearning.on_initialize, nothing due", federated_idle),
    ("FederatedLearning.on_initialize, a look that ends nothing", stale_look),
    ("FederatedLearning.on_initialize, a round of 3 ends", round_end(3)),
    ("FederatedLearning.on_initialize, a round of 12 ends", round_end(12)),
    ("FederatedLearning.on_initialize, a round settled", settle),
)


def measure(repeat: int, runs: int) -> dict[str, tuple[list[float], float]]:
    """Scenario → (its median µs in each run, the most it charged)."""
    figures: dict[str, tuple[list[float], float]] = {name: ([], 0.0) for name, _ in SCENARIOS}
    for run in range(runs):
        for name, scenario in SCENARIOS:
            scenario()  # (a runtime's first call of a kind builds its codecs: not what a running node pays)
            samples = [scenario() for _ in range(repeat)]
            medians, charged = figures[name]
            medians.append(statistics.median(took for took, _ in samples))
            figures[name] = (medians, max(charged, *(weight for _, weight in samples)))
            print(f"  run {run + 1}: {name}: {medians[-1]:.0f} µs of {figures[name][1]:.0f} charged", flush=True)
    return figures


def report(figures: dict[str, tuple[list[float], float]]) -> str:
    rows = ["| call or hook | median µs, each run | charged µs | covered |", "|---|---:|---:|---|"]
    for name, (medians, charged) in figures.items():
        rows.append(f"| {name} | {' / '.join(f'{m:,.0f}' for m in medians)} | {charged:,.0f} | "
                    f"{'yes' if max(medians) <= charged else 'NO'} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40, help="fresh setups per scenario and run")
    parser.add_argument("--runs", type=int, default=3, help="times the whole table is measured")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    table = report(measure(args.repeat, args.runs))
    print(table)
    if not args.no_record:
        record("Compute pallet weights", "one process (the pallet tests' mock runtime, no node)", table,
               notes=[f"medians of {args.repeat} fresh mocks (6 providers, 6 storage nodes) per call, in each of "
                      f"{args.runs} runs"])


if __name__ == "__main__":
    main()
