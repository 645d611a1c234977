"""``client.compute`` and ``cairn compute`` against a real chain: one dev validator, two storage nodes, and
providers played by the test (:mod:`tests.sdk.compute.network`).

A job is submitted with the SDK over a private dataset; the played providers read it through the grants the
SDK made, run the real ``train`` kind, commit and reveal; the SDK's ``wait``, ``status``, ``result`` and
``lineage`` are checked against what the chain did, and ``rerun`` against the providers. Every class of bad
submission gets its typed error and escrows nothing; ``cairn compute`` does the same through the blocking
client; a federated round runs with two participants training locally (``client.fl.participate``) and is
traced from its model; a provider that could not be granted at submission is granted by ``wait``. The tests
share the module's network and run in order.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from compute_pallet import datasets
from compute_pallet.formats import Dataset, load_dataset, load_model, save_dataset
from compute_pallet.kinds import InvalidInputs, train
from compute_pallet.pallets.types import Resources
from runtime.keyring import Keypair
from sdk.account import Token
from sdk.cli import main
from sdk.client import AsyncClient, Client
from sdk.storage import AccessDenied, FileNotFound
from sdk.compute import (
    AbsurdResources,
    BadDeadline,
    BadInputs,
    BadRedundancy,
    InputDeleted,
    InputNotPublic,
    InputNotReadable,
    InsufficientFunds,
    InvalidParams,
    NotEnoughProviders,
    ResultMismatch,
    UnknownInput,
    UnknownJob,
    UnknownKind,
)
from tests.integration.nodes import killed_output
from tests.sdk.compute.network import PRICES, PROVIDERS, WAIT_S, Market, play, register_provider, start_market

TRAIN = {"hidden": [16], "epochs": 5}


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Market:
    market = start_market(tmp_path_factory.mktemp("compute-market"))
    yield market
    market.stop()


@pytest.fixture(scope="module")
def shared() -> dict:
    """What one test leaves for the next (the module's tests run in order)."""
    return {}


@pytest.fixture
async def alice(market):
    async with AsyncClient(market.url, signer="//Alice") as client:
        yield client


async def test_a_job_on_a_private_dataset_is_verified_paid_and_traced(alice, market, shared, tmp_path):
    train_part, held_out = datasets.split("wine")
    with anyio.fail_after(WAIT_S):
        dataset = await alice.storage.upload(train_part, private=True)
        taken = []
        job = await alice.compute.submit("train", [dataset], TRAIN, submitted=taken.append)
    assert taken == [job]  # told as soon as the chain had it
    for uri in PROVIDERS:  # granted at submission: both read the private dataset
        assert await alice.storage.ledger.sealed_key(dataset, _account(uri)) is not None
    alice_account = alice.signer.public  # ... their reads logged by Alice with the grants, in one block
    granted_reads = await alice.storage.access_log(dataset)
    assert sorted((r.account, r.recorder) for r in granted_reads) == sorted((_account(u), alice_account)
                                                                            for u in PROVIDERS)
    assert len({r.block for r in granted_reads}) == 1
    with anyio.fail_after(WAIT_S):
        async with anyio.create_task_group() as group:
            group.start_soon(play, market.url, job)
            status = await alice.compute.wait(job, timeout=WAIT_S)
    assert status.state == "Verified" and status.kind == "train"
    assert sorted(s.status for s in status.slots) == ["Paid", "Paid"]
    assert status.escrowed == 2 * 10**12 * 3  # the dearer offer caps the price; r = 2 plus one for a dispute
    assert status.paid == sum(PRICES[uri] for uri in PROVIDERS) and status.refunded == status.escrowed - status.paid
    assert status.held == 0 and len(status.outputs) == 2

    nonce = await alice.get_account_nonce(alice_account)
    result = await alice.compute.result(job, tmp_path / "out")
    assert [p.name for p in result.paths] == ["model.safetensors", "result.json"]
    assert await alice.get_account_nonce(alice_account) == nonce  # the providers logged Alice's reads for her
    for output in status.outputs:
        (read,) = await alice.storage.access_log(output)
        assert read.account == alice_account and read.recorder in {_account(u) for u in PROVIDERS}
    model = load_model(result.paths[0].read_bytes())
    assert model.layer_sizes == (13, 16, 3) and result.result["layers"] == [13, 16, 3]
    check = await alice.compute.rerun(job, tmp_path / "rerun")  # the kind run here gives the same bits
    assert check.matches and check.refused is None and check.result == result.result
    assert sorted(check.agreeing) == sorted(_account(uri) for uri in PROVIDERS)
    assert [Path(f).read_bytes() for f in check.files] == [p.read_bytes() for p in result.paths]

    graph = await alice.compute.lineage(status.outputs[0])
    model_node, job_node, data_node = f"file:0x{status.outputs[0].hex()}", f"job:{job}", f"file:0x{dataset.hex()}"
    assert graph.sources(model_node, "output") == (job_node,)
    assert graph.sources(job_node, "input") == (data_node,)
    assert graph.node(data_node).label == "dataset" and graph.node(job_node).details["kind"] == "train"
    assert sorted(graph.node(job_node).details["providers"]) == sorted("0x" + _account(u).hex() for u in PROVIDERS)
    json.dumps(graph.to_json())  # a dashboard can take it as it is
    shared.update(dataset=dataset, model=status.outputs[0], job=job, held_out=held_out)


async def test_bad_submissions_get_their_typed_errors_and_escrow_nothing(alice, market, shared):
    dataset = shared["dataset"]
    with anyio.fail_after(WAIT_S):
        public = await alice.storage.upload(shared["held_out"], private=False)
        # a 16 MiB "validation set" of one feature a row (see the federated tasks below)
        wide = await alice.storage.upload(os.urandom(16 << 20), private=False)
        small_model = train.run({"dataset": shared["held_out"]}, b'{"epochs":1,"hidden":[4]}', bytes(32)).outputs
        model = await alice.storage.upload(small_model["model.safetensors"], private=False)
    shared["public"] = public
    next_job = await alice.query("ComputeJobs", "NextJobId")
    next_task = await alice.query("FederatedLearning", "NextTaskId")
    held = await _reserved(alice, alice.signer.public)
    cases = [
        (UnknownKind, alice, dict(kind="sort", inputs=[dataset])),
        (InvalidParams, alice, dict(kind="train", inputs=[dataset], params={"hidden": "wide"})),
        (InvalidParams, alice, dict(kind="train", inputs=[dataset], params={"epochs": 0})),
        (InvalidParams, alice, dict(kind="train", inputs=[dataset], params=b"{'epochs': 2}")),
        (UnknownInput, alice, dict(kind="train", inputs=[bytes(32)])),
        (AbsurdResources, alice, dict(kind="train", inputs=[dataset], resources=Resources(0, 0, 0))),
        (AbsurdResources, alice, dict(kind="train", inputs=[dataset], resources=Resources(1, 64, 0))),  # < estimate
        (BadRedundancy, alice, dict(kind="train", inputs=[dataset], redundancy=0)),
        (BadDeadline, alice, dict(kind="train", inputs=[dataset], deadline=5)),
        (BadInputs, alice, dict(kind="train", inputs=[dataset, dataset, dataset])),
        (NotEnoughProviders, alice, dict(kind="train", inputs=[dataset], redundancy=3)),
        (NotEnoughProviders, alice, dict(kind="train", inputs=[dataset], max_price=PRICES["//Bob"] - 1)),
    ]
    async with AsyncClient(market.url, signer="//Dave") as dave, AsyncClient(market.url, signer="//Nobody") as nobody, \
            AsyncClient(market.url, signer="//Eve") as eve:
        await eve.storage.register_key()
        await alice.storage.grant(dataset, eve.signer.public)  # Eve may read it, not grant it to her providers
        cases += [(InputNotReadable, dave, dict(kind="train", inputs=[dataset])),  # Alice's private file
                  (InputNotReadable, eve, dict(kind="train", inputs=[dataset])),
                  (InsufficientFunds, nobody, dict(kind="train", inputs=[public]))]
        for error, client, args in cases:
            with pytest.raises(error):
                await client.compute.submit(args.pop("kind"), args.pop("inputs"), **args)
        for client in (dave, nobody, eve):
            assert await _reserved(alice, client.signer.public) == 0
    # the chain's own refusal maps to the same class (here a kind this client would not have let through)
    with pytest.raises(UnknownKind) as refused:
        await alice.compute.market.submit("ComputeJobs", "submit", {
            "kind": 200, "inputs": (public,), "params": b"{}", "resources": Resources(1, 256, 0),
            "price_cap": 10**12, "deadline": await alice.compute.market.block_number() + 500, "redundancy": 1})
    assert refused.value.failure is not None and refused.value.failure.pallet == "ComputeJobs"
    # a federated task on Alice's own private dataset: she may read it, its participants could not
    task_args = dict(rounds=1, stake=alice.get_constant("FederatedLearning", "MinStake"), commit_period=10,
                     deliver_period=5, reward_pool=10**12, price_cap=10**12)
    with pytest.raises(InputNotPublic):
        await alice.fl.create_task(dataset, **task_args)
    with pytest.raises(InputNotPublic):
        await alice.fl.create_task(public, validation=dataset, **task_args)
    with pytest.raises(BadDeadline, match="12 updates"):  # an open task's round of 12 could not be aggregated
        await alice.fl.create_task(wide, validation=wide, aggregation={"features": 1}, **task_args)
    with pytest.raises(BadInputs, match="no model"):  # the validation set's width undeclared, nor readable
        await alice.fl.create_task(wide, validation=wide, **task_args)
    with pytest.raises(BadInputs, match="no model"):  # a dataset as the model: every participant would refuse it
        await alice.fl.create_task(public, **task_args)
    with pytest.raises(BadInputs, match="validation set .* does not serve the base model"):  # a model, not data
        await alice.fl.create_task(model, validation=model, **task_args)
    with pytest.raises(InvalidParams, match="no validation set"):
        await alice.fl.create_task(public, aggregation={"features": 13}, **task_args)
    # what would fail every round: positional weights, a trim the task's participants cannot fill, one provider
    with pytest.raises(InvalidParams, match="weights"):
        await alice.fl.create_task(model, aggregation={"weights": [1, 2]}, **task_args)
    with pytest.raises(InvalidParams, match="needs 4 updates a round; the task can have 2"):
        await alice.fl.create_task(model, participants=[bytes(32), bytes([1]) * 32],
                                   aggregation={"aggregation": "trimmed_mean", "trim": 1}, **task_args)
    with pytest.raises(BadRedundancy, match="redundancy 1"):
        await alice.fl.create_task(model, redundancy=1, **task_args)
    with pytest.raises(InvalidParams):  # the chain refuses params that misstate the last input, whoever skips that
        await alice.compute.market.submit("FederatedLearning", "create_task", {
            "base_model": public, "rounds": 1, "participants": (), "stake": task_args["stake"],
            "commit_period": 10, "deliver_period": 5, "reward_pool": 10**12, "validation": public,
            "price_cap": 10**12, "redundancy": 2, "aggregation_params": b"{}"})
    with pytest.raises(InputNotPublic):  # the chain refuses it too, whoever skips the client's check
        await alice.compute.market.submit("FederatedLearning", "create_task", {
            "base_model": dataset, "rounds": 1, "participants": (), "stake": task_args["stake"],
            "commit_period": 10, "deliver_period": 5, "reward_pool": 10**12, "validation": None,
            "price_cap": 10**12, "redundancy": 2, "aggregation_params": b"{}"})
    assert await alice.query("FederatedLearning", "NextTaskId") == next_task
    assert await alice.query("ComputeJobs", "NextJobId") == next_job
    assert await _reserved(alice, alice.signer.public) == held


def test_a_submission_interrupted_while_it_waits_names_its_job(market, shared):
    """Ctrl-C during ``submit --wait``: the job's id was to be printed last; the command names it on stderr and
    how to follow it. The job then goes on (played here to its verdict)."""
    with Client(market.url) as reader:
        first = reader.query("ComputeJobs", "NextJobId")
        submit = subprocess.Popen([sys.executable, "-c", "from sdk.cli import main; main()", "compute", "submit",
                                   "--kind", "train", "--input", "0x" + shared["public"].hex(), "--param", "epochs=1",
                                   "--wait", "--rpc", market.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + WAIT_S
        while reader.query("ComputeJobs", "NextJobId") == first:
            assert submit.poll() is None and time.monotonic() < deadline, killed_output(submit)
            time.sleep(0.1)
        # into the wait for a verdict that no played provider gives yet: the command learns the job's id once its
        # inclusion wait returns, a bit after the chain shows the job, and shows nothing a test could wait on
        # (its status line is not drawn on a pipe); the job stays unjudged until played, so waiting longer costs
        # only time
        time.sleep(5)
        submit.send_signal(signal.SIGINT)
        out, err = submit.communicate(timeout=WAIT_S)
    assert submit.returncode != 0 and out == b"", (out, err)
    assert f"job {first} was submitted, its escrow held: `cairn compute wait {first}`" in err.decode(), err
    anyio.run(play, market.url, first, backend="trio")


def test_the_cli_submits_and_reports_a_job(market, shared, tmp_path):
    runner = CliRunner()
    chain = ["--rpc", market.url]
    submitted = runner.invoke(main, ["compute", "submit", *chain, "--kind", "train", "--input",
                                     "0x" + shared["public"].hex(), "--param", "hidden=8", "--param", "epochs=2"])
    assert submitted.exit_code == 0, submitted.output
    job = int(submitted.stdout.strip().splitlines()[-1])
    early = runner.invoke(main, ["compute", "result", *chain, str(job), "-o", str(tmp_path)])
    assert early.exit_code == 1 and "JobNotVerified" in early.output  # nothing verified yet
    impatient = runner.invoke(main, ["compute", "wait", *chain, str(job), "--timeout", "0.5"])
    assert impatient.exit_code == 1 and "WaitTimeout" in impatient.stderr, impatient.output
    with Client(market.url) as reader:
        assigned = {slot.provider for slot in reader.query("ComputeJobs", "Jobs", [job]).slots}
    provider = next(uri for uri in PROVIDERS if _account(uri) in assigned)  # holding the job: it drains
    leaving = runner.invoke(main, ["compute", "leave", *chain, "--key", provider])
    assert leaving.exit_code == 0 and "its 1 job(s) in flight" in leaving.output, leaving.output
    stayed = runner.invoke(main, ["compute", "stay", *chain, "--key", provider])
    assert stayed.exit_code == 0 and "stays on the market: it takes new jobs again" in stayed.output, stayed.output
    again = runner.invoke(main, ["compute", "stay", *chain, "--key", provider])
    assert again.exit_code == 1 and "ComputeProviders.NotLeaving" in again.stderr, again.output
    with Client(market.url) as reader:
        assert not any(p.leaving for p in reader.compute.providers())
    anyio.run(play, market.url, job, backend="trio")

    waited = runner.invoke(main, ["compute", "wait", *chain, str(job), "--timeout", str(WAIT_S)])
    assert waited.exit_code == 0 and f"job {job}: Verified, paid" in waited.stderr, waited.output
    shown = runner.invoke(main, ["compute", "status", *chain, str(job), "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert report["job_id"] == job and report["params"] == '{"epochs":2,"hidden":[8]}'
    assert [slot["status"] for slot in report["slots"]] == ["Paid", "Paid"]
    cairn = Token("CAIRN", 12)  # what people read: the JSON's units as tokens
    assert f"paid {cairn.format(report['paid'])}, refunded {cairn.format(report['refunded'])}" in waited.stderr
    table = runner.invoke(main, ["compute", "status", *chain, str(job)])
    assert f"escrowed {cairn.format(report['escrowed'])}  paid {cairn.format(report['paid'])}" in table.stdout
    model = report["outputs"][0]

    graph = runner.invoke(main, ["compute", "lineage", *chain, model, "--json"])
    assert graph.exit_code == 0, graph.output
    edges = json.loads(graph.stdout)["edges"]
    assert {"source": f"file:0x{shared['public'].hex()}", "target": f"job:{job}", "relation": "input"} in edges
    uploaded = runner.invoke(main, ["compute", "lineage", *chain, "0x" + shared["public"].hex()])
    assert uploaded.exit_code == 0 and "no verified job or federated round made it (an upload)" in uploaded.stdout
    unknown = runner.invoke(main, ["compute", "lineage", *chain, "0x" + "ab" * 32])
    assert unknown.exit_code == 1 and "FileNotFound" in unknown.stderr, unknown.output

    fetched = runner.invoke(main, ["compute", "result", *chain, str(job), "-o", str(tmp_path)])
    assert fetched.exit_code == 0, fetched.output
    assert fetched.stdout.split() == [str(tmp_path / "model.safetensors"), str(tmp_path / "result.json")]

    listed = runner.invoke(main, ["compute", "providers", *chain, "--json"])
    assert listed.exit_code == 0, listed.output
    offers = {p["account"]: p["offers"]["train"] for p in json.loads(listed.stdout)}
    assert offers == {"0x" + _account(uri).hex(): PRICES[uri] for uri in PROVIDERS}

    refused = runner.invoke(main, ["compute", "submit", *chain, "--kind", "train", "--input", "0x" + "00" * 32])
    assert refused.exit_code == 1 and "UnknownInput" in refused.output


async def test_a_rerun_says_why_the_kind_refused_and_catches_providers_agreeing_on_a_wrong_result(alice, market,
                                                                                                  shared, tmp_path):
    """``rerun`` trusts no provider: it runs the job's kind here. On inputs the kind refused it gives the message
    the chain does not keep; a job whose providers agreed on a run of another seed is verified by the chain and
    caught here (``cairn compute rerun`` exits 1); the inputs are read as any download is."""
    held_out = load_dataset(shared["held_out"])
    model = train.run({"dataset": shared["held_out"]}, b'{"epochs":1,"hidden":[8]}', bytes(32)).outputs
    with anyio.fail_after(WAIT_S):
        model = await alice.storage.upload(model["model.safetensors"], private=False)
        narrow = await alice.storage.upload(save_dataset(Dataset(held_out.X[:, :5], held_out.y)), private=False)
        refused = await alice.compute.submit("evaluate", [model, narrow])
        await play(market.url, refused)
        colluded = await alice.compute.submit("train", [shared["public"]], TRAIN)
        await play(market.url, colluded, lying=True)
        for job in (refused, colluded):
            assert (await alice.compute.wait(job, timeout=WAIT_S)).state == "Verified"

    check = await alice.compute.rerun(refused, tmp_path / "refused")
    assert check.matches and check.refused == "InvalidInputs: model takes 13 features, dataset has 5"
    assert check.result == {"refused": "InvalidInputs"} and [Path(f).name for f in check.files] == ["result.json"]
    shown = await anyio.to_thread.run_sync(CliRunner().invoke, main, [
        "compute", "rerun", str(refused), "-o", str(tmp_path / "cli"), "--rpc", market.url])
    assert shown.exit_code == 0 and "model takes 13 features, dataset has 5" in shown.stderr
    result = await anyio.to_thread.run_sync(CliRunner().invoke, main, [
        "compute", "result", str(refused), "-o", str(tmp_path / "result"), "--rpc", market.url])
    assert f"cairn compute rerun {refused}" in result.stderr  # where the refusal's reason is to be had
    assert (await alice.compute.status(refused)).refused == "InvalidInputs"  # read off the verified digest
    assert (await alice.compute.status(colluded)).refused is None
    waited = await anyio.to_thread.run_sync(CliRunner().invoke, main, [
        "compute", "wait", str(refused), "--rpc", market.url, "--key", "//Dave"])  # anyone's wait says it
    assert waited.exit_code == 0 and f"job {refused}: its kind refused the inputs or params (InvalidInputs" in (
        waited.stderr)
    shown = await anyio.to_thread.run_sync(CliRunner().invoke, main, [
        "compute", "status", str(refused), "--rpc", market.url, "--json"])
    assert json.loads(shown.stdout)["refused"] == "InvalidInputs"

    caught = await anyio.to_thread.run_sync(CliRunner().invoke, main, [
        "compute", "rerun", str(colluded), "-o", str(tmp_path / "colluded"), "--json", "--rpc", market.url])
    assert caught.exit_code == 1 and "is not the verified" in caught.stderr
    assert json.loads(caught.stdout)["matches"] is False
    assert json.loads(caught.stdout)["agreeing"] == []  # both providers revealed the other seed's result
    check = await alice.compute.rerun(colluded, tmp_path / "refused")  # the earlier run's result.json replaced
    assert not check.matches and sorted(p.name for p in (tmp_path / "refused").iterdir()) == [
        "model.safetensors", "result.json"]
    check = await alice.compute.rerun(refused, tmp_path / "refused")  # and no model left beside a refusal
    assert [p.name for p in (tmp_path / "refused").iterdir()] == ["result.json"]

    async with AsyncClient(market.url, signer="//Dave") as dave:
        with pytest.raises(AccessDenied):  # the first job's dataset is Alice's, private
            await dave.compute.rerun(shared["job"], tmp_path / "dave")
        with pytest.raises(UnknownJob):
            await dave.compute.rerun(10**9, tmp_path / "dave")
    assert not (tmp_path / "dave").exists()


async def test_a_federated_round_trains_on_local_data_and_traces_every_update(alice, market, shared, tmp_path):
    train_part = load_dataset(datasets.split("wine")[0])
    half = len(train_part.y) // 2
    local = tmp_path / "dave.npz"
    local.write_bytes(save_dataset(Dataset(train_part.X[:half], train_part.y[:half])))
    base_model = train.run({"dataset": shared["held_out"]}, b'{"epochs":1,"hidden":[8]}', bytes(32)).outputs
    with anyio.fail_after(WAIT_S):
        base = await alice.storage.upload(base_model["model.safetensors"], private=False)
    stake = alice.get_constant("FederatedLearning", "MinStake")
    before = (await alice.get_block_header()).number
    created = await cli(market, "fl", "create", "0x" + base.hex(), "--rounds", "1", "--stake", str(stake),
                        "--commit-period", "60", "--deliver-period", "40", "--reward-pool", str(10**12),
                        "--validation", "0x" + shared["public"].hex(), "--price-cap", str(2 * 10**12),
                        "--aggregation", "aggregation=mean", "--participant", "//Dave",
                        "--participant", "//Eve")
    task = int(created.splitlines()[-1])  # listed: its windows close once both did their part
    async with AsyncClient(market.url, signer="//Ferdie") as ferdie:  # data the model cannot take: nothing staked
        anyone = await alice.fl.create_task(base, rounds=1, stake=stake, commit_period=60, deliver_period=40,
                                            reward_pool=10**12, price_cap=2 * 10**12)
        with pytest.raises(InvalidInputs, match="model takes 13 features, dataset has 5"):
            await ferdie.fl.participate(anyone, (train_part.X[:, :5], train_part.y))
        assert await ferdie.compute.market.member_stake(anyone, ferdie.signer.public) is None
    stages: list[tuple[str, int, str]] = []
    done = {}

    async def participant(uri: str, data: object) -> None:
        async with AsyncClient(market.url, signer=uri) as client:
            done[uri] = await client.fl.participate(
                task, data, train_params={"epochs": 3},
                progress=lambda report: stages.append((uri, report.round, report.stage)))

    async def aggregator() -> None:
        while (found := await alice.query("FederatedLearning", "Tasks", [task])).job is None:
            await anyio.sleep(0.25)
        await play(market.url, found.job)

    with anyio.fail_after(3 * WAIT_S):
        async with anyio.create_task_group() as group:
            group.start_soon(participant, "//Dave", local)
            group.start_soon(participant, "//Eve", (train_part.X[half:], train_part.y[half:]))
            group.start_soon(aggregator)
    assert {uri: [p.round for p in rounds] for uri, rounds in done.items()} == {"//Dave": [0], "//Eve": [0]}
    assert [stage for uri, _, stage in stages if uri == "//Dave"] == ["training", "committed", "uploading", "delivered"]

    status = await alice.fl.status(task)
    (round0,) = status.history
    assert json.loads(await cli(market, "fl", "status", str(task), "--json")) == status.to_json()
    updates = {done[uri][0].update for uri in done}
    assert status.state == "Finished" and round0.finished and set(round0.updates) == updates
    assert set(round0.contributors) == {_account("//Dave"), _account("//Eve")} and round0.no_shows == ()
    assert len(round0.scores) == 2 and 0 < sum(round0.rewards) <= 10**12
    assert round0.global_out == status.global_model != base
    record = await alice.query("FederatedLearning", "Tasks", [task])  # both committed, then both delivered:
    assert record.commit_deadline < before + 60 and record.deliver_deadline < record.commit_deadline + 40  # early

    graph = await alice.compute.lineage(status.global_model)
    model, round_node = f"file:0x{status.global_model.hex()}", f"round:{task}/0"
    assert graph.sources(model, "aggregated") == (round_node,)
    assert {f"file:0x{u.hex()}" for u in updates} == set(graph.sources(round_node, "update"))
    assert f"file:0x{base.hex()}" in graph.sources(model, "parent")
    assert graph.node(f"file:0x{shared['public'].hex()}").label == "dataset"  # the task's validation set
    for uri in done:
        assert graph.sources(f"file:0x{done[uri][0].update.hex()}", "contributed") == (f"account:0x{_account(uri).hex()}",)


async def test_a_task_over_a_file_that_is_no_model_is_not_joined(alice, market, shared):
    """The SDK refuses to create a task whose base model is no model; one created by another client is found
    out before a participant stakes anything, as the task's fault (not its data's)."""
    receipt = await alice.compute.market.submit("FederatedLearning", "create_task", {
        "base_model": shared["public"], "rounds": 1, "participants": (),
        "stake": alice.get_constant("FederatedLearning", "MinStake"), "commit_period": 60, "deliver_period": 5,
        "reward_pool": 10**12, "validation": None, "price_cap": 10**12, "redundancy": 2, "aggregation_params": b"{}"})
    task = next(e.event.task_id for e in receipt.triggered_events if e.name == "TaskCreated")
    async with AsyncClient(market.url, signer="//Ferdie") as ferdie:
        with anyio.fail_after(WAIT_S), pytest.raises(BadInputs, match=f"task {task}'s model 0x.* is no model"):
            await ferdie.fl.participate(task, shared["held_out"])
        assert await ferdie.compute.market.member_stake(task, ferdie.signer.public) is None


async def test_an_update_too_late_for_the_commit_window_is_not_left_stored(alice, market, shared):
    """//Dave trains a round whose commit window has closed, seen before the commitment or only when the chain
    refuses it (the window closed while the update's id was computed: played here with a stale record of the
    task). Either way the round is reported missed, and nothing was uploaded: the update is uploaded only once
    committed to (it was uploaded first, and deleted again on such a refusal)."""
    local = datasets.split("wine")[0]
    async with AsyncClient(market.url, signer="//Dave") as dave:
        with anyio.fail_after(WAIT_S):
            task, closed = await _one_round_joined(alice, dave, shared, commit_period=20)
            await alice.fl.join(task)  # Alice's commitment keeps the round open past its commit window
            await alice.compute.market.submit("FederatedLearning", "commit_update", {
                "task_id": task, "round": 0, "commitment": bytes(32)})
            while (await dave.get_block_header()).number <= closed.commit_deadline:
                await anyio.sleep(0.25)
            stored = await dave.storage.ls()
            for record in (closed, dataclasses.replace(closed, commit_deadline=closed.commit_deadline + 1000)):
                stages: list[str] = []
                assert await dave.fl._contribute(task, record, local, b'{"epochs":1}',
                                                 lambda report: stages.append(report.stage)) is None
                assert stages == ["training", "missed"]
                assert await dave.storage.ls() == stored
            assert (await dave.query("FederatedLearning", "Tasks", [task])).status.name == "Training"  # (CommitClosed)


async def test_wait_grants_a_provider_without_a_grant_and_result_refuses_outputs_not_run(alice, market, shared,
                                                                                          tmp_path):
    """//Ferdie becomes a provider with no encryption key: no job over the private dataset may be assigned to it
    (it could never be granted the input), so three providers are too few. Once it registers a key it is
    drawn and granted at submission; its grant revoked, ``wait`` grants it again, and the job is verified by all
    three. They uploaded other files than the ones they ran, though: ``result`` finds the downloads off the
    verified digest."""
    dataset, ferdie = shared["dataset"], _account("//Ferdie")
    async with AsyncClient(market.url, signer="//Ferdie") as client:
        with anyio.fail_after(WAIT_S):
            await register_provider(client)
            with pytest.raises(NotEnoughProviders):
                await alice.compute.submit("train", [dataset], TRAIN, redundancy=3)
            await client.storage.register_key()
            job = await alice.compute.submit("train", [dataset], TRAIN, redundancy=3)
            assert await alice.storage.ledger.sealed_key(dataset, ferdie) is not None
            await alice.storage.revoke(dataset, ferdie)
            assert await alice.storage.ledger.sealed_key(dataset, ferdie) is None
    with anyio.fail_after(WAIT_S):
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(play, market.url, job, tampering=True))
            status = await alice.compute.wait(job, timeout=WAIT_S)
    assert await alice.storage.ledger.sealed_key(dataset, ferdie) is not None
    assert status.state == "Verified" and [s.status for s in status.slots] == ["Paid"] * 3
    assert status.paid == sum(PRICES.values()) and status.refunded == status.escrowed - status.paid
    with pytest.raises(ResultMismatch):
        await alice.compute.result(job, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


async def test_a_dataset_deleted_while_a_job_reads_it_goes_when_the_job_ends(alice, market, shared):
    """The owner deletes a job's input mid-job: the chain keeps it for the job (the providers still read it),
    ``info`` and ``cairn storage info`` say it is in use and going, no new job may name it, and it is gone once
    the job is verified."""
    train_part, _ = datasets.split("wine")
    with anyio.fail_after(WAIT_S):
        dataset = await alice.storage.upload(train_part, private=False)
        job = await alice.compute.submit("train", [dataset], TRAIN)
        assert await alice.storage.delete(dataset) == 1
        details = await alice.storage.info(dataset)
        assert (details.uses, details.deleting) == (1, True)
        shown = " ".join((await cli(market, "storage", "info", "0x" + dataset.hex())).split())
        assert "in use by 1 job(s) or round(s); deleted by its owner: goes when the last use ends" in shown
        with pytest.raises(InputDeleted):
            await alice.compute.submit("train", [dataset], TRAIN)
        async with anyio.create_task_group() as group:
            group.start_soon(play, market.url, job)
            status = await alice.compute.wait(job, timeout=WAIT_S)
    assert status.state == "Verified"
    with pytest.raises(FileNotFound):
        await alice.storage.info(dataset)


async def cli(market: Market, *args: str) -> str:
    """``cairn ARGS --rpc URL`` as //Alice, in a worker thread; its stdout (exit status 0 asserted)."""
    result = await anyio.to_thread.run_sync(CliRunner().invoke, main, [*args, "--rpc", market.url])
    assert result.exit_code == 0, result.output
    return result.stdout


async def _reserved(client: AsyncClient, account: bytes) -> int:
    info = await client.query("System", "Account", [account])
    return 0 if info is None else info.data.reserved


def _account(uri: str) -> bytes:
    return Keypair.from_uri(uri).public


async def test_an_upload_that_outlasts_the_delivery_window_is_reported_late_and_the_rounds_go_on(alice, market,
                                                                                              shared):
    """The update is uploaded only once the commit window has closed (no one can then commit to a copy of it),
    so an upload held up (a storage node down with a fragment of it) can outlast the delivery window: the
    round is reported late, and participation goes on, where the chain's refusal ended every later round.
    Played with a record of the task whose delivery window ends with its commit window."""
    async with AsyncClient(market.url, signer="//Dave") as dave:
        with anyio.fail_after(WAIT_S):
            task, record = await _one_round_joined(alice, dave, shared, commit_period=40)
            stages: list[str] = []
            assert await dave.fl._contribute(task, dataclasses.replace(record, deliver_deadline=record.commit_deadline),
                                             datasets.split("wine")[0], b'{"epochs":1}',
                                             lambda report: stages.append(report.stage)) is None
            assert stages == ["training", "committed", "uploading", "late"]
            assert (await dave.compute.market.update(task, 0, dave.signer.public)).file is None  # committed only


async def _one_round_joined(alice: AsyncClient, member: AsyncClient, shared: dict, *, commit_period: int):
    """A one-round open task on a small model of Alice's, with a long delivery window, ``member`` joined: its id
    and its record on chain."""
    base_model = train.run({"dataset": shared["held_out"]}, b'{"epochs":1,"hidden":[8]}', bytes(32)).outputs
    base = await alice.storage.upload(base_model["model.safetensors"], private=False)
    task = await alice.fl.create_task(base, rounds=1, stake=alice.get_constant("FederatedLearning", "MinStake"),
                                      commit_period=commit_period, deliver_period=200, reward_pool=10**12,
                                      price_cap=2 * 10**12)
    await member.fl.join(task)
    return task, await member.query("FederatedLearning", "Tasks", [task])
