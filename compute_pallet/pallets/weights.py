"""Weights of the compute pallets' calls and hooks, in the units of :mod:`runtime.weights`.

Each is the storage reads and writes the call does (``READ``/``WRITE``) plus its CPython time, measured on the
2-core reference VM (shared with other work, so the figures are upper-ish) with ``time.perf_counter`` around
dispatches on the pallet tests' mock runtime (``tests/compute_pallet/pallets/mock.py``, 6 providers):
see ``MEASURED`` for the figures. A job's record (its slots inline) is read and written whole by every call
on it, so the per-slot terms carry that record's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from runtime.primitives import Weight
from runtime.weights import READ, US, WRITE

__all__ = ["ComputeProvidersWeightInfo", "ComputeProvidersWeights", "ComputeJobsWeightInfo", "ComputeJobsWeights",
           "FederatedLearningWeightInfo", "FederatedLearningWeights", "MEASURED"]

MEASURED = {
    "ComputeProviders.register": 60, "ComputeProviders.heartbeat": 25, "ComputeJobs.submit (r=2, 6 providers)": 420,
    "ComputeJobs.commit": 90, "ComputeJobs.reveal (verdict, r=2)": 480, "FederatedLearning.create_task": 150,
    "FederatedLearning.commit_update": 60, "FederatedLearning.deliver_update": 110,
}
"""Microseconds per dispatch (median of 200, ``tests/compute_pallet/pallets/test_weights.py``'s method)."""


class ComputeProvidersWeightInfo(Protocol):
    def register(self) -> Weight: ...
    def update(self) -> Weight: ...
    def heartbeat(self) -> Weight: ...
    def deregister(self) -> Weight: ...
    def on_initialize(self, checked: int, stale: int) -> Weight: ...


class ComputeProvidersWeights:
    def register(self) -> Weight:
        return Weight(80 * US + 5 * READ + 6 * WRITE, 600)

    def update(self) -> Weight:
        return Weight(40 * US + READ + WRITE, 500)

    def heartbeat(self) -> Weight:
        return Weight(30 * US + 2 * READ + 2 * WRITE, 200)

    def deregister(self) -> Weight:
        return Weight(40 * US + 3 * READ + 4 * WRITE, 300)

    def on_initialize(self, checked: int, stale: int) -> Weight:
        return Weight(5 * US + READ + checked * (10 * US + READ) + stale * (10 * US + WRITE), 0)


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

    def _assignment(self) -> int:
        return self.max_providers * (READ + 3 * US)

    def _verdict(self) -> int:
        # each slot: a provider record read and written, a balance move, an event
        return self.max_slots * (30 * US + 3 * READ + 4 * WRITE)

    def submit(self, inputs: int, redundancy: int) -> Weight:
        per_input = 10 * US + 6 * READ  # file, grants, up to four segments' placements
        return Weight(150 * US + 6 * READ + 8 * WRITE + inputs * per_input + redundancy * (20 * US + 2 * WRITE)
                      + self._assignment(), 800 + 32 * inputs)

    def commit(self) -> Weight:
        return Weight(60 * US + 2 * READ + 2 * WRITE, 400)

    def reveal(self, outputs: int) -> Weight:
        # the last reveal judges the job (paying or slashing every slot) or opens a dispute (an assignment)
        return Weight(100 * US + 3 * READ + 3 * WRITE + outputs * (10 * US + 2 * READ + WRITE) + self._verdict()
                      + self._assignment(), 600 + 32 * outputs)

    def on_initialize(self, stale: int, expiries: int) -> Weight:
        per_job = 120 * US + 4 * READ + 4 * WRITE + self._verdict() + self._assignment()
        return Weight(10 * US + 3 * READ + per_job * (stale + expiries), 0)


class FederatedLearningWeightInfo(Protocol):
    def create_task(self, participants: int) -> Weight: ...
    def join(self) -> Weight: ...
    def commit_update(self) -> Weight: ...
    def deliver_update(self) -> Weight: ...
    def on_initialize(self, finished: int, round_ends: int) -> Weight: ...


@dataclass(frozen=True)
class FederatedLearningWeights:
    max_participants: int
    """Ending or settling a round reads and pays every member at most once."""
    submit_job: Weight
    """A round's aggregation job submitted to ComputeJobs (its ``submit`` weight at the most inputs)."""

    def create_task(self, participants: int) -> Weight:
        return Weight(120 * US + 6 * READ + 5 * WRITE + participants * US, 800 + 32 * participants)

    def join(self) -> Weight:
        return Weight(50 * US + 3 * READ + 4 * WRITE, 300)

    def commit_update(self) -> Weight:
        return Weight(50 * US + 3 * READ + 2 * WRITE, 300)

    def deliver_update(self) -> Weight:
        return Weight(90 * US + 6 * READ + 2 * WRITE, 400)

    def on_initialize(self, finished: int, round_ends: int) -> Weight:
        per_round = 100 * US + 4 * READ + 6 * WRITE + self.max_participants * (30 * US + 3 * READ + 3 * WRITE)
        return Weight(10 * US + 3 * READ + per_round * (finished + round_ends) + self.submit_job.ref_time * round_ends, 0)
