"""Misbehaving and crashing providers against a real chain: a wrong result is slashed, a copied reveal is
refused, a slashed provider started again tops its stake back up, and a provider killed mid-job resumes from its
journal and is paid. (The scenarios that wait out a commit deadline are in ``test_commit_deadline.py``, on a
chain of shorter commit windows.)

About two minutes of waiting for phase deadlines (the suite runs files side by side). One market serves the
module, in order: two honest providers (``//Storage0``, ``//Provider1``) and a third, ``//Provider2``, restarted with a
different ``--fault`` for each scenario (staked at twice the minimum, so that its slashes leave it eligible).
Every job asks for r = 3, so the draw names all three and the scenario does not depend on chance.
The reveal period is short so that the copier's reveal deadline comes within seconds, yet long enough for it to
see the others' reveals final and send its copy while the phase is open; the commit period is long, so that a
busy machine still has the killed provider restarted and the paused one committing before the commit deadline
(no scenario here waits for it).
"""

from __future__ import annotations

import signal

import pytest
import trio

from compute_pallet import datasets
from compute_pallet.pallets.types import JobStatus, SlotStatus
from compute_pallet.service.chain import ProviderChain
from compute_pallet.service.jobs import GaveUp, JobWorker
from compute_pallet.service.journal import Journal, JobRecord, Phase
from compute_pallet.service.metrics import ProviderMetrics
from runtime.keyring import Keypair
from sdk.account import Token
from sdk.client import AsyncClient, Client
from tests.compute_pallet.service.network import (
    SMALL_TRAIN,
    Market,
    restart_with,
    slot_statuses,
    start_market,
    start_providers,
    submit_job,
    wait_judged,
)
from tests.integration.nodes import wait_until

pytestmark = pytest.mark.long(2.2)  # minutes, about: started early (tests/conftest.py)

PARAMS = {"ComputeJobs": {"commit_period": 60, "reveal_period": 15}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def market(folder) -> Market:
    market = start_market(folder, faults=(None, None), params=PARAMS)
    try:
        with Client(market.url) as client:
            stake = 2 * client.get_constant("ComputeProviders", "MinStake")
        start_providers(market, folder, ["wrong-result"], stake=stake)
    except BaseException:
        market.stop()
        raise
    yield market
    market.stop()


@pytest.fixture(scope="module")
def dataset(alice) -> bytes:
    return alice.storage.upload(datasets.split("digits")[0], private=False)


def test_a_wrong_result_is_outvoted_and_slashed(market, alice, dataset):
    job = wait_judged(alice, submit_job(alice, "train", [dataset], SMALL_TRAIN, redundancy=3))
    assert job.status is JobStatus.Verified
    assert slot_statuses(market, job) == {0: SlotStatus.Paid, 1: SlotStatus.Paid, 2: SlotStatus.Slashed}
    assert alice.query("ComputeProviders", "Providers", [market.providers[2].account]).disputes_lost == 1
    (lost,) = [slot for slot in job.slots if slot.status is SlotStatus.Slashed]  # its outputs: named by no verdict
    wait_until(lambda: all(alice.query("FileBank", "Files", [fid]) is None for fid in lost.reveal.outputs), 60,
               "the outvoted provider's outputs deleted")


def test_a_reveal_the_chain_has_although_its_inclusion_went_unreported_is_not_given_up(market, alice, dataset,
                                                                                          tmp_path):
    """A reveal whose inclusion the connection lost is sent again and refused: the worker checks the slot, and
    only a reveal that is not its own there is a failure."""
    job_id = submit_job(alice, "train", [dataset], SMALL_TRAIN)
    job = wait_judged(alice, job_id)
    provider = market.provider_of(job.slots[0].provider)
    revealed = job.slots[0].reveal.digest

    async def reveal_again(digest: bytes) -> None:
        async with AsyncClient(market.url) as client:
            chain = ProviderChain(client, Keypair.from_uri(provider.key))
            worker = JobWorker(client, chain, Journal(tmp_path), ProviderMetrics(), await chain.timing())
            record = JobRecord(job_id, Phase.COMMITTED, bytes(32), digest, (), ())
            await worker._reveal(job_id, record, await chain.job(job_id))

    trio.run(reveal_again, revealed)  # refused (the job is judged), and the slot holds this very reveal
    with pytest.raises(GaveUp, match="the reveal was refused"):
        trio.run(reveal_again, bytes(32))


def test_a_copied_reveal_is_refused_and_the_copier_is_a_no_show(market, alice, dataset):
    restart_with(market, 2, "copy")
    job = wait_judged(alice, submit_job(alice, "train", [dataset], SMALL_TRAIN, redundancy=3))
    assert job.status is JobStatus.Verified
    assert slot_statuses(market, job) == {0: SlotStatus.Paid, 1: SlotStatus.Paid, 2: SlotStatus.NoShow}
    copier = market.providers[2]  # its worker logs the refusal after the inclusion wait, maybe after the verdict
    wait_until(lambda: "refused the copied reveal (CommitmentMismatch)" in copier.log_path.read_text(errors="replace"),
               60, "the copier logs its refused reveal")


def test_a_slashed_provider_tops_its_stake_up_when_it_starts_again(market):
    """The copy scenario above left ``//Provider2`` slashed (its copied reveal refused, its slot unrevealed; the
    restart into it had topped the wrong result's slash up); started again, it holds its ``--stake`` once more."""
    provider = market.providers[2]
    with Client(market.url) as client:
        configured = 2 * client.get_constant("ComputeProviders", "MinStake")
        assert client.query("ComputeProviders", "Providers", [provider.account]).stake < configured
        restart_with(market, 2, None)
        assert client.query("ComputeProviders", "Providers", [provider.account]).stake == configured
    topped_up = [line for line in provider.log_tail().splitlines() if "stake topped up from" in line]
    assert topped_up and topped_up[-1].endswith(f" CAIRN to {Token('CAIRN', 12).format(configured)}"), topped_up


def test_a_provider_killed_after_committing_reveals_from_its_journal(market, alice, dataset):
    restart_with(market, 2, None)
    first, paused = market.providers[0], market.providers[1]
    paused.kill(signal.SIGSTOP)  # holds the reveal phase back until the killed provider is back
    try:
        job_id = submit_job(alice, "train", [dataset], SMALL_TRAIN, redundancy=3)
        journal = Journal(first.base_path / "jobs")

        def committed() -> bool:
            record = journal.load(job_id)
            return record is not None and record.phase is Phase.COMMITTED

        wait_until(committed, 60, "the first provider committed")
        first.kill()
        first.spawn().wait_ready()
    finally:
        paused.kill(signal.SIGCONT)
    job = wait_judged(alice, job_id)
    assert job.status is JobStatus.Verified
    assert slot_statuses(market, job) == {0: SlotStatus.Paid, 1: SlotStatus.Paid, 2: SlotStatus.Paid}
    # forgotten once the verdict is final and its unadopted copies deleted: a few blocks after the best chain's
    wait_until(lambda: first.journaled_jobs() == [], 60, "the restarted provider to forget the judged job")
