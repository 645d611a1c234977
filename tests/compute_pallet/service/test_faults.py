"""Misbehaving and crashing providers against a real chain: a wrong result is slashed, a copied reveal is
refused, a no-show is slashed and replaced, a provider killed mid-job resumes from its journal and is paid, a
slashed provider started again tops its stake back up, and providers never granted a private input are paid, not
slashed.

About five minutes of waiting for phase deadlines (the suite runs files side by side). One market serves the
module, in order: two honest providers (``//Storage0``, ``//Provider1``) and a third, ``//Provider2``, restarted with a
different ``--fault`` for each scenario (staked at twice the minimum, so that its slashes leave it eligible).
Every job asks for r = 3, so the draw names all three and the scenario does not depend on chance; a
no-show's replacement is a fourth provider started after the job.
The reveal period is short so that the copier's reveal deadline comes within seconds, yet long enough for it to
see the others' reveals final and send its copy while the phase is open; the commit period is the dev preset's,
so that a busy machine still has the killed provider restarted and the paused one committing before the commit
deadline (only the no-show and the withheld-input scenarios wait for it).
"""

from __future__ import annotations

import json
import signal

import pytest
from click.testing import CliRunner
import trio

from compute_pallet import datasets
from compute_pallet.pallets.types import JobStatus, SlotStatus
from compute_pallet.service.chain import ProviderChain
from compute_pallet.service.jobs import GaveUp, JobWorker
from compute_pallet.service.journal import Journal, JobRecord, Phase
from compute_pallet.service.metrics import ProviderMetrics
from runtime.keyring import Keypair
from sdk.account import Token
from sdk.cli import main
from sdk.client import AsyncClient, Client
from tests.compute_pallet.service.network import Market, start_market, start_providers, submit_job, wait_judged
from tests.integration.nodes import wait_until

pytestmark = pytest.mark.long(4.7)  # minutes, about: started early (tests/conftest.py)

PARAMS = {"ComputeJobs": {"commit_period": 60, "reveal_period": 15}}
JOB = b'{"epochs": 3, "hidden": [16]}'


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
def alice(market):
    with Client(market.url, signer="//Alice") as client:
        yield client


@pytest.fixture(scope="module")
def dataset(alice) -> bytes:
    return alice.storage.upload(datasets.split("digits")[0], private=False)


def restart_with(market: Market, index: int, fault: str | None) -> None:
    provider = market.providers[index]
    provider.stop()
    provider.fault = fault
    provider.spawn().wait_ready()


def statuses(market: Market, job) -> dict[int, SlotStatus]:
    """Slot status by provider index."""
    index = {p.account: i for i, p in enumerate(market.providers)}
    return {index[slot.provider]: slot.status for slot in job.slots}


def test_a_wrong_result_is_outvoted_and_slashed(market, alice, dataset):
    job = wait_judged(alice, submit_job(alice, "train", [dataset], JOB, redundancy=3))
    assert job.status is JobStatus.Verified
    assert statuses(market, job) == {0: SlotStatus.Paid, 1: SlotStatus.Paid, 2: SlotStatus.Slashed}
    assert alice.query("ComputeProviders", "Providers", [market.providers[2].account]).disputes_lost == 1
    (lost,) = [slot for slot in job.slots if slot.status is SlotStatus.Slashed]  # its outputs: named by no verdict
    wait_until(lambda: all(alice.query("FileBank", "Files", [fid]) is None for fid in lost.reveal.outputs), 60,
               "the outvoted provider's outputs deleted")


def test_a_reveal_the_chain_has_although_its_inclusion_went_unreported_is_not_given_up(market, alice, dataset,
                                                                                          tmp_path):
    """A reveal whose inclusion the connection lost is sent again and refused: the worker checks the slot, and
    only a reveal that is not its own there is a failure."""
    job_id = submit_job(alice, "train", [dataset], JOB)
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
    job = wait_judged(alice, submit_job(alice, "train", [dataset], JOB, redundancy=3))
    assert job.status is JobStatus.Verified
    assert statuses(market, job) == {0: SlotStatus.Paid, 1: SlotStatus.Paid, 2: SlotStatus.NoShow}
    copier = market.providers[2]  # its worker logs the refusal after the inclusion wait, maybe after the verdict
    wait_until(lambda: "refused the copied reveal (CommitmentMismatch)" in copier.log_path.read_text(errors="replace"),
               60, "the copier logs its refused reveal")


def test_a_provider_killed_after_committing_reveals_from_its_journal(market, alice, dataset):
    restart_with(market, 2, None)
    first, paused = market.providers[0], market.providers[1]
    paused.kill(signal.SIGSTOP)  # holds the reveal phase back until the killed provider is back
    try:
        job_id = submit_job(alice, "train", [dataset], JOB, redundancy=3)
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
    assert statuses(market, job) == {0: SlotStatus.Paid, 1: SlotStatus.Paid, 2: SlotStatus.Paid}
    # forgotten once the verdict is final and its unadopted copies deleted: a few blocks after the best chain's
    wait_until(lambda: first.journaled_jobs() == [], 60, "the restarted provider to forget the judged job")


def test_a_no_show_is_slashed_and_replaced(market, folder, alice, dataset):
    restart_with(market, 2, "no-show")
    no_shows = alice.query("ComputeProviders", "Providers", [market.providers[2].account]).no_shows
    job_id = submit_job(alice, "train", [dataset], JOB, redundancy=3)
    start_providers(market, folder, [None])  # the only provider left to replace the no-show
    job = wait_judged(alice, job_id, timeout=400)  # a commit period, then another round: its deadline bounds it
    assert job.status is JobStatus.Verified
    assert statuses(market, job) == {0: SlotStatus.Paid, 1: SlotStatus.Paid, 2: SlotStatus.NoShow,
                                     3: SlotStatus.Paid}
    assert alice.query("ComputeProviders", "Providers", [market.providers[2].account]).no_shows == no_shows + 1


def test_a_slashed_provider_tops_its_stake_up_when_it_starts_again(market):
    """Every scenario above slashed ``//Provider2``; started again, it holds its ``--stake`` once more."""
    provider = market.providers[2]
    with Client(market.url) as client:
        configured = 2 * client.get_constant("ComputeProviders", "MinStake")
        assert client.query("ComputeProviders", "Providers", [provider.account]).stake < configured
        restart_with(market, 2, None)
        assert client.query("ComputeProviders", "Providers", [provider.account]).stake == configured
    topped_up = [line for line in provider.log_tail().splitlines() if "stake topped up from" in line]
    assert topped_up and topped_up[-1].endswith(f" CAIRN to {Token('CAIRN', 12).format(configured)}"), topped_up


def test_providers_never_granted_a_private_input_are_paid_not_slashed(market, alice):
    """The submitter (through the chain client, which grants nothing) withholds its private dataset: every
    assigned provider is refused the download until its commit deadline, gives the job up, and the chain pays
    it for the slot instead of slashing it; the job fails."""
    private = alice.storage.upload(datasets.split("digits")[0], private=True)
    job_id = submit_job(alice, "train", [private], JOB, redundancy=3)
    assigned = [slot.provider for slot in alice.query("ComputeJobs", "Jobs", [job_id]).slots]
    stakes = {who: alice.query("ComputeProviders", "Providers", [who]).stake for who in assigned}
    job = wait_judged(alice, job_id)
    assert job.status is JobStatus.Failed
    assert [slot.status for slot in job.slots] == [SlotStatus.InputsWithheld] * 3
    waited = CliRunner().invoke(main, ["compute", "wait", str(job_id), "--json", "--rpc", market.url])
    assert waited.exit_code == 1 and json.loads(waited.stdout)["state"] == "Failed"  # `wait 7 && result 7` stops
    assert job.paid == sum(slot.price for slot in job.slots) and job.refunded == job.escrowed - job.paid
    for who in assigned:
        assert alice.query("ComputeProviders", "Providers", [who]).stake == stakes[who]
    for provider in market.providers:  # each sees its deadline pass at its next retry, a second or so later
        if provider.account in assigned:
            wait_until(lambda p=provider: f"job {job_id}: gave up" in p.log_tail(), 60, "the provider gave up")
