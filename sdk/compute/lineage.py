"""A model's lineage: the graph from a file back to the datasets, updates, jobs and people that made it.

The chain records where every verified output came from (``ComputeJobs.Lineage[file]``: the job, its kind,
inputs, the providers that agreed and the parent model) and which federated round produced each global model
(``FederatedLearning.ModelRounds[model]`` → ``Rounds[(task, round)]``: the global model it started from, each
contributor and its update, scores and rewards). :func:`walk` follows both from a file, breadth first, until
it reaches files that no job made (uploaded datasets, base models, participants' updates), and returns the
graph as plain nodes and edges (:class:`~sdk.compute.records.Lineage`) that serialise to JSON.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from compute_pallet import kinds
from sdk.compute.jobs import kind_name
from sdk.compute.market import Market
from sdk.compute.records import Lineage, LineageEdge, LineageNode

__all__ = ["walk", "MAX_NODES"]

MAX_NODES = 10_000
"""Nodes one walk visits at most: a chain's history is finite, but a client's patience is not endless."""


def _file(file_id: bytes) -> str:
    return f"file:0x{file_id.hex()}"


def _account(account: bytes) -> str:
    return f"account:0x{account.hex()}"


class _Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, LineageNode] = {}
        self.edges: dict[tuple[str, str, str], None] = {}

    def node(self, node_id: str, type_: str, label: str, details: dict[str, Any] | None = None) -> None:
        """Add a node; the first label that says more than the node's type wins."""
        known = self.nodes.get(node_id)
        if known is None or (known.label == type_ and label != type_):
            self.nodes[node_id] = LineageNode(node_id, type_, label, details or {})

    def edge(self, source: str, target: str, relation: str) -> None:
        self.edges[(source, target, relation)] = None


async def walk(market: Market, root: bytes) -> Lineage:
    """The lineage graph of file ``root`` as the chain records it now."""
    graph = _Graph()
    graph.node(_file(root), "file", "file", {"file_id": "0x" + root.hex()})
    queue, seen = deque([root]), {root}

    def visit(file_id: bytes, label: str) -> None:
        graph.node(_file(file_id), "file", label, {"file_id": "0x" + file_id.hex()})
        if file_id not in seen and len(seen) < MAX_NODES:
            seen.add(file_id)
            queue.append(file_id)

    while queue:
        file_id = queue.popleft()
        produced = await market.model_round(file_id)
        if produced is not None:  # first: the round knows its updates and validation set by name
            await _add_round(market, graph, file_id, *produced, visit)
        entry = await market.lineage(file_id)
        if entry is None:
            continue
        kind = kind_name(entry.kind)
        job = f"job:{entry.job_id}"
        graph.node(job, "job", f"{kind} #{entry.job_id}",
                   {"job_id": entry.job_id, "kind": kind, "block": entry.block,
                    "providers": ["0x" + p.hex() for p in entry.providers]})
        graph.edge(job, _file(file_id), "output")
        for source, label in zip(entry.inputs, _input_labels(kind, len(entry.inputs))):
            visit(source, label)
            graph.edge(_file(source), job, "input")
        if entry.parent is not None:
            visit(entry.parent, "model")
            graph.edge(_file(entry.parent), _file(file_id), "parent")
    return Lineage(root, tuple(graph.nodes.values()), tuple(LineageEdge(*key) for key in graph.edges))


def _input_labels(kind: str, count: int) -> list[str]:
    """What each input of a verified job is, for people: its name in the kind, without an index."""
    try:
        names = kinds.input_sizes(kind, [0] * count)
    except (kinds.UnknownKind, kinds.InvalidInputs):
        return ["file"] * count
    return [{"base": "model", "updates": "update"}.get(stem, stem) for stem in (n.split(".")[0] for n in names)]


async def _add_round(market: Market, graph: _Graph, model: bytes, task_id: int, round: int,
                     visit: Callable[[bytes, str], None]) -> None:
    """The federated round that aggregated ``model``: its updates, their contributors, the model it began from."""
    record = await market.round_record(task_id, round)
    node = f"round:{task_id}/{round}"
    details: dict[str, Any] = {"task_id": task_id, "round": round}
    if record is not None:
        details |= {"job_id": record.job, "scores": list(record.scores), "rewards": list(record.rewards),
                    "contributors": ["0x" + c.hex() for c in record.contributors]}
    graph.node(node, "round", f"task {task_id} round {round}", details)
    graph.node(_file(model), "file", "model", {"file_id": "0x" + model.hex()})
    graph.edge(node, _file(model), "aggregated")
    if record is None:
        return
    task = await market.task(task_id)
    if task is not None and task.validation is not None:
        visit(task.validation, "dataset")
    visit(record.global_in, "model")
    graph.edge(_file(record.global_in), node, "input")
    for contributor, update in zip(record.contributors, record.updates):
        visit(update, "update")
        graph.edge(_file(update), node, "update")
        graph.node(_account(contributor), "account", "contributor", {"account": "0x" + contributor.hex()})
        graph.edge(_account(contributor), _file(update), "contributed")
