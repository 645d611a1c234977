"""The compute pallets' JSON-RPC reads (``compute_*``): providers, jobs with their verdicts and payments,
federated tasks round by round, and a model's lineage as a graph.

What a dashboard shows of the compute market, read from one block's state. Each method is an ``RpcMethod``
declared on the pallet whose data it shows (``ComputeProviders``: ``compute_providers``; ``ComputeJobs``:
``compute_jobs``, ``compute_job``, ``compute_lineage``; ``FederatedLearning``: ``compute_flTasks``,
``compute_flTask``); the JSON conventions are ``runtime.frame.rpc_json``'s. The pallet modules import this
one for their ``DEFINITION``s, so this one reaches the pallets through the runtime by name (importing them
would be a cycle, and house rule 2 keeps pallets apart) and decodes with :mod:`compute_pallet.pallets.types`.

Jobs and tasks are never removed and their ids count up from 0, so their lists are newest first, a page
reading only its own ids. A lineage walk goes back from a file through the job that made it
(``ComputeJobs.Lineage``) or the federated round that aggregated it (``FederatedLearning.ModelRounds``),
breadth first, at most ``depth`` steps and :data:`MAX_LINEAGE_NODES` nodes.
"""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from compute_pallet.kinds import KIND_NAMES, InvalidInputs, UnknownKind, input_sizes, refusal_of
from compute_pallet.pallets.types import Job, JobStatus, ProviderInfo, Task, TaskStatus
from runtime.frame.composition import RpcMethod
from runtime.frame.construct import RuntimeBase
from runtime.frame.rpc_json import (
    account,
    balance,
    cursor_arg,
    hash_arg,
    hex_of,
    index_arg,
    limit_arg,
    maybe_hex,
    page,
    variant,
)

if TYPE_CHECKING:
    from compute_pallet.pallets.federated import FederatedLearning
    from compute_pallet.pallets.jobs import ComputeJobs
    from compute_pallet.pallets.providers import ComputeProviders

__all__ = ["PROVIDERS_RPC", "JOBS_RPC", "FEDERATED_RPC", "DEFAULT_LINEAGE_DEPTH", "MAX_LINEAGE_DEPTH",
           "MAX_LINEAGE_NODES"]

DEFAULT_LINEAGE_DEPTH = 8
MAX_LINEAGE_DEPTH = 64
MAX_LINEAGE_NODES = 200
"""Nodes one lineage graph holds at most: what a page can draw legibly (click a file to walk on from it)."""

Source = Callable[[bytes, str, str, str], None]
"""``(file id, its label, the node it flows into, the edge's label)``: a file found walking back."""

_PHASES = {JobStatus.Committing: "commit", JobStatus.Revealing: "reveal", JobStatus.Disputing: "dispute"}


def _providers(runtime: RuntimeBase) -> "ComputeProviders":
    return runtime.by_name["ComputeProviders"]  # type: ignore[return-value]


def _jobs(runtime: RuntimeBase) -> "ComputeJobs":
    return runtime.by_name["ComputeJobs"]  # type: ignore[return-value]


def _federated(runtime: RuntimeBase) -> "FederatedLearning":
    return runtime.by_name["FederatedLearning"]  # type: ignore[return-value]


def _kind(kind: int) -> str:
    return KIND_NAMES.get(kind, str(kind))


def _newest_first(start: str | None, limit: int, next_id: int) -> tuple[range, str | None]:
    """The ids of a newest-first page of a list whose ids are ``0 .. next_id - 1``, and the next cursor."""
    if start is None:
        top = next_id - 1
    elif start.isdigit() and len(start) <= 20:
        top = min(int(start), next_id - 1)
    else:
        raise ValueError("start is not a cursor of this list")
    bottom = max(top - limit + 1, 0)
    return range(top, bottom - 1, -1), (str(bottom - 1) if bottom > 0 else None)


# --- providers -------------------------------------------------------------------------------------


def compute_providers(runtime: RuntimeBase, args: list) -> list[dict]:
    """Every registered provider: hardware, kinds and prices, stake, reputation, liveness (``state``: ``active``
    while its last heartbeat is within the timeout, else ``stale``), its unsettled jobs and whether it is
    ``leaving`` (draining: no new jobs, deregistered when those settle)."""
    pallet = _providers(runtime)
    n = pallet.block_number()
    return [_provider_json(who, info, pallet.is_fresh(info, n)) for who, info in pallet.providers.items()]


def _provider_json(who: bytes, info: ProviderInfo, fresh: bool) -> dict:
    gpu = info.hardware.gpu
    return {
        "account": account(who), "endpoint": info.endpoint.decode("utf-8", "replace"),
        "hardware": {"cpuCores": info.hardware.cpu_cores, "memoryMib": info.hardware.memory_mib,
                     "gpu": None if gpu is None else {"model": gpu.model.decode("utf-8", "replace"),
                                                      "memoryMib": gpu.memory_mib}},
        "kinds": [_kind(offer.kind) for offer in info.offers],
        "prices": {_kind(offer.kind): balance(offer.price) for offer in info.offers},
        "stake": balance(info.stake), "reputation": info.reputation_permill(), "verified": info.jobs_verified,
        "disputesLost": info.disputes_lost, "noShows": info.no_shows, "activeJobs": info.active_jobs,
        "lastHeartbeat": info.last_heartbeat, "registered": info.registered_at,
        "state": "active" if fresh else "stale", "leaving": info.leaving,
    }


# --- jobs ------------------------------------------------------------------------------------------


def compute_jobs(runtime: RuntimeBase, args: list) -> dict:
    """A page of jobs, newest first."""
    start, limit = cursor_arg(args[0]), limit_arg(args[1])
    pallet = _jobs(runtime)
    ids, next_cursor = _newest_first(start, limit, pallet.next_job_id.get())
    return page([_job_json(job_id, pallet.jobs.get(job_id)) for job_id in ids], next_cursor)


def compute_job(runtime: RuntimeBase, args: list) -> dict | None:
    """One job as ``compute_jobs`` lists it, with its parameters (the kind's JSON), resources and parent
    model; ``None`` for an unknown job."""
    job_id = index_arg(args[0], "job id")
    pallet = _jobs(runtime)
    job = pallet.jobs.get(job_id)
    if job is None:
        return None
    try:
        params: Any = json.loads(job.params)
    except ValueError:  # (a submission's params are the kind's JSON: checked when it was submitted)
        params = hex_of(job.params)
    resources = job.resources
    return _job_json(job_id, job) | {
        "params": params, "parent": maybe_hex(job.parent), "priceCap": balance(job.price_cap),
        "resources": {"cpuCores": resources.cpu_cores, "memoryMib": resources.memory_mib,
                      "gpuMemoryMib": resources.gpu_memory_mib},
    }


def _job_json(job_id: int, job: Job) -> dict:
    """A job's record. ``escrow`` is what it held at submission, ``held`` what it holds now; ``paid`` went to
    providers (:attr:`Job.paid`), ``refunded`` back to the submitter once the job ended; ``refused`` names the
    refusal a verified digest is (:func:`compute_pallet.kinds.refusal_of`), null for a result."""
    return {
        "id": job_id, "kind": _kind(job.kind), "submitter": account(job.submitter),
        "inputs": [hex_of(file_id) for file_id in job.inputs], "redundancy": job.redundancy,
        "state": variant(job.status), "phase": _PHASES.get(job.status), "phaseDeadline": job.phase_deadline,
        "deadline": job.deadline, "submitted": job.submitted_at,
        "providers": [{"account": account(slot.provider), "state": variant(slot.status), "round": slot.round,
                       "price": balance(slot.price),
                       "digest": None if slot.reveal is None else hex_of(slot.reveal.digest)} for slot in job.slots],
        "verdict": maybe_hex(job.digest), "refused": refusal_of(job.digest),
        "outputs": [hex_of(file_id) for file_id in job.outputs],
        "escrow": balance(job.escrowed), "held": balance(job.escrow), "paid": balance(job.paid),
        "refunded": balance(job.refunded), "dispute": any(slot.round > 0 for slot in job.slots),
    }


# --- federated tasks -------------------------------------------------------------------------------


def compute_fl_tasks(runtime: RuntimeBase, args: list) -> dict:
    """A page of federated-learning tasks, newest first."""
    start, limit = cursor_arg(args[0]), limit_arg(args[1])
    pallet = _federated(runtime)
    ids, next_cursor = _newest_first(start, limit, pallet.next_task_id.get())
    return page([_task_json(task_id, pallet.tasks.get(task_id)) for task_id in ids], next_cursor)


def compute_fl_task(runtime: RuntimeBase, args: list) -> dict | None:
    """One task as ``compute_flTasks`` lists it, with each round so far: its model, aggregation job, state,
    and every participant that committed an update (its file once delivered, its score and reward once
    aggregated, ``slashed`` if the round ended without its delivery); ``None`` for an unknown task."""
    task_id = index_arg(args[0], "task id")
    pallet = _federated(runtime)
    task = pallet.tasks.get(task_id)
    if task is None:
        return None
    return _task_json(task_id, task) | {"roundsDetail": [_round_json(pallet, task_id, task, r)
                                                         for r in range(task.round + 1)]}


def _task_json(task_id: int, task: Task) -> dict:
    """``participants`` counts who joined; ``allowed`` lists who may (empty: anyone); ``rewardPool`` is the
    rounds' rewards together, ``funds`` what the creator still has on hold for the task."""
    return {
        "id": task_id, "owner": account(task.creator), "base": hex_of(task.base_model),
        "model": hex_of(task.global_model), "rounds": task.rounds, "round": task.round, "state": variant(task.status),
        "participants": task.members, "allowed": [account(who) for who in task.participants],
        "rewardPool": balance(task.round_reward * task.rounds), "funds": balance(task.funds),
        "stake": balance(task.stake), "job": task.job,
    }


def _round_json(pallet: "FederatedLearning", task_id: int, task: Task, round_: int) -> dict:
    running = round_ == task.round and task.status is not TaskStatus.Finished
    record = None if running else pallet.rounds.get(task_id, round_)
    results = {} if record is None else {
        who: (score, reward) for who, score, reward in zip(record.contributors, record.scores, record.rewards)}
    contributors = [{"account": account(who), "update": maybe_hex(update.file),
                     "score": results.get(who, (None, None))[0],
                     "reward": None if who not in results else balance(results[who][1]),
                     "slashed": not running and update.file is None}
                    for who, update in pallet.updates.iter_prefix((task_id, round_))]
    if running:
        state, model, job = variant(task.status), None, task.job
    else:  # a round that ended without a record submitted no aggregation job (no update, or no provider)
        state = "aggregated" if record is not None and record.global_out is not None else "failed"
        model, job = (None, None) if record is None else (maybe_hex(record.global_out), record.job)
    return {"round": round_, "model": model, "job": job, "state": state, "contributors": contributors}


# --- lineage ---------------------------------------------------------------------------------------


class _Graph:
    """Nodes and edges, at most :data:`MAX_LINEAGE_NODES` nodes; an edge needs both its ends."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict] = {}
        self.edges: dict[tuple[str, str, str], None] = {}
        self.truncated = False

    def node(self, node_id: str, type_: str, label: str, detail: dict | None = None) -> bool:
        """Add a node (a file keeps the first label that says more than ``file``); false when full."""
        known = self.nodes.get(node_id)
        if known is not None:
            if known["label"] == "file":
                known["label"] = label
            return True
        if len(self.nodes) >= MAX_LINEAGE_NODES:
            self.truncated = True
            return False
        self.nodes[node_id] = {"id": node_id, "type": type_, "label": label, "detail": detail or {}}
        return True

    def edge(self, source: str, target: str, label: str) -> None:
        if source in self.nodes and target in self.nodes:
            self.edges[(source, target, label)] = None

    def json(self, root: bytes) -> dict:
        return {"root": hex_of(root), "nodes": list(self.nodes.values()),
                "edges": [{"from": s, "to": t, "label": label} for s, t, label in self.edges],
                "truncated": self.truncated}


def compute_lineage(runtime: RuntimeBase, args: list) -> dict:
    """The graph a file came from: the job that produced it (its inputs, providers, parent model) or the
    federated round that aggregated it (its task, starting model, updates and their contributors), and so on
    back, ``depth`` steps at most (default :data:`DEFAULT_LINEAGE_DEPTH`). A file node's id is the file id
    itself; jobs, rounds and tasks are ``job:<id>``, ``round:<task>/<round>``, ``task:<id>``. A file no job
    or round made (an upload) has no producer: its graph is the file alone. ``truncated`` says the depth or
    the node bound left producers out."""
    root = hash_arg(args[0], "file id")
    depth = DEFAULT_LINEAGE_DEPTH if args[1] is None else index_arg(args[1], "depth", maximum=MAX_LINEAGE_DEPTH)
    jobs, federated = _jobs(runtime), _federated(runtime)
    graph = _Graph()
    graph.node(hex_of(root), "file", "file")
    queue: deque[tuple[bytes, int]] = deque([(root, 0)])
    seen = {root}

    def source(file_id: bytes, label: str, target: str, edge: str, level: int) -> None:
        """A file ``file_id`` flows into node ``target``; walk on from it."""
        if graph.node(hex_of(file_id), "file", label):
            graph.edge(hex_of(file_id), target, edge)
            if file_id not in seen:
                seen.add(file_id)
                queue.append((file_id, level + 1))

    while queue:
        file_id, level = queue.popleft()
        produced = federated.model_rounds.get(file_id)
        entry = jobs.lineage.get(file_id)
        if produced is None and entry is None:
            continue
        if level >= depth:
            graph.truncated = True
            continue
        if produced is not None:  # first: the round names the updates and the validation set for what they are
            _add_round(federated, graph, file_id, *produced, lambda f, lbl, to, e: source(f, lbl, to, e, level))
        if entry is not None:
            job = f"job:{entry.job_id}"
            if not graph.node(job, "job", f"{_kind(entry.kind)} #{entry.job_id}", {
                    "job": entry.job_id, "kind": _kind(entry.kind), "block": entry.block,
                    "providers": [account(who) for who in entry.providers]}):
                continue
            graph.edge(job, hex_of(file_id), "output")
            for input_id, name in zip(entry.inputs, _input_names(entry.kind, len(entry.inputs))):
                source(input_id, name.split(".")[0], job, name, level)
            if entry.parent is not None:
                source(entry.parent, "model", hex_of(file_id), "parent", level)
    return graph.json(root)


def _input_names(kind: int, count: int) -> list[str]:
    """The names a job's inputs have in its kind (``dataset``, ``model``, ``updates.0``, ...)."""
    try:
        return list(input_sizes(kind, [0] * count))
    except (UnknownKind, InvalidInputs):
        return ["input"] * count


def _add_round(federated: "FederatedLearning", graph: _Graph, model: bytes, task_id: int, round_: int,
               source: Source) -> None:
    """The federated round (and its task) that aggregated ``model``, and the files that went into it."""
    record, task = federated.rounds.get(task_id, round_), federated.tasks.get(task_id)
    node = f"round:{task_id}/{round_}"
    detail: dict[str, Any] = {"task": task_id, "round": round_}
    if record is not None:
        detail |= {"job": record.job, "contributors": [
            {"account": account(who), "update": hex_of(update), "score": score, "reward": balance(reward)}
            for who, update, score, reward in zip(record.contributors, record.updates, record.scores, record.rewards)]}
    if not graph.node(node, "round", f"task {task_id} round {round_}", detail):
        return
    graph.edge(node, hex_of(model), "aggregated")
    if task is not None and graph.node(f"task:{task_id}", "task", f"task {task_id}", {
            "task": task_id, "owner": account(task.creator), "rounds": task.rounds, "state": variant(task.status)}):
        graph.edge(f"task:{task_id}", node, "round")
    if record is None:
        return
    source(record.global_in, "model", node, "model")
    for update in record.updates:
        source(update, "update", node, "update")
    if task is not None and task.validation is not None:
        source(task.validation, "dataset", node, "validation")


PROVIDERS_RPC = (RpcMethod("compute_providers", compute_providers),)
JOBS_RPC = (
    RpcMethod("compute_jobs", compute_jobs, params=("start", "limit")),
    RpcMethod("compute_job", compute_job, params=("id",)),
    RpcMethod("compute_lineage", compute_lineage, params=("fileId", "depth")),
)
FEDERATED_RPC = (
    RpcMethod("compute_flTasks", compute_fl_tasks, params=("start", "limit")),
    RpcMethod("compute_flTask", compute_fl_task, params=("id",)),
)
