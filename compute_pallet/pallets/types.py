"""The compute pallets' on-chain types: providers, jobs and their slots, lineage, federated tasks.

Pure and shared on purpose: the provider worker and the SDK decode the pallets' storage with these same codecs
(``Job.SCALE.decode(raw)``), so what a client reads cannot drift from what the runtime writes. Field order is
wire format (the metadata snapshot pins the fields of every type the metadata describes, these included).

SCALE layouts (version 1):

- ``Hardware``: ``cpu_cores: u32, memory_mib: u64, gpu: Option<Gpu{model: Vec<u8>, memory_mib: u64}>``;
- ``ProviderInfo``: ``hardware, offers: Vec<Offer{kind: u8, price: u128}>, endpoint: Vec<u8>, stake: u128,
  registered_at: u32, last_heartbeat: u32, active_jobs: u32, jobs_verified: u32, disputes_lost: u32,
  no_shows: u32, leaving: bool``;
- ``ProviderHistory``: ``jobs_verified: u32, disputes_lost: u32, no_shows: u32``;
- ``Resources``: ``cpu_cores: u32, memory_mib: u64, gpu_memory_mib: u64`` (0: no GPU needed);
- ``Slot``: ``provider, round: u8, status: SlotStatus, price: u128, commitment: Option<H256>,
  reveal: Option<Reveal{digest: H256, outputs: Vec<H256>, scores: Vec<u64>}>``;
- ``Job``: ``submitter, kind: u8, inputs: Vec<H256>, params: Vec<u8>, resources, price_cap: u128,
  deadline: u32, redundancy: u8, escrow: u128, seed: H256, status: JobStatus, round: u8,
  phase_deadline: u32, submitted_at: u32, parent: Option<H256>, slots: Vec<Slot>, outputs: Vec<H256>,
  digest: Option<H256>``;
- ``LineageEntry``: ``job_id: u64, kind: u8, inputs: Vec<H256>, providers: Vec<AccountId>,
  parent: Option<H256>, block: u32``;
- ``Task`` and ``Update``, ``RoundRecord``: see their classes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Annotated

from runtime.primitives import ACCOUNT_ID, AccountId, Balance, BlockNumber, Bytes
from runtime.scale import BOOL, H256, U8, U32, U64, U128, CEnum, Option, Vec, scale_struct

__all__ = ["KindId", "JobId", "TaskId", "FileId", "FileIds", "Scores", "OptionalFile", "Gpu", "Hardware", "Offer",
           "ProviderInfo", "ProviderHistory", "Resources", "SlotStatus", "JobStatus", "Reveal", "Slot", "Job",
           "LineageEntry",
           "TaskStatus", "Task", "Update", "RoundRecord", "SlashReason", "SLASH_REASON", "PERBILL", "FILE_IDS", "ACCOUNTS", "SCORES",
           "SLOT_STATUS", "JOB_STATUS", "TASK_STATUS", "reputation_permill"]

PERBILL = 1_000_000_000
"""Slash fractions are parts per billion (Substrate's ``Perbill``)."""

KindId = Annotated[int, U8, "u8"]
JobId = Annotated[int, U64, "u64"]
TaskId = Annotated[int, U64, "u64"]
FileId = Annotated[bytes, H256, "FileId"]
FILE_IDS = Vec(H256)
FileIds = Annotated[tuple[bytes, ...], FILE_IDS, "Vec<FileId>"]
OptionalFile = Annotated[bytes | None, Option(H256), "Option<FileId>"]
SCORES = Vec(U64)
Scores = Annotated[tuple[int, ...], SCORES, "Vec<u64>"]
ACCOUNTS = Vec(ACCOUNT_ID)
Accounts = Annotated[tuple[bytes, ...], ACCOUNTS, "Vec<AccountId>"]
Count = Annotated[int, U32, "u32"]
Mib = Annotated[int, U64, "u64"]


def reputation_permill(verified: int, failures: int) -> int:
    """Verified jobs out of those judged, in thousandths, with one success granted up front so a new
    provider starts at 1000: ``1000 * (verified + 1) // (verified + failures + 1)``."""
    return 1000 * (verified + 1) // (verified + failures + 1)


# --- providers ------------------------------------------------------------------------------------


@scale_struct("pallet_compute_providers::types::Gpu")
@dataclass(frozen=True)
class Gpu:
    """A provider's GPU: its model name (printable ASCII, e.g. ``NVIDIA H200``) and memory."""

    model: Bytes
    memory_mib: Mib


@scale_struct("pallet_compute_providers::types::Hardware")
@dataclass(frozen=True)
class Hardware:
    """What a provider offers to one job: CPU cores, memory, and a GPU or none."""

    cpu_cores: Count
    memory_mib: Mib
    gpu: Annotated[Gpu | None, Option(Gpu.SCALE), "Option<Gpu>"]  # type: ignore[attr-defined]

    def fits(self, resources: "Resources") -> bool:
        """Whether a job needing ``resources`` runs here."""
        gpu_memory = self.gpu.memory_mib if self.gpu is not None else 0
        return (resources.cpu_cores <= self.cpu_cores and resources.memory_mib <= self.memory_mib
                and resources.gpu_memory_mib <= gpu_memory)


@scale_struct("pallet_compute_providers::types::Offer")
@dataclass(frozen=True)
class Offer:
    """A job kind the provider runs, and what it charges per job of that kind."""

    kind: KindId
    price: Balance


@scale_struct("pallet_compute_providers::types::ProviderHistory")
@dataclass(frozen=True)
class ProviderHistory:
    """The verified history an account keeps after it stops being a provider, restored when it registers
    again: leaving must not wipe a bad record (a new provider starts at the best reputation)."""

    jobs_verified: Count
    disputes_lost: Count
    no_shows: Count


@scale_struct("pallet_compute_providers::types::ProviderInfo")
@dataclass(frozen=True)
class ProviderInfo:
    """A registered provider: what it offers, where to reach it, its stake, liveness and verified history."""

    hardware: Hardware
    offers: Annotated[tuple[Offer, ...], Vec(Offer.SCALE), "Vec<Offer>"]  # type: ignore[attr-defined]
    endpoint: Bytes
    """Its HTTP base URL, UTF-8."""
    stake: Balance
    """Held as ``ComputeProviders::ProviderStake``, less what was slashed."""
    registered_at: BlockNumber
    last_heartbeat: BlockNumber
    active_jobs: Count
    """Job slots it holds that are not settled yet."""
    jobs_verified: Count
    """Jobs in which its result was on the verified side (and paid) with at least one other provider's: a
    result nobody else computed (r = 1) proves nothing, and counting it would let a provider wash a bad
    record clean with jobs its own other account submits at no price."""
    disputes_lost: Count
    """Jobs in which its result was on the losing side of a dispute (slashed)."""
    no_shows: Count
    """Assignments it neither committed nor revealed in time, or lost by missing heartbeats (slashed)."""
    leaving: Annotated[bool, BOOL, "bool"]
    """It asked to leave with job slots unsettled: it takes no new ones, and is deregistered (its stake
    released) when the last settles."""

    def price_of(self, kind: int) -> int | None:
        for offer in self.offers:
            if offer.kind == kind:
                return offer.price
        return None

    def reputation_permill(self) -> int:
        return reputation_permill(self.jobs_verified, self.disputes_lost + self.no_shows)

    def is_fresh(self, n: int, heartbeat_timeout: int) -> bool:
        """Whether its last heartbeat is at most ``heartbeat_timeout`` blocks before block ``n``."""
        return self.last_heartbeat + heartbeat_timeout >= n

    def can_take(self, n: int, *, heartbeat_timeout: int, min_stake: int, max_jobs: int) -> bool:
        """Whether it may be given a new job slot at block ``n``: staying, alive, staked, not full (the rule
        ``ComputeProviders`` assigns by, and the SDK prices a job by)."""
        return (not self.leaving and self.is_fresh(n, heartbeat_timeout) and self.stake >= min_stake
                and self.active_jobs < max_jobs)

    def with_(self, **changes: object) -> "ProviderInfo":
        return replace(self, **changes)

    def history(self) -> ProviderHistory:
        return ProviderHistory(self.jobs_verified, self.disputes_lost, self.no_shows)


class SlashReason(enum.IntEnum):
    """Why a provider lost stake."""

    DisputeLost = 0
    NoShow = 1
    """It did not commit in time (or went stale holding the slot)."""
    Unrevealed = 2
    """It committed and did not reveal: slashed as a lost dispute, or a provider on the losing side, seeing the
    reveals before its own, would keep silent and pay a no-show's smaller slash instead."""


SLASH_REASON = CEnum(SlashReason, ("pallet_compute_providers", "types", "SlashReason"))


# --- jobs -----------------------------------------------------------------------------------------


@scale_struct("pallet_compute_jobs::types::Resources")
@dataclass(frozen=True)
class Resources:
    """What one execution of a job needs."""

    cpu_cores: Count
    memory_mib: Mib
    gpu_memory_mib: Mib
    """0: no GPU needed."""


class SlotStatus(enum.IntEnum):
    """Where one provider's execution of a job stands."""

    Assigned = 0
    """Waiting for its commitment."""
    Committed = 1
    """Committed, waiting for its reveal."""
    Revealed = 2
    """Revealed, waiting for the verdict."""
    NoShow = 3
    """Missed its commit or reveal deadline, or its heartbeats: slashed, and replaced while time allows."""
    Paid = 4
    """On the verified side: paid its price from the escrow. In a job that failed on withheld inputs, one that
    had committed or revealed by then, also paid."""
    Slashed = 5
    """On the losing side of a dispute: slashed."""
    Unjudged = 6
    """Revealed, but the job failed before a verdict: neither paid nor slashed."""
    InputsWithheld = 7
    """Could not read every input by its commit deadline (one deleted, lost, or private and never granted to it):
    paid its price, never slashed; the job fails."""


class JobStatus(enum.IntEnum):
    Committing = 0
    Revealing = 1
    Verified = 2
    Failed = 3
    Disputing = 4
    """The reveals did not settle the job: its dispute round's providers are drawn at the next block."""


SLOT_STATUS = CEnum(SlotStatus, ("pallet_compute_jobs", "types", "SlotStatus"))
JOB_STATUS = CEnum(JobStatus, ("pallet_compute_jobs", "types", "JobStatus"))


@scale_struct("pallet_compute_jobs::types::Reveal")
@dataclass(frozen=True)
class Reveal:
    """A provider's opened result: the digest it committed to, the output files it uploaded, and the
    integer scores its result carries (per-update contribution scores of a ``fedavg`` job; empty otherwise).
    Two reveals agree when digest, scores and what each output file holds are equal (``ComputeJobs``' verdict);
    output file ids differ between providers."""

    digest: Annotated[bytes, H256, "H256"]
    outputs: FileIds
    scores: Scores


@scale_struct("pallet_compute_jobs::types::Slot")
@dataclass(frozen=True)
class Slot:
    """One provider's execution of a job."""

    provider: AccountId
    round: Annotated[int, U8, "u8"]
    """0: the first execution; 1: a dispute's re-execution."""
    status: Annotated[SlotStatus, SLOT_STATUS, "SlotStatus"]
    price: Balance
    """The provider's price for the job's kind when it was assigned (at most the job's cap)."""
    commitment: Annotated[bytes | None, Option(H256), "Option<H256>"]
    reveal: Annotated[Reveal | None, Option(Reveal.SCALE), "Option<Reveal>"]  # type: ignore[attr-defined]


@scale_struct("pallet_compute_jobs::types::Job")
@dataclass(frozen=True)
class Job:
    """A job: what to run on which inputs, what it may cost, who runs it and how far it got."""

    submitter: AccountId
    kind: KindId
    inputs: FileIds
    params: Bytes
    """Opaque to the chain: the kind's JSON parameters (at most ``MaxParamsLength`` bytes)."""
    resources: Resources
    price_cap: Balance
    """The most one execution may cost; each provider is paid its own price, at most this."""
    deadline: BlockNumber
    """The last block in which the job may still be verified."""
    redundancy: Annotated[int, U8, "u8"]
    dispute_extra: Annotated[int, U8, "u8"]
    """Providers a dispute round adds: ``DisputeExtra`` at submission, which the escrow was sized by (a runtime
    upgrade changing the constant leaves the jobs in flight as they were paid for)."""
    escrow: Balance
    """Still held from the submitter as ``ComputeJobs::JobEscrow``: ``price_cap`` × (redundancy +
    ``dispute_extra``) at submission, less what was paid."""
    seed: Annotated[bytes, H256, "H256"]
    """The seed the kind runs with (drawn from the parent block of the submission)."""
    status: Annotated[JobStatus, JOB_STATUS, "JobStatus"]
    round: Annotated[int, U8, "u8"]
    phase_deadline: BlockNumber
    """The last block of the current commit or reveal phase (``Disputing``: the block that opened the dispute)."""
    commit_window: BlockNumber
    """Blocks each commit phase lasts from an assignment: ``CommitPeriod`` plus the kind's estimate of one run
    over the inputs (fixed at submission)."""
    submitted_at: BlockNumber
    parent: OptionalFile
    """The model this job's outputs derive from (a federated round's global model), recorded in lineage."""
    slots: Annotated[tuple[Slot, ...], Vec(Slot.SCALE), "Vec<Slot>"]  # type: ignore[attr-defined]
    outputs: FileIds
    """The verified result's output files (empty until verified)."""
    digest: Annotated[bytes | None, Option(H256), "Option<H256>"]
    """The verified result digest."""
    escrowed: Balance
    """What the job put on hold at submission (``escrow`` is what it still holds)."""
    refunded: Balance
    """What went back to the submitter when the job ended (0 until then)."""

    @property
    def paid(self) -> int:
        """What went to providers: the verified side's prices, and in a job that failed on withheld inputs those
        of the withheld slots and of the committed or revealed ones."""
        return sum(slot.price for slot in self.slots if slot.status in (SlotStatus.Paid, SlotStatus.InputsWithheld))

    def with_(self, **changes: object) -> "Job":
        return replace(self, **changes)

    def with_slot(self, index: int, **changes: object) -> "Job":
        """The job with slot ``index`` changed."""
        slots = list(self.slots)
        slots[index] = replace(slots[index], **changes)
        return replace(self, slots=tuple(slots))


@scale_struct("pallet_compute_jobs::types::LineageEntry")
@dataclass(frozen=True)
class LineageEntry:
    """Where an output file came from: the job, its kind and inputs, the providers whose agreeing results
    verified it, and the model it derives from."""

    job_id: JobId
    kind: KindId
    inputs: FileIds
    providers: Accounts
    parent: OptionalFile
    block: BlockNumber


# --- federated learning ---------------------------------------------------------------------------


class TaskStatus(enum.IntEnum):
    Training = 0
    """Participants commit and deliver this round's updates."""
    Aggregating = 1
    """The round's ``fedavg`` job runs."""
    Finished = 2


TASK_STATUS = CEnum(TaskStatus, ("pallet_federated_learning", "types", "TaskStatus"))


@scale_struct("pallet_federated_learning::types::Task")
@dataclass(frozen=True)
class Task:
    """A federated-learning task and where it stands."""

    creator: AccountId
    base_model: FileId
    global_model: FileId
    """The current global model: the base model, then each verified round's output."""
    rounds: Count
    round: Count
    """The current round, from 0."""
    participants: Accounts
    """Who may join; empty: anyone."""
    stake: Balance
    """What each participant holds while the task runs."""
    commit_period: BlockNumber
    deliver_period: BlockNumber
    commit_deadline: BlockNumber
    """The current round's last block for commitments: ``commit_period`` after the round started, or the block
    in which every member the task may have committed (no one else can commit: the updates may be seen)."""
    deliver_deadline: BlockNumber
    """The current round's last block for deliveries: ``deliver_period`` after the commit window closed, or the
    block in which every committed update was delivered (the round ends in the next). A round whose commit window
    ran out with nothing to deliver ends in the block after it, and keeps this as it was."""
    round_reward: Balance
    validation: OptionalFile
    price_cap: Balance
    """Per execution of each round's ``fedavg`` job."""
    round_budget: Balance
    """The escrow each round's ``fedavg`` job is given, fixed when the task is created (a later change of
    the market's parameters must not make one task's rounds spend what the creator holds for another's)."""
    redundancy: Annotated[int, U8, "u8"]
    aggregation_params: Bytes
    status: Annotated[TaskStatus, TASK_STATUS, "TaskStatus"]
    job: Annotated[int | None, Option(U64), "Option<u64>"]
    """The running round's ``fedavg`` job."""
    funds: Balance
    """Still held from the creator as ``FederatedLearning::TaskFunds``: rewards not paid yet and the
    aggregation budgets of the rounds to come."""
    members: Count
    idle_rounds: Count = 0
    """Rounds in a row, up to the last one ended, that gave no new global model (see ``MaxIdleRounds``)."""
    committed: Count = 0
    """Members that committed an update in the current round."""
    delivered: Count = 0
    """Members that delivered their committed update in the current round."""

    def with_(self, **changes: object) -> "Task":
        return replace(self, **changes)


@scale_struct("pallet_federated_learning::types::Update")
@dataclass(frozen=True)
class Update:
    """A participant's update in a round: its commitment, then the file it delivered."""

    commitment: Annotated[bytes, H256, "H256"]
    file: OptionalFile


@scale_struct("pallet_federated_learning::types::RoundRecord")
@dataclass(frozen=True)
class RoundRecord:
    """A finished round: the global model it started from, each delivered update with its contributor, the
    aggregation job and its scores, the resulting global model and each contributor's reward (None and empty
    when the aggregation failed)."""

    global_in: FileId
    contributors: Accounts
    updates: FileIds
    job: JobId
    scores: Scores
    global_out: OptionalFile
    rewards: Annotated[tuple[int, ...], Vec(U128), "Vec<Balance>"]
