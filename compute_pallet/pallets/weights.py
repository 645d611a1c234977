"""Weights of the compute pallets' calls and hooks, in the units of :mod:`runtime.weights`.

Each is the storage reads and writes the call does (``READ``/``WRITE``) plus its CPython time, measured by
``benchmarks/compute_pallet_weights.py`` (each call on a fresh mock runtime of the pallet tests, 6 providers and 6
storage nodes, on the thread's CPU clock; ``benchmarks/RESULTS.md``, "Compute pallet weights", 2026-12-07). This
VM's speed varies up to 2x between minutes, in CPU time too, so each figure below is the range of the medians of
three runs, and a weight charges at least the slower end (the reads and writes, which the mock does not pay, come
on top). In µs per whole dispatch:

    ComputeProviders.register 209-358, update 288-387, heartbeat 87-145, add_stake 225-455, on_initialize 69-117 in
    a block with nothing due and 310-380 where six providers' heartbeats are checked and two go stale (the entry of
    23:29:14, in a slower hour that put heartbeat, submit and commit over their charges);
    ComputeJobs.submit 734-955 (r = 2, one input) and 1,043-1,327 (16 inputs), commit 190-347, reveal 315-412
    (the first of r = 2) and 744-1,447 (the last: it judges the job, pays both and refunds), on_initialize 65-78
    in a block with nothing due and 596-707 where a no-show is slashed and replaced;
    FederatedLearning.create_task 385-540 (3 listed) and 369-776 (12 and a validation set), join 110-271 (more for
    a runtime's first: it builds its codecs), commit_update 189-557 (the last, closing the window, as much),
    deliver_update 209-471, on_initialize 48-103 in a block with nothing due, 1,201-1,295 / 1,433-1,898 where a
    round of 3 / 12 updates ends and its job is submitted, 768-807 where one is settled.

The recorded run of 2026-12-08 came in a slower hour (1.3-1.6x those figures for most calls), as did the entry of
23:29:14 before it; the weights below now cover the slowest medians of both: ComputeProviders.update 529,
heartbeat 210 (and ``stay``, the same work), add_stake 567, on_initialize with nothing due 147;
ComputeJobs.commit 584; FederatedLearning.create_task 870 (12 listed), join 361, deliver_update 662. The entry
of 2026-12-08T03:50:14, its first run as slow, put heartbeat at 226 and FederatedLearning.on_initialize with nothing
due at 146, now covered too.

Each weight charges at least its figure, with the assignment and verdict terms at their bounds
(``MaxProviders`` providers read, ``max_slots`` slots settled) when a call is admitted. Once it ran, ``submit``
charges for the providers its draw read, a ``reveal`` that was not the last for no verdict, and the last for the
job it judged (its slots, inputs and outputs: :class:`Judged`), their actual weight (``PostDispatchInfo``); so
their fixed parts and the verdict's terms must cover their figures alone, which the bounds had covered: ``submit``'s
fixed part is raised to 1,300 µs (1,000-1,657 measured with 6 providers in the unrecorded runs of 2026-12-08, the
slower one 1.6x the other throughout), ``reveal``'s to 500 µs (the first of r = 2: 315-504 in the recorded runs),
and the verdict's to 150 µs and 100 µs a slot (the last reveal of r = 2 603-630 µs and a dispute's referee, 3 slots
judged and one slashed, 689-851, in quiet unrecorded runs of 2026-12-08 03:55; a slower hour takes up to 1.6x). The
figures before that date were inflated by a cold start each fresh mock paid (every dataclass's SCALE fields
resolved again: ``runtime.scale.dataclass_fields``, cached per process since), several hundred µs for a call depositing
several kinds of event; they were kept. The last reveal opens a dispute, if any, without drawing its referees (the
next block's hook does), so it charges no assignment. A job's record (its slots inline) is read and written whole
by every call on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from runtime.primitives import Weight
from runtime.weights import READ, US, WRITE

__all__ = ["ComputeProvidersWeightInfo", "ComputeProvidersWeights", "ComputeJobsWeightInfo", "ComputeJobsWeights",
           "FederatedLearningWeightInfo", "FederatedLearningWeights", "Judged"]

UNPIN = 20 * US + 5 * READ + 7 * WRITE
"""Ending a use of a file (``StorageInfo.unpin``): its pin count, and the file's deletion if its owner deleted
it meanwhile (the file, its owner's index, its lock, the deposit's hold, the reaping queue, an event)."""

LAST_SLOT = 25 * US + 3 * READ + 5 * WRITE
"""A settled slot that was a leaving provider's last deregisters it: its record removed and its history kept,
the provider count read and written, its stake's hold and account read and written, two events (the release,
the exit)."""


class ComputeProvidersWeightInfo(Protocol):
    def register(self) -> Weight: ...
    def update(self) -> Weight: ...
    def heartbeat(self) -> Weight: ...
    def deregister(self) -> Weight: ...
    def add_stake(self) -> Weight: ...
    def stay(self) -> Weight: ...
    def on_initialize(self, checked: int, stale: int) -> Weight: ...


class ComputeProvidersWeights:
    def register(self) -> Weight:
        return Weight(320 * US + 6 * READ + 7 * WRITE, 600)  # and its past record taken

    def update(self) -> Weight:
        return Weight(510 * US + READ + WRITE, 500)

    def heartbeat(self) -> Weight:
        return Weight(190 * US + 2 * READ + 2 * WRITE, 200)

    def deregister(self) -> Weight:
        return Weight(150 * US + 3 * READ + 5 * WRITE, 300)  # and its history kept

    def add_stake(self) -> Weight:
        return Weight(510 * US + 3 * READ + 3 * WRITE, 100)

    def stay(self) -> Weight:
        return Weight(190 * US + READ + 2 * WRITE, 200)  # as heartbeat: one record read and written

    def on_initialize(self, checked: int, stale: int) -> Weight:
        # the stale list, and the queue's cursor read and written; each check reads the provider and its due block,
        # and schedules its next check or removes it
        per_check = 15 * US + 2 * READ + 2 * WRITE
        return Weight(120 * US + 2 * READ + WRITE + checked * per_check + stale * (10 * US + WRITE), 0)


@dataclass(frozen=True)
class Judged:
    """What a verdict went over: the job's slots and inputs, and the most outputs any of its reveals named."""

    slots: int
    inputs: int
    outputs: int


class ComputeJobsWeightInfo(Protocol):
    def submit(self, inputs: int, redundancy: int, providers: int | None = None) -> Weight: ...
    def commit(self) -> Weight: ...
    def reveal(self, outputs: int, judges: bool = True, judged: Judged | None = None) -> Weight: ...
    def on_initialize(self, stale: int, expiries: int) -> Weight: ...


@dataclass(frozen=True)
class ComputeJobsWeights:
    max_providers: int
    """Assignment reads every provider: its weight assumes the most there may be."""
    max_slots: int
    """A verdict, a replacement or a dispute touches every slot of a job at most once."""
    max_inputs: int
    """A commit deadline checks, for every late slot, that its provider may read each input."""
    max_outputs: int
    """A verdict locks each of the adopted reveal's outputs."""

    def _assignment(self, providers: int | None = None) -> int:
        """Each provider read (``providers``, else the most there may be), and for a private input its key."""
        return (self.max_providers if providers is None else providers) * (2 * READ + 3 * US)

    def _verdict(self, judged: Judged | None = None) -> int:
        """A verdict over ``judged``, else over the largest job there may be."""
        if judged is None:
            judged = Judged(self.max_slots, self.max_inputs, self.max_outputs)
        # the job: its escrow's rest released (the hold and the account), its verdict's event, a watched job's
        # mark taken and queued as finished, or a dispute's phase end queued;
        # each slot: a provider record read and written (and the provider deregistered if it was leaving), a
        # balance move or a slash, an event, its outputs' files checked (their content compared, and adopted only
        # if all are usable and the submitter may read them: the file and its grant; its embargo ended); each
        # input unpinned; each adopted output locked (the file read, the lock written) and its lineage written
        per_slot = 100 * US + 3 * READ + 4 * WRITE + LAST_SLOT + judged.outputs * (5 * READ + WRITE)
        return (150 * US + 4 * READ + 4 * WRITE + judged.slots * per_slot + judged.inputs * UNPIN
                + judged.outputs * (5 * US + 2 * READ + 2 * WRITE))

    def submit(self, inputs: int, redundancy: int, providers: int | None = None) -> Weight:
        """``providers``: the registered providers read to assign the job; before the call runs, the most there
        may be (``max_providers``), and it returns its weight for those it read."""
        per_input = 15 * US + 8 * READ + WRITE  # file, grants, up to four segments' placements; its pin
        return Weight(1_300 * US + 6 * READ + 8 * WRITE + inputs * per_input + redundancy * (20 * US + 2 * WRITE)
                      + self._assignment(providers), 800 + 32 * inputs)

    def commit(self) -> Weight:
        return Weight(550 * US + 2 * READ + 2 * WRITE, 400)

    def reveal(self, outputs: int, judges: bool = True, judged: Judged | None = None) -> Weight:
        """``judges``: the last reveal judges the job, paying or slashing every slot (a dispute it opens has its
        referees drawn by the next block's ``on_initialize``, which charges that); before it ran, any reveal may
        be the last, over the largest job there may be, and it says whether it was, and over what (``judged``)."""
        judging = self._verdict(judged) if judges else 0
        return Weight(500 * US + 3 * READ + 3 * WRITE + outputs * (10 * US + 3 * READ + WRITE) + judging,
                      600 + 32 * outputs)

    def on_initialize(self, stale: int, expiries: int) -> Weight:
        input_checks = self.max_slots * self.max_inputs * (5 * US + 3 * READ)  # the file, its grant, its owner
        per_job = 120 * US + 4 * READ + 4 * WRITE + self._verdict() + self._assignment() + input_checks
        return Weight(80 * US + 4 * READ + WRITE + per_job * (stale + expiries), 0)  # (+ the queue's cursor)


class FederatedLearningWeightInfo(Protocol):
    def create_task(self, participants: int) -> Weight: ...
    def join(self) -> Weight: ...
    def commit_update(self) -> Weight: ...
    def deliver_update(self) -> Weight: ...
    def on_initialize(self, finished: int, round_ends: int, stale: int) -> Weight: ...


@dataclass(frozen=True)
class FederatedLearningWeights:
    max_participants: int
    """Ending or settling a round reads and pays every member at most once."""
    submit_job: Weight
    """A round's aggregation job submitted to ComputeJobs (its ``submit`` weight at the most inputs)."""
    max_redundancy: int
    """Settling a round looks at up to this many agreeing providers' model files (two reads each)."""

    def create_task(self, participants: int) -> Weight:
        return Weight(700 * US + 9 * READ + 8 * WRITE + participants * US, 800 + 32 * participants)  # and 2 pins

    def join(self) -> Weight:
        return Weight(290 * US + 3 * READ + 4 * WRITE, 300)

    def commit_update(self) -> Weight:  # (and the task's counts; the last one queues the round's end earlier)
        return Weight(470 * US + 4 * READ + 5 * WRITE, 300)

    def deliver_update(self) -> Weight:  # (and the update's pin; the last one queues the round's end earlier)
        return Weight(510 * US + 11 * READ + 6 * WRITE, 400)

    def on_initialize(self, finished: int, round_ends: int, stale: int) -> Weight:
        """``stale``: queued looks that ended no round (a commit window's, with updates still to deliver, or one
        left at a deadline a window closing early moved)."""
        per_member = 30 * US + 3 * READ + 3 * WRITE + UNPIN
        per_round = 100 * US + 5 * READ + 7 * WRITE + 3 * UNPIN + self.max_participants * per_member  # the task's pins
        per_settle = self.max_redundancy * 2 * READ + READ + WRITE  # and the adopted model locked
        return Weight(110 * US + 4 * READ + WRITE + per_round * (finished + round_ends) + per_settle * finished
                      + self.submit_job.ref_time * round_ends + stale * (5 * US + READ), 0)
