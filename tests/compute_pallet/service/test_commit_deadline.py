"""Providers that let a commit deadline pass, against a real chain: a no-show is slashed and replaced, and
providers never granted a private input give the job up at the deadline and are paid, not slashed.

Both scenarios wait out a whole commit window, so the chain's is short: 20 blocks (40 s) and the kind's estimate,
still ample for the no-show's replacement, a provider started after the job, to fetch the dataset, train the tiny
model and commit on a busy machine. One market serves the module, in order: three honest providers
(``//Storage0``, ``//Provider1``, ``//Provider2``) for the withheld input, then ``//Provider2`` restarted as a
no-show and a fourth started to replace it. Every job asks for r = 3, so the draw names all three and the scenario
does not depend on chance. (The other misbehaving providers are in ``test_faults.py``.)
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from compute_pallet import datasets
from compute_pallet.pallets.types import JobStatus, SlotStatus
from sdk.cli import main
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

pytestmark = pytest.mark.long(2.5)  # minutes, about: started early (tests/conftest.py)

PARAMS = {"ComputeJobs": {"commit_period": 20, "reveal_period": 15}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("deadline")


@pytest.fixture(scope="module")
def market(folder) -> Market:
    market = start_market(folder, faults=(None, None, None), params=PARAMS)
    yield market
    market.stop()


def test_providers_never_granted_a_private_input_are_paid_not_slashed(market, alice):
    """The submitter (through the chain client, which grants nothing) withholds its private dataset: every
    assigned provider is refused the download until its commit deadline, gives the job up, and the chain pays
    it for the slot instead of slashing it; the job fails."""
    private = alice.storage.upload(datasets.split("digits")[0], private=True)
    job_id = submit_job(alice, "train", [private], SMALL_TRAIN, redundancy=3)
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


def test_a_no_show_is_slashed_and_replaced(market, folder, alice):
    dataset = alice.storage.upload(datasets.split("digits")[0], private=False)
    restart_with(market, 2, "no-show")
    no_shows = alice.query("ComputeProviders", "Providers", [market.providers[2].account]).no_shows
    job_id = submit_job(alice, "train", [dataset], SMALL_TRAIN, redundancy=3)
    start_providers(market, folder, [None])  # the only provider left to replace the no-show
    job = wait_judged(alice, job_id)  # a commit window, then the replacement's
    assert job.status is JobStatus.Verified
    assert slot_statuses(market, job) == {0: SlotStatus.Paid, 1: SlotStatus.Paid, 2: SlotStatus.NoShow,
                                          3: SlotStatus.Paid}
    assert alice.query("ComputeProviders", "Providers", [market.providers[2].account]).no_shows == no_shows + 1
