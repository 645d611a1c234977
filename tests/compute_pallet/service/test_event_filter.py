"""The provider decodes a block's events only when their bytes can concern it (``chain.may_concern``): never a
block that holds its assignment or a phase event of a job it works on is skipped, and blocks of other
providers' jobs and other pallets' events are.

The events are encoded by the runtime's own codec, so a change to the event layout that breaks the byte
test (a ``ComputeJobs`` event whose first field is not the job id) fails here.
"""

from __future__ import annotations

import dataclasses

import pytest

from compute_pallet.pallets.jobs import (
    ComputeJobs,
    JobAssigned,
    JobVerified,
    ResultCommitted,
    RevealStarted,
)
from compute_pallet.service.chain import may_concern
from runtime.cairn import CairnRuntime
from runtime.frame.construct import EventRecord
from runtime.pallets.balances import Transfer
from runtime.primitives import PhaseKind

ME, OTHER, THIRD = b"\x11" * 32, b"\x22" * 32, b"\x33" * 32


@pytest.fixture(scope="module")
def runtime() -> CairnRuntime:
    return CairnRuntime()


def encoded(runtime: CairnRuntime, *events: object) -> bytes:
    return runtime.events_codec.encode([EventRecord(PhaseKind.ApplyExtrinsic(i), e, ()) for i, e in enumerate(events)])


def test_every_compute_jobs_event_starts_with_the_job_id():
    for cls in ComputeJobs.EVENTS:
        assert dataclasses.fields(cls)[0].name == "job_id", cls


def test_an_assignment_naming_the_provider_and_a_watched_job_s_phase_events_are_decoded(runtime):
    pallet = runtime.index_of["ComputeJobs"]
    transfer = Transfer(OTHER, THIRD, 5)
    assigned = encoded(runtime, transfer, JobAssigned(7, 0, (OTHER, ME), 40))
    assert may_concern(assigned, ME, pallet, [])
    for event in (RevealStarted(7, 50), JobVerified(7, b"\x01" * 32, (b"\x02" * 32,), 10, 3),
                  ResultCommitted(7, OTHER)):
        assert may_concern(encoded(runtime, transfer, event), ME, pallet, [3, 7])


def test_blocks_of_other_providers_jobs_and_other_pallets_are_skipped(runtime):
    pallet = runtime.index_of["ComputeJobs"]
    others = encoded(runtime, Transfer(OTHER, THIRD, 7), JobAssigned(7, 0, (OTHER, THIRD), 40), RevealStarted(9, 50))
    assert not may_concern(others, ME, pallet, [])
    assert not may_concern(others, ME, pallet, [8])
    # the job id's bytes elsewhere (a transfer of 8 units) are not a phase event of job 8
    assert not may_concern(encoded(runtime, Transfer(OTHER, THIRD, 8)), ME, pallet, [8])
    assert may_concern(others, ME, pallet, [9])
    assert not may_concern(b"", ME, pallet, [0])
