"""``cairn provider`` processes against a real chain and storage network: a job assigned, run, committed,
uploaded, revealed, verified and paid.

One module-scoped market (a dev validator, two storage nodes, two honest providers, one of them storage node
0's account) serves every test here. The public job is submitted with the chain client
(``ComputeJobs.submit``), as any client would; the private one with ``client.compute``, which grants the
assigned providers the input, their reads recorded, after the job is included (the providers retry until it
does), and is granted the private outputs the same way.
"""

from __future__ import annotations

import io
import json
import os
import urllib.request

import pytest
from click.testing import CliRunner

from compute_pallet import datasets
from compute_pallet.formats import MAX_MODEL_BYTES, load_model
from compute_pallet.pallets.types import JobStatus, SlotStatus
from compute_pallet.pallets.providers import ComputeProviders
from devnet.provider import PROVIDER
from devnet.state import ProcessRecord
from sdk.cli import main
from sdk.client import Client
from sdk.compute.errors import Refused
from sdk.storage.errors import AccessDenied
from tests.compute_pallet.service.network import Market, start_market, start_providers, submit_job, wait_judged
from runtime.cairn import COMPOSITION
from tests.integration.nodes import wait_until

PROVIDERS_INDEX = next(slot.index for slot in COMPOSITION if slot.definition.pallet is ComputeProviders)


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Market:
    market = start_market(tmp_path_factory.mktemp("market"))
    yield market
    market.stop()


def test_a_train_job_is_verified_and_both_providers_paid(market):
    train, _ = datasets.split("digits")
    with Client(market.url, signer="//Alice") as client:
        dataset = client.storage.upload(train, private=False)
        job_id = submit_job(client, "train", [dataset], b'{"epochs": 5}')
        job = wait_judged(client, job_id)
        assert job.status is JobStatus.Verified, job
        assert [slot.status for slot in job.slots] == [SlotStatus.Paid, SlotStatus.Paid]
        assert {slot.provider for slot in job.slots} == {p.account for p in market.providers}
        assert len(job.outputs) == 2  # model.safetensors, result.json
        model_bytes, result_bytes = io.BytesIO(), io.BytesIO()
        client.storage.download(job.outputs[0], model_bytes)
        client.storage.download(job.outputs[1], result_bytes)
        model = load_model(model_bytes.getvalue())
        assert model.layer_sizes[0] == 64 and model.classes == 10
        assert json.loads(result_bytes.getvalue())["layers"] == [64, 64, 10]

        # the next job on the same dataset: each provider reads it from its disk, fetches only the model
        evaluated = wait_judged(client, submit_job(client, "evaluate", [job.outputs[0], dataset], b"{}"))
        assert evaluated.status is JobStatus.Verified, evaluated
    for provider in market.providers:
        assert 'cairn_provider_input_cache_reads_total{result="hit"} 1' in provider.metrics()
        assert 'cairn_provider_input_cache_reads_total{result="miss"} 2' in provider.metrics()
        # settled jobs leave nothing behind, once the provider has seen the verdict (a block or two after us)
        wait_until(lambda: provider.journaled_jobs() == [], 60, f"{provider} to forget its settled jobs")
    with Client(market.url) as reader:  # the agreeing provider's copy that the verdict did not adopt is deleted
        for judged in (job, evaluated):
            copies = [fid for slot in judged.slots for fid in slot.reveal.outputs if fid not in judged.outputs]
            assert len(copies) == len(judged.outputs)
            wait_until(lambda: all(reader.query("FileBank", "Files", [fid]) is None for fid in copies), 60,
                       "the unadopted outputs deleted")
            assert all(reader.storage.info(fid).locked for fid in judged.outputs)  # kept from their provider


def test_an_input_past_its_kind_s_bound_is_refused_without_being_fetched(market):
    """Each provider refuses an input larger than its position allows by its size alone, and once fetched it
    whole first: 64 MiB and a byte here, up to a file's 8 GiB, every provider of the job, at no cost to the
    submitter. Now the size on chain decides, and only the dataset is fetched."""
    train, _ = datasets.split("digits")
    with Client(market.url, signer="//Alice") as client:
        dataset = client.storage.upload(train, private=False)
        oversized = client.storage.upload(os.urandom(MAX_MODEL_BYTES + 1), private=False)
        fetched = [_fetches(provider) for provider in market.providers]
        # (the deadline its estimate needs: a model that large is estimated at over two hours)
        job = wait_judged(client, submit_job(client, "evaluate", [oversized, dataset], b"{}", blocks=5000))
        assert job.status is JobStatus.Verified, job
        result = io.BytesIO()
        client.storage.download(job.outputs[-1], result)
        assert json.loads(result.getvalue()) == {"refused": "TooLarge"}
    assert [_fetches(provider) - before for provider, before in zip(market.providers, fetched)] == [1, 1]


def _fetches(provider) -> int:
    """The inputs the provider has fetched from the storage network (its input cache's misses)."""
    (line,) = [line for line in provider.metrics().splitlines()
               if line.startswith('cairn_provider_input_cache_reads_total{result="miss"}')]
    return int(float(line.split()[-1]))


@pytest.mark.slow  # 30 s more; the default run's end-to-end test submits through client.compute too
def test_a_private_input_s_job_waits_for_its_grant_and_returns_private_outputs(market, tmp_path):
    train, _ = datasets.split("digits")
    with Client(market.url, signer="//Alice") as alice, Client(market.url, signer="//Bob") as bob:
        dataset = alice.storage.upload(train, private=True)
        job_id = alice.compute.submit("train", [dataset], {"epochs": 2, "hidden": [16]})
        assert alice.compute.wait(job_id, timeout=240).state == "Verified"
        result = alice.compute.result(job_id, tmp_path)
        assert load_model(result.paths[0].read_bytes()).layer_sizes == (64, 16, 10)
        job = alice.query("ComputeJobs", "Jobs", [job_id])
        assert all(alice.storage.info(fid).encrypted for fid in job.outputs)
        with pytest.raises(AccessDenied):
            bob.storage.download(job.outputs[0], io.BytesIO())
        # every read logged before its bytes, each by the file's owner with its grant: no reader signed a record
        providers = {slot.provider for slot in job.slots}
        assert sorted((r.account, r.recorder) for r in alice.storage.access_log(dataset)) == sorted(
            (p, alice.signer.public) for p in providers)
        for output in job.outputs:
            (read,) = alice.storage.access_log(output)
            assert read.account == alice.signer.public and read.recorder in providers


def test_health_and_metrics_report_the_provider_s_record_and_cpu(market):
    provider = market.providers[0]
    with urllib.request.urlopen(f"{provider.url}/v1/health", timeout=10) as response:
        health = json.loads(response.read())
    assert health["account"] == "0x" + provider.account.hex() and health["registered"]
    assert health["stake"] > 0 and health["reputation"] == 1000 and health["fault"] is None
    metrics = provider.metrics()
    assert "cairn_provider_job_cpu_seconds_total" in metrics and "cairn_provider_worker_cpu_seconds_total" in metrics
    assert 'cairn_provider_jobs_total{phase="assigned"}' in metrics
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{provider.url}/v1/jobs", timeout=10)
    assert refused.value.code == 404
    record = ProcessRecord("provider-0", "provider", 0, 1, 1, {"http": provider.port}, (), "", "")
    status = PROVIDER.status(record)  # what `cairn devnet status` shows
    assert status["stake"] == health["stake"] and status["reputation"] == 1000 and "jobs run" in status


def test_a_provider_heartbeats_by_the_clock_with_nothing_else_happening(market):
    """Every third of ``HeartbeatTimeout``'s slots (10 blocks on the dev preset), whether or not it has jobs:
    its ``last_heartbeat`` moves on and it never goes stale."""
    provider = market.providers[1]

    def last_heartbeat() -> int:
        with urllib.request.urlopen(f"{provider.url}/v1/health", timeout=10) as response:
            return json.loads(response.read())["last_heartbeat"]

    first = last_heartbeat()
    wait_until(lambda: last_heartbeat() > first, 90, "the next heartbeat")
    with Client(market.url) as client:
        timeout = client.get_constant("ComputeProviders", "HeartbeatTimeout")
        assert client.get_block_header().number - last_heartbeat() < timeout


def test_a_provider_leaving_with_a_job_finishes_it_then_stops_heartbeating_and_registers_again_when_restarted(
        market, tmp_path):
    """Heartbeats are pooled without a watch; the provider reads its record when the next one is due. One that
    asks to leave the market (``cairn compute leave``, its operator's key used from the command line) while it
    holds a job drains: it is told so, takes no new job, finishes the one it holds (paid), and is then
    deregistered with all its stake back; it is told that too and sends no heartbeat the chain would refuse.
    Started again, it registers again. Leaving twice is refused, and so is taking back a leave once it is done."""
    (provider,) = start_providers(market, tmp_path, [None])
    record = ProcessRecord("provider-0", "provider", 0, 1, 1, {"http": provider.port}, (), "", "")

    def health() -> dict:
        with urllib.request.urlopen(f"{provider.url}/v1/health", timeout=10) as response:
            return json.loads(response.read())

    def heartbeat_retries() -> float:
        return sum(float(line.split()[-1]) for line in provider.metrics().splitlines()
                   if line.startswith('cairn_provider_retries_total{step="heartbeat"}'))

    def stake_held(operator: Client) -> int:
        holds = operator.query("Balances", "Holds", [operator.signer.public])
        return sum(hold.amount for hold in holds if hold.id.pallet_index == PROVIDERS_INDEX)

    assert health()["registered"]
    train, _ = datasets.split("digits")
    with Client(market.url, signer="//Alice") as alice, Client(market.url, signer=provider.key) as operator:
        assert stake_held(operator) > 0
        dataset = alice.storage.upload(train, private=False)
        held = submit_job(alice, "train", [dataset], b'{"epochs": 1}', redundancy=3)  # every provider's
        leaving = CliRunner().invoke(main, ["compute", "leave", "--key", provider.key, "--rpc", market.url])
        assert leaving.exit_code == 0 and "leaving the market" in leaving.output and "its 1 job(s)" in leaving.output
        (listed,) = [p for p in operator.compute.providers() if p.account == operator.signer.public]
        assert listed.leaving and listed.active_jobs == 1
        table = CliRunner().invoke(main, ["compute", "providers", "--rpc", market.url], env={"COLUMNS": "300"})
        assert table.output.count("(leaving)") == 1, table.output
        with pytest.raises(Refused, match="AlreadyLeaving"):
            operator.compute.leave()
        wait_until(lambda: "this provider is leaving the market" in provider.log_tail(), 90, "the daemon told")
        assert health()["leaving"] and PROVIDER.status(record)["market"] == "leaving (no new jobs)"
        after = submit_job(alice, "train", [dataset], b'{"epochs": 1}')  # assigned to the two others
        job = wait_judged(alice, held)
        assert job.status is JobStatus.Verified and all(slot.status is SlotStatus.Paid for slot in job.slots)
        assert provider.account in {slot.provider for slot in job.slots}
        assert provider.account not in {slot.provider for slot in alice.query("ComputeJobs", "Jobs", [after]).slots}
        wait_until(lambda: operator.query("ComputeProviders", "Providers", [operator.signer.public]) is None, 60,
                   "the provider deregistered once its job was settled")
        assert stake_held(operator) == 0  # all of it back (its outputs' storage deposits stay held)
        with pytest.raises(Refused, match="NotRegistered"):
            operator.compute.leave()
    again = CliRunner().invoke(main, ["compute", "leave", "--key", provider.key, "--rpc", market.url])
    assert again.exit_code == 1 and "ComputeProviders.NotRegistered" in again.stderr, again.output
    late = CliRunner().invoke(main, ["compute", "stay", "--key", provider.key, "--rpc", market.url])
    assert late.exit_code == 1 and "ComputeProviders.NotRegistered" in late.stderr, late.output  # left already
    wait_until(lambda: "this provider is not registered any more" in provider.log_tail(), 90,
               "the daemon noticed it left")
    # A heartbeat of its registered life may have been retried (one slow to land on a busy machine): what is
    # checked is that none is sent once it left. The daemon counts a retry in the loop that logged the line
    # above, before it: from here the count is that of a provider that left. It looks again every third of
    # the heartbeat timeout; the chain moving on by more than that gives it at least one more look.
    retries = heartbeat_retries()
    with Client(market.url) as client:
        period = client.get_constant("ComputeProviders", "HeartbeatTimeout") // 3
        look_again = client.get_block_header().number + period + 1
        wait_until(lambda: client.get_block_header().number >= look_again, 90, "a heartbeat period after it left")
    assert not health()["registered"] and heartbeat_retries() == retries
    assert PROVIDER.status(record)["market"] == "left (not registered)"  # what `cairn devnet status` shows
    provider.stop()
    provider.spawn().wait_ready()
    assert health()["registered"]
    with Client(market.url, signer=provider.key) as operator:  # with no job in flight, it leaves at once
        stake = stake_held(operator)
        left = CliRunner().invoke(main, ["compute", "leave", "--key", provider.key, "--rpc", market.url])
        released = operator.account.token().format(stake)  # "200 CAIRN"
        assert left.exit_code == 0 and f"left the market, {released} of its stake released" in left.output, left.output
        assert stake > 0 and stake_held(operator) == 0
