"""What ``client.compute`` and ``client.fl`` answer with: plain frozen records of providers, jobs, lineage
graphs and federated tasks.

Each record has ``to_json()`` (ids and accounts as ``0x`` hex, job and task ids as integers), which the CLI's
``--json`` prints and a dashboard can draw from. Amounts are in the chain's smallest unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdk.storage.records import Record

__all__ = ["JobId", "TaskId", "Provider", "Departure", "Slot", "JobStatus", "JobResult", "Rerun", "LineageNode",
           "LineageEdge", "Lineage", "RoundStatus", "TaskStatus", "Participation"]

JobId = int
"""A job's id: a u64, printed in decimal."""
TaskId = int
"""A federated-learning task's id: a u64, printed in decimal."""


@dataclass(frozen=True)
class Provider(Record):
    """A registered compute provider: its hardware, offers, liveness and verified history."""

    account: bytes
    cpu_cores: int
    memory_mib: int
    gpu: str | None
    """The GPU's model, or ``None``."""
    gpu_memory_mib: int
    offers: dict[str, int]
    """Price per job, by kind name."""
    endpoint: str
    stake: int
    registered_at: int
    last_heartbeat: int
    active_jobs: int
    jobs_verified: int
    disputes_lost: int
    no_shows: int
    reputation: int
    """What assignment weighs it by: ``1000 * (verified + 1) // (verified + disputes lost + no-shows + 1)``."""
    leaving: bool
    """It asked to leave: it takes no new jobs, and is deregistered when its ``active_jobs`` are settled."""


@dataclass(frozen=True)
class Departure(Record):
    """What asking to leave the market did: the provider left at once, or it drains."""

    released: int | None
    """The stake released, if it left at once; ``None`` while it drains."""
    active_jobs: int
    """Job slots it holds: it is deregistered, and its stake released, when they are settled (0 if it left)."""

    @property
    def left(self) -> bool:
        return self.released is not None


@dataclass(frozen=True)
class Slot(Record):
    """One provider's execution of a job and its verdict."""

    provider: bytes
    round: int
    """0: the first execution; 1: a dispute's re-execution."""
    status: str
    """``Assigned``, ``Committed``, ``Revealed``, ``NoShow`` (slashed), ``Paid`` (on the verified side; or, in a
    job that failed on withheld inputs, committed or revealed by then), ``Slashed`` (lost a dispute), ``Unjudged`` (the job
    failed first) or ``InputsWithheld`` (could not read an input: paid, the job failed)."""
    price: int
    digest: bytes | None
    """The result digest it revealed."""
    outputs: tuple[bytes, ...]
    """The output files it revealed (its own uploads)."""


@dataclass(frozen=True)
class JobStatus(Record):
    """A job as the chain holds it: what it runs, where it stands, who ran it, and where the money went."""

    job_id: JobId
    kind: str
    submitter: bytes
    inputs: tuple[bytes, ...]
    params: str
    """The kind's JSON parameters, as submitted."""
    state: str
    """``Committing``, ``Revealing``, ``Disputing`` (its referees drawn at the next block), ``Verified`` or
    ``Failed``."""
    round: int
    phase_deadline: int
    deadline: int
    submitted_at: int
    redundancy: int
    price_cap: int
    slots: tuple[Slot, ...]
    outputs: tuple[bytes, ...]
    """The verified result's files: the kind's outputs in name order, then ``result.json``."""
    digest: bytes | None
    refused: str | None
    """Why the kind refused the inputs or params (``MalformedDataset``, …;
    :func:`compute_pallet.kinds.refusal_meaning` says what each means), read off the verified digest: a refusal
    is a verified result like any, and paid for. ``None`` for a result the kind gave, or none yet."""
    escrowed: int
    """Held at submission: ``price_cap`` x (redundancy + ``DisputeExtra``)."""
    held: int
    """Still held."""
    paid: int
    """Paid to providers so far (each ``Paid`` slot's price)."""
    refunded: int
    """Returned to the submitter (once the job ended: what was not paid)."""
    parent: bytes | None

    @property
    def finished(self) -> bool:
        return self.state in ("Verified", "Failed")


@dataclass(frozen=True)
class JobResult(Record):
    """``client.compute.result``: where the verified outputs were written, and the run's result record."""

    job_id: JobId
    files: tuple[str, ...]
    """The paths written, in output order (``result.json`` last)."""
    result: dict[str, Any]
    """``result.json`` parsed: the kind's metrics and figures."""

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(Path(name) for name in self.files)


@dataclass(frozen=True)
class Rerun(Record):
    """``client.compute.rerun``: the job's kind run here on its inputs, params and seed, against the verdict."""

    job_id: JobId
    files: tuple[str, ...]
    """The paths written, in output order (``result.json`` last)."""
    result: dict[str, Any]
    digest: bytes
    """The digest of this run's outputs and result record (what a provider commits to)."""
    verified: bytes | None
    """The digest the chain verified (None: the job has no verified result)."""
    agreeing: tuple[bytes, ...]
    """The providers whose revealed digest is this run's: for a job in dispute or failed, those who were right."""
    refused: str | None
    """The kind's refusal here, ``<code>: <message>`` (the message the chain does not keep); None if it ran."""
    gpu: bool
    """The job asked for a GPU: its providers ran it on CuPy, which flushes float32 subnormals to zero where numpy
    keeps them (``compute_pallet.kinds.kernels``), so a run that a subnormal decides differs here."""
    matches: bool
    """This run gives the verified result (``digest`` is ``verified``)."""


@dataclass(frozen=True)
class LineageNode(Record):
    """One node of a lineage graph: a file, a job, a federated round, or an account that contributed."""

    id: str
    """``file:0x…``, ``job:<id>``, ``round:<task>/<round>`` or ``account:0x…``."""
    type: str
    """``file``, ``job``, ``round`` or ``account``."""
    label: str
    """What it is, for people: ``model``, ``dataset``, ``update``, ``train #3``, ``task 0 round 1``, …"""
    details: dict[str, Any]
    """Its facts, JSON-ready: a job's kind, providers and block; a round's scores and rewards; …"""


@dataclass(frozen=True)
class LineageEdge(Record):
    """``source`` went into, or made, ``target``: ``input`` (file → job), ``output`` (job → file), ``parent``
    (model → the model derived from it), ``update`` (update → round), ``aggregated`` (round → its model),
    ``contributed`` (account → its update)."""

    source: str
    target: str
    relation: str


@dataclass(frozen=True)
class Lineage(Record):
    """The graph from a file back to everything that made it (``client.compute.lineage``)."""

    root: bytes
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def node(self, node_id: str) -> LineageNode | None:
        return next((node for node in self.nodes if node.id == node_id), None)

    def sources(self, node_id: str, relation: str | None = None) -> tuple[str, ...]:
        """The nodes with an edge into ``node_id`` (of ``relation``, if given)."""
        return tuple(e.source for e in self.edges if e.target == node_id and relation in (None, e.relation))


@dataclass(frozen=True)
class RoundStatus(Record):
    """One round of a federated task: who committed and delivered, its aggregation, scores and rewards."""

    round: int
    global_in: bytes
    committed: tuple[bytes, ...]
    """Participants that committed an update."""
    contributors: tuple[bytes, ...]
    """Those that delivered it, in the aggregation's input order."""
    updates: tuple[bytes, ...]
    """Their update files, in the same order."""
    no_shows: tuple[bytes, ...]
    """Committed and did not deliver: slashed ``slashed`` each."""
    slashed: int
    job: int | None
    """The round's ``fedavg`` job."""
    scores: tuple[int, ...]
    rewards: tuple[int, ...]
    global_out: bytes | None
    """The model the round produced (``None``: running, or the aggregation failed)."""
    finished: bool


@dataclass(frozen=True)
class TaskStatus(Record):
    """A federated-learning task and each of its rounds so far."""

    task_id: TaskId
    creator: bytes
    state: str
    """``Training``, ``Aggregating`` or ``Finished``."""
    base_model: bytes
    global_model: bytes
    rounds: int
    round: int
    participants: tuple[bytes, ...]
    """Who may join (empty: anyone)."""
    members: int
    stake: int
    round_reward: int
    funds: int
    commit_deadline: int
    deliver_deadline: int
    validation: bytes | None
    history: tuple[RoundStatus, ...]


@dataclass(frozen=True)
class Participation(Record):
    """One round ``client.fl.participate`` took part in."""

    task_id: TaskId
    round: int
    update: bytes
    """The update file it uploaded (public) and delivered."""
    train_result: dict[str, Any]
    """The local training run's record (losses, accuracies)."""
