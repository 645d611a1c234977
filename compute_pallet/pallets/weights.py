"""Weights of the compute pallets' calls and hooks, in the units of :mod:`runtime.weights`.

Each is the storage reads and writes the call does (``READ``/``WRITE``) plus its CPython time, measured on the
2-core reference VM (shared with other work, so the figures are upper-ish) with ``time.perf_counter`` around
``ext.dispatch`` on the pallet tests' mock runtime (``tests/compute_pallet/pallets/mock.py``), median of 30
dispatches, each on a fresh mock with 6 providers and 6 storage nodes, in µs per whole dispatch:

    ComputeProviders.register 433, heartbeat 64, add_stake 180; ComputeJobs.submit 978 (r = 2, one input), commit 179,
    reveal 1,143 (the last of r = 2: it judges the job, pays both and refunds).

Again on spec 171 (medians of 60 in two runs, the VM's speed varying up to 1.6x between them; the weights charge the
slower): ComputeProviders.register 148-268, update 226-362, heartbeat 55-99, add_stake 178-300; ComputeJobs.submit
645-975 (r = 1 or 2, one input) and 1,010-1,294 (16 inputs), commit 195-235, reveal 241-817, on_initialize 40-91 in
a block with nothing due and 577-591 where a no-show is slashed and replaced.

FederatedLearning again since its windows close early (spec 171; medians of 30-60 in three runs within minutes,
between which the VM's speed varied up to 2x; the weights charge the slowest): create_task 580-850 (open or listed,
up to 12 participants), join 229-267 (405-443 for a runtime's first, which builds its codecs), commit_update
180-387 (the last, closing the window, as much), deliver_update 210-444, on_initialize 36-119 in a block with
nothing due, 944-1,422 / 1,353-2,050 where a round of 3 / 12 updates ends and its job is submitted, 533-1,119 where
one is settled.

Each weight charges at least its figure, with the assignment and verdict terms at their bounds
(``MaxProviders`` providers read, ``max_slots`` slots settled). A job's record (its slots inline) is read and
written whole by every call on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from runtime.primitives import Weight
from runtime.weights import READ, US, WRITE

__all__ = ["ComputeProvidersWeightInfo", "ComputeProvidersWeights", "ComputeJobsWeightInfo", "ComputeJobsWeights",
           "FederatedLearningWeightInfo", "FederatedLearningWeights"]

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
        return Weight(350 * US + READ + WRITE, 500)

    def heartbeat(self) -> Weight:
        return Weight(60 * US + 2 * READ + 2 * WRITE, 200)

    def deregister(self) -> Weight:
        return Weight(150 * US + 3 * READ + 5 * WRITE, 300)  # and its history kept

    def add_stake(self) -> Weight:
        return Weight(250 * US + 3 * READ + 3 * WRITE, 100)

    def stay(self) -> Weight:
        return Weight(60 * US + READ + 2 * WRITE, 200)  # as heartbeat: one record read and written

    def on_initialize(self, checked: int, stale: int) -> Weight:
        # the stale list, and the queue's cursor read and written
        return Weight(5 * US + 2 * READ + WRITE + checked * (10 * US + READ) + stale * (10 * US + WRITE), 0)


class ComputeJobsWeightInfo(Protocol):
    def submit(self, inputs: int, redundancy: int) -> Weight: ...
    def commit(self) -> Weight: ...
    def reveal(self, outputs: int) -> Weight: ...
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

    def _assignment(self) -> int:
        return self.max_providers * (2 * READ + 3 * US)  # each provider, and for a private input its key

    def _verdict(self) -> int:
        # each slot: a provider record read and written (and the provider deregistered if it was leaving), a
        # balance move, an event, its outputs' files checked (their content compared, and adopted only if all
        # are usable and the submitter may read them: the file and its grant; its embargo ended); each input
        # unpinned; each adopted output locked (the file read, the lock written) and its lineage written
        return (self.max_slots * (30 * US + 3 * READ + 4 * WRITE + LAST_SLOT + self.max_outputs * (5 * READ + WRITE))
                + self.max_inputs * UNPIN + self.max_outputs * (5 * US + 2 * READ + 2 * WRITE))

    def submit(self, inputs: int, redundancy: int) -> Weight:
        per_input = 15 * US + 8 * READ + WRITE  # file, grants, up to four segments' placements; its pin
        return Weight(500 * US + 6 * READ + 8 * WRITE + inputs * per_input + redundancy * (20 * US + 2 * WRITE)
                      + self._assignment(), 800 + 32 * inputs)

    def commit(self) -> Weight:
        return Weight(200 * US + 2 * READ + 2 * WRITE, 400)

    def reveal(self, outputs: int) -> Weight:
        # the last reveal judges the job (paying or slashing every slot) or opens a dispute (an assignment)
        return Weight(100 * US + 3 * READ + 3 * WRITE + outputs * (10 * US + 3 * READ + WRITE) + self._verdict()
                      + self._assignment(), 600 + 32 * outputs)

    def on_initialize(self, stale: int, expiries: int) -> Weight:
        input_checks = self.max_slots * self.max_inputs * (5 * US + 3 * READ)  # the file, its grant, its owner
        per_job = 120 * US + 4 * READ + 4 * WRITE + self._verdict() + self._assignment() + input_checks
        return Weight(60 * US + 4 * READ + WRITE + per_job * (stale + expiries), 0)  # (+ the queue's cursor)


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
        return Weight(680 * US + 9 * READ + 8 * WRITE + participants * US, 800 + 32 * participants)  # and 2 pins

    def join(self) -> Weight:
        return Weight(230 * US + 3 * READ + 4 * WRITE, 300)

    def commit_update(self) -> Weight:  # (and the task's counts; the last one queues the round's end earlier)
        return Weight(330 * US + 4 * READ + 5 * WRITE, 300)

    def deliver_update(self) -> Weight:  # (and the update's pin; the last one queues the round's end earlier)
        return Weight(290 * US + 11 * READ + 6 * WRITE, 400)

    def on_initialize(self, finished: int, round_ends: int, stale: int) -> Weight:
        """``stale``: queued looks that ended no round (a commit window's, with updates still to deliver, or one
        left at a deadline a window closing early moved)."""
        per_member = 30 * US + 3 * READ + 3 * WRITE + UNPIN
        per_round = 100 * US + 5 * READ + 7 * WRITE + 3 * UNPIN + self.max_participants * per_member  # the task's pins
        per_settle = self.max_redundancy * 2 * READ + READ + WRITE  # and the adopted model locked
        return Weight(80 * US + 4 * READ + WRITE + per_round * (finished + round_ends) + per_settle * finished
                      + self.submit_job.ref_time * round_ends + stale * (5 * US + READ), 0)
