"""The ``compute_*`` RPC reads over the compute pallets' real state: a training job verified and paid, its
output the base model of a one-round federated task (one participant delivering, one walking away) whose
aggregation is verified, and one more job still committing, one of whose providers is leaving; then paging,
lineage, unknown ids, bad input."""

from __future__ import annotations

import pytest

from compute_pallet.pallets import federated, jobs, providers
from compute_pallet.pallets.federated import RoundAggregating, TaskFinished
from compute_pallet.pallets.jobs import ComputeJobs
from compute_pallet.pallets.types import SlotStatus
from runtime.frame.testing import TestExternalities
from runtime.frame.pallet import Origin
from runtime.ss58 import ss58_encode

from .mock import (ALICE, BOB, CAP, HONEST, PARTICIPANTS, PRICE, PROVIDERS, commit, new_ext, reveal, slot_providers,
                   stored_file, submit)
from .test_federated import POOL, aggregate, commit_update, create, deliver, until

P1, P2 = PARTICIPANTS[:2]
DEFINITIONS = (providers.DEFINITION, jobs.DEFINITION, federated.DEFINITION)


def rpc(ext: TestExternalities, name: str, *args: object):
    method = next(m for d in DEFINITIONS for m in d.rpc if m.name == name)
    with ext:
        return method.handler(ext.runtime, list(args) + [None] * (len(method.params) - len(args)))


def hex_(data: bytes) -> str:
    return "0x" + data.hex()


@pytest.fixture(scope="module")
def ext() -> TestExternalities:
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE, seed=1)
        trained = submit(ext, ALICE, inputs=(dataset,))
        for who in slot_providers(ext, trained):
            commit(ext, trained, who, HONEST)
        for who in slot_providers(ext, trained, SlotStatus.Committed):
            reveal(ext, trained, who, HONEST)
        model = ext.pallet(ComputeJobs).jobs.get(trained).outputs[0]
        task = create(ext, base=model, validation=None, participants=(P1, P2), rounds=1)
        for who in (P1, P2):
            ext.dispatch(Origin.signed(who), "FederatedLearning", "join", task_id=task)
        updates = [stored_file(ext, who, seed=20 + i) for i, who in enumerate((P1, P2))]
        for who, update in zip((P1, P2), updates):
            commit_update(ext, task, 0, who, update)
        deliver(ext, task, 0, P1, updates[0])  # P2 walks away
        seen = until(ext, lambda events: any(isinstance(e, RoundAggregating) for e in events))
        aggregation = next(e.job_id for e in seen if isinstance(e, RoundAggregating))
        final = stored_file(ext, slot_providers(ext, aggregation)[0], seed=100)
        aggregate(ext, aggregation, (1,), final)
        until(ext, lambda events: any(isinstance(e, TaskFinished) for e in events))
        running = submit(ext, BOB, inputs=(dataset,))
        leaving = slot_providers(ext, running)[0]
        ext.dispatch(Origin.signed(leaving), "ComputeProviders", "deregister")
    ext.ids = dict(dataset=dataset, model=model, final=final, updates=updates, task=task,  # type: ignore[attr-defined]
                   trained=trained, aggregation=aggregation, running=running, leaving=leaving)
    return ext


def test_compute_providers_lists_offers_hardware_and_record(ext):
    listed = {p["account"]: p for p in rpc(ext, "compute_providers")}
    assert set(listed) == {ss58_encode(who) for who in PROVIDERS[:3]}
    leaving = ss58_encode(ext.ids["leaving"])
    assert all(p["state"] == "active" for p in listed.values())  # liveness, whether leaving or not
    assert {who: (p["leaving"], p["activeJobs"] > 0) for who, p in listed.items() if p["leaving"]} == {
        leaving: (True, True)}
    one = next(iter(listed.values()))
    assert one["kinds"] == ["train", "evaluate", "infer", "fedavg"] and one["prices"]["train"] == str(PRICE)
    assert one["hardware"] == {"cpuCores": 8, "memoryMib": 16_384, "gpu": None}
    assert sum(p["verified"] for p in listed.values()) == 4  # two per verified job
    assert all(0 < p["reputation"] <= 1000 for p in listed.values())


def test_compute_jobs_pages_newest_first(ext):
    ids = ext.ids
    first = rpc(ext, "compute_jobs", None, 2)
    assert [j["id"] for j in first["items"]] == [ids["running"], ids["aggregation"]] and first["next"] == "0"
    rest = rpc(ext, "compute_jobs", first["next"], 2)
    assert [j["id"] for j in rest["items"]] == [ids["trained"]] and rest["next"] is None
    running, _, trained = first["items"] + rest["items"]
    assert running["state"] == "committing" and running["phase"] == "commit" and running["verdict"] is None
    assert running["submitter"] == ss58_encode(BOB) and running["paid"] == running["refunded"] == "0"
    assert trained["state"] == "verified" and trained["phase"] is None and trained["verdict"] == hex_(HONEST)
    assert trained["refused"] is None and running["refused"] is None  # a result, and none yet
    assert trained["inputs"] == [hex_(ids["dataset"])] and trained["outputs"] == [hex_(ids["model"])]
    assert trained["escrow"] == str(3 * CAP) and trained["paid"] == str(2 * PRICE)
    assert trained["refunded"] == str(3 * CAP - 2 * PRICE) and trained["held"] == "0" and not trained["dispute"]
    assert [(p["state"], p["digest"]) for p in trained["providers"]] == [("paid", hex_(HONEST))] * 2


def test_compute_job_adds_params_and_resources(ext):
    job = rpc(ext, "compute_job", ext.ids["aggregation"])
    assert job["kind"] == "fedavg" and job["params"] == {"aggregation": "mean"}
    assert job["parent"] == hex_(ext.ids["model"]) and job["resources"]["cpuCores"] > 0
    assert rpc(ext, "compute_job", 999) is None


def test_compute_fl_tasks_and_task_show_each_round(ext):
    ids = ext.ids
    tasks = rpc(ext, "compute_flTasks")
    assert tasks["next"] is None and [t["id"] for t in tasks["items"]] == [ids["task"]]
    task = rpc(ext, "compute_flTask", ids["task"])
    assert task["state"] == "finished" and task["base"] == hex_(ids["model"]) and task["model"] == hex_(ids["final"])
    assert task["participants"] == 2 and task["rewardPool"] == str(POOL) and task["owner"] == ss58_encode(ALICE)
    (round0,) = task["roundsDetail"]
    assert round0 | {"contributors": None} == {"round": 0, "model": hex_(ids["final"]), "job": ids["aggregation"],
                                               "state": "aggregated", "contributors": None}
    by_account = {c["account"]: c for c in round0["contributors"]}
    assert by_account[ss58_encode(P1)] == {"account": ss58_encode(P1), "update": hex_(ids["updates"][0]),
                                           "score": 1, "reward": str(POOL), "slashed": False}
    assert by_account[ss58_encode(P2)] == {"account": ss58_encode(P2), "update": None, "score": None,
                                           "reward": None, "slashed": True}
    assert rpc(ext, "compute_flTask", 7) is None


def test_compute_lineage_walks_back_through_the_round_and_the_training_job(ext):
    ids = ext.ids
    graph = rpc(ext, "compute_lineage", hex_(ids["final"]))
    nodes = {n["id"]: n for n in graph["nodes"]}
    edges = {(e["from"], e["to"], e["label"]) for e in graph["edges"]}
    round_, task = f"round:{ids['task']}/0", f"task:{ids['task']}"
    assert graph["root"] == hex_(ids["final"]) and not graph["truncated"]
    assert {(nodes[k]["type"], nodes[k]["label"]) for k in (round_, task)} == {("round", "task 0 round 0"),
                                                                              ("task", "task 0")}
    assert {(round_, hex_(ids["final"]), "aggregated"), (task, round_, "round"), (hex_(ids["model"]), round_, "model"),
            (hex_(ids["updates"][0]), round_, "update")} <= edges
    assert (f"job:{ids['trained']}", hex_(ids["model"]), "output") in edges
    assert (hex_(ids["dataset"]), f"job:{ids['trained']}", "dataset") in edges
    assert nodes[hex_(ids["dataset"])]["label"] == "dataset" and nodes[hex_(ids["model"])]["label"] == "model"
    assert nodes[f"job:{ids['trained']}"]["detail"]["kind"] == "train"


def test_compute_lineage_is_bounded_by_depth_and_knows_uploads(ext):
    ids = ext.ids
    shallow = rpc(ext, "compute_lineage", hex_(ids["final"]), 1)
    assert shallow["truncated"] and f"job:{ids['trained']}" not in {n["id"] for n in shallow["nodes"]}
    upload = rpc(ext, "compute_lineage", hex_(ids["dataset"]), 0)
    assert upload == {"root": hex_(ids["dataset"]), "edges": [], "truncated": False,
                      "nodes": [{"id": hex_(ids["dataset"]), "type": "file", "label": "file", "detail": {}}]}


@pytest.mark.parametrize("name, args, message", [
    ("compute_job", [-1], "job id"),
    ("compute_job", ["3"], "job id"),
    ("compute_job", [True], "job id"),
    ("compute_job", [None], "job id"),
    ("compute_flTask", [2**64], "task id"),
    ("compute_jobs", [None, 0], "limit"),
    ("compute_jobs", [None, 10_000], "limit"),
    ("compute_jobs", ["-3"], "cursor"),
    ("compute_flTasks", ["0x00"], "cursor"),
    ("compute_flTasks", [3], "start"),
    ("compute_lineage", ["0x00"], "file id"),
    ("compute_lineage", ["0x" + "00" * 32, 65], "depth"),
    ("compute_lineage", ["0x" + "00" * 32, -1], "depth"),
])
def test_bad_params_are_refused_with_a_message(ext, name, args, message):
    with pytest.raises(ValueError, match=message):
        rpc(ext, name, *args)
