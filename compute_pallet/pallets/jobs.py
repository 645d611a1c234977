"""ComputeJobs: jobs, their escrow, who runs them, commit-reveal of results, verdicts, payments and lineage.

**Submit.** A job names a kind (``compute_pallet.kinds.KIND_IDS``), input files, parameters (the kind's strict
JSON, at most ``max_params_length`` bytes, refused unless the kind parses them), the resources one execution
needs (at least the memory the kind estimates for inputs of these sizes: a run killed at a lower limit could
not commit, and its honest provider would be slashed), a price cap per execution, a deadline and a redundancy
r. The deadline must leave one commit window and a reveal period: the window is ``commit_period`` plus the
kind's estimate of one run over these inputs (``Resources.seconds``, in blocks of ``BlockTime``), so a long
run is given the time it needs rather than cut off at a fixed period with every honest provider slashed.
Every input must exist, be active and be readable by the submitter (owner, public, or a grant), checked
through ``StorageInfo``, and is pinned there until the job ends: its owner's deletion waits for the verdict.
The submitter's
escrow, ``price_cap`` × (r + ``dispute_extra``), is held as ``JobEscrow``: enough for a dispute's re-
executions. r providers are drawn from the parent block's hash (``DOMAIN_COMPUTE_ASSIGNMENT``) among the
*eligible*: the kind offered at a price within the cap, the hardware fits, a fresh heartbeat, a free slot,
enough stake, not leaving. Each is weighted by its reputation, times ``locality_bonus`` when it also stores fragments of
the inputs (its account is a storage node holding them), so data moves least. The job's seed
(``DOMAIN_COMPUTE_SEED``) is what the kind runs with.

**Commit, reveal.** Each assigned provider has the job's commit window from its assignment to run the job,
upload its outputs and commit
``compute_pallet.commitment.commitment(job_id, provider, digest, salt)``. When every slot of the round has
committed (or at the commit deadline) the reveal phase starts; each reveals its digest, salt, the output
files it uploaded (its own files, stored) and the integer scores its result carries. A reveal must open its own
commitment: one copied from another provider opens nothing. A public output is uploaded during the commit phase
under embargo (FileBank's ``declare_embargoed``: its nodes serve it to its owner only), and every revealed
output is released when the job ends, verified or failed: readable before, it let a co-assigned provider that
had not committed yet, or a dispute's referee, copy the result instead of running the job.

**Verdict.** When every committed slot has revealed (or at the reveal deadline), reveals are grouped by
(digest, scores, what each output file holds): the digest binds the bytes, not the files a provider names, so
each output's stored content (``StorageInfo.stored_content``: a file's content digest, the same for the
same bytes stored alike, whoever stored them) is compared too, and a provider naming a file of other bytes, or
one it deleted since, disagrees. Private outputs compare the same way: providers seal them under a key derived
from the job, its private inputs' keys and the output's bytes (``compute_pallet.commitment.output_seal``), so
a referee that copies a revealed digest without running the job cannot name a matching file. A group holding a strict majority of the reveals and at least min(r, 2) of them wins:
its providers are paid their price from the escrow, the others slashed (``dispute_slash``), the rest of the
escrow refunded, and each output of the first winner gets a lineage entry (inputs, job, winning providers,
kind, parent model). Without such a group (a disagreement, or too few reveals) a *dispute* round assigns
``dispute_extra`` more providers, who commit and reveal in turn, and the verdict is taken over all reveals. The
dispute's providers are drawn a block after the one that opened it (``Disputing`` meanwhile), from that block's
hash, which no revealer knew when it revealed (its author could still grind it): a draw the last revealer
could compute beforehand would let it reveal a wrong result only when an accomplice of its would referee.
If that does not settle it, the job fails: nobody is paid or slashed for a result, the escrow is refunded.

**No-shows.** A slot not committed by the commit deadline, not revealed by the reveal deadline, or held by a
provider found stale (missed heartbeats) is a no-show: slashed (``no_show_slash``; a commitment left unopened in
the reveal phase as a lost dispute, ``dispute_slash``: a provider that sees the reveals disagree with its
commitment must not get away cheaper by keeping silent). In the commit phase it is
replaced at once by another provider while the deadline leaves a commit window and a reveal period, else the
job fails. In the reveal phase it is not replaced (the reveals made are public: a replacement could copy them);
if the reveals left cannot win, the dispute round is the replacement.

**Withheld inputs.** A provider the chain shows could not have run the job is no no-show: a slot whose
provider may not read every input at its commit deadline (an input lost since submission, or private and
never granted to it) ends ``InputsWithheld``, paid its price from the escrow for the slot it
kept, and the job fails. A submitter cannot get honest providers slashed by withholding its inputs, nor a
result for free: the slots that committed or revealed by then (ones it granted the inputs to, or a dispute's
first round) are paid their price too, since the job can no longer be judged through no fault of theirs. A
job with a private input is only assigned to providers that registered an
encryption key, so that withholding is the submitter's doing, never a provider's.

Escrow is conserved: what a job holds is paid to providers or refunded, never more; slashed stake is burned.

``on_initialize`` is bounded: the slots of at most ``max_stale_per_block`` stale providers (at most
``MaxJobsPerProvider`` each) and at most ``max_expiries_per_block`` phase deadlines; the rest wait a block.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Protocol

from compute_pallet.commitment import SALT_LENGTH, commitment
from compute_pallet.kinds import KIND_IDS, InvalidInputs as KindRefusesInputs, InvalidParams as KindRefusesParams
from compute_pallet.kinds import Resources as KindResources, estimate, validate_params
from compute_pallet.pallets.interfaces import BlockHashes, BlockTime, JobNeeds, StorageInfo, Submitted
from compute_pallet.pallets.rpc import JOBS_RPC
from compute_pallet.pallets.types import (
    Accounts,
    FileIds,
    Job,
    JobId,
    JobStatus,
    KindId,
    LineageEntry,
    ProviderInfo,
    Resources,
    Reveal,
    Scores,
    SlashReason,
    Slot,
    SlotStatus,
)
from compute_pallet.pallets.weights import ComputeJobsWeightInfo, ComputeJobsWeights, Judged
from runtime.frame.composition import PalletDefinition
from runtime.frame.due import DueQueue
from runtime.frame.pallet import (
    Constant, DispatchError, Origin, Pallet, PostDispatchInfo, call, ensure_signed, refusals_weigh)
from runtime.frame.storage import Hasher, StorageDoubleMap, StorageMap, StorageValue
from runtime.hashing import DOMAIN_COMPUTE_ASSIGNMENT, DOMAIN_COMPUTE_SEED, blake2_256
from runtime.pallets.balances_types import HoldCurrency
from runtime.primitives import ACCOUNT_ID, AccountId, Balance, BlockNumber, Bytes, Weight
from runtime.scale import H256, U8, U32, U64, UNIT, FixedBytes, Vec
from storage_node.pallets.selection import Candidates

__all__ = ["ComputeJobs", "ComputeJobsConfig", "ComputeJobsParams", "HoldReason", "DEFINITION", "ProviderRegistry",
           "JobCurrency", "JobSubmitted", "JobAssigned", "ResultCommitted", "RevealStarted", "ResultRevealed",
           "DisputeOpened", "ProviderPaid", "JobVerified", "JobFailed", "UnknownKind", "BadInputs", "ParamsTooLong",
           "InvalidParams", "AbsurdResources", "BadRedundancy", "BadDeadline", "UnknownInput", "InputNotActive",
           "InputNotReadable", "InsufficientFunds", "NotEnoughProviders", "UnknownJob", "NotCommitPhase", "NotRevealPhase",
           "NotAssigned", "NotCommitted", "CommitmentMismatch", "BadOutputs", "OutputNotOwned", "OutputNotStored",
           "TooManyScores"]


class HoldReason(enum.IntEnum):
    """Why this pallet holds balance."""

    JobEscrow = 0


class ProviderRegistry(Protocol):
    """What ComputeJobs needs of ``ComputeProviders``."""

    def max_providers(self) -> int: ...
    def all_providers(self) -> list[tuple[bytes, ProviderInfo]]: ...
    def provider(self, who: bytes) -> ProviderInfo | None: ...
    def is_fresh(self, info: ProviderInfo, n: int) -> bool: ...
    def can_take(self, info: ProviderInfo, n: int) -> bool: ...
    def assign(self, who: bytes) -> None: ...
    def settle(self, who: bytes, *, verified: bool = False) -> None: ...
    def slash(self, who: bytes, job_id: int, reason: SlashReason) -> int: ...
    def take_stale(self, limit: int) -> tuple[bytes, ...]: ...


class JobCurrency(HoldCurrency, Protocol):
    """Escrow on hold, paid out of the hold, refunded (Balances)."""

    def can_withdraw(self, who: bytes, amount: int) -> bool: ...


@dataclass(frozen=True)
class ComputeJobsParams:
    max_inputs: int = 16
    """Input files per job: a dataset, a model and a validation set, or a federated round's updates (the
    aggregation job of a 12-participant round has 14 inputs)."""
    max_params_length: int = 4_096
    """Bytes of a job's JSON parameters: hyper-parameters, not data (data lives in input files)."""
    max_outputs: int = 8
    """Output files one reveal names (a model, its metrics, predictions)."""
    max_scores: int = 64
    """Integer scores one reveal carries (one per update of a federated round: ``MaxParticipants``)."""
    max_redundancy: int = 5
    """The most providers one job's first round asks for."""
    dispute_extra: int = 1
    """Providers a dispute adds: with r = 2 one more makes three reveals, so one honest disagreement is
    outvoted 2 to 1; the escrow covers them."""
    max_slots: int = 12
    """Slots one job record holds at most (first round, dispute, replacements): bounds its size and the
    weight of a verdict."""
    commit_period: int = 150
    """Blocks an assigned provider has to fetch the inputs, upload the outputs and commit, on top of the run's
    own estimated time (5 min at 2 s blocks: a 1 GiB input at 4 MB/s); a provider that is late is replaced."""
    reveal_period: int = 15
    """Blocks to reveal once all committed (30 s): a reveal is one small extrinsic."""
    max_job_duration: int = 43_200
    """Blocks from submission to the deadline at most (24 h)."""
    max_cpu_cores: int = 1_024
    """A job asking for more cores than any machine has is refused at once rather than never assigned."""
    max_memory_mib: int = 8 << 20
    """8 TiB: more than any single machine offers."""
    max_gpu_memory_mib: int = 1 << 20
    """1 TiB of GPU memory (8 × 141 GiB H200s is 1.1 TiB... of which one job gets one machine)."""
    locality_bonus: int = 4
    """A provider whose account stores fragments of the inputs weighs this many times more in the draw: it
    fetches part of the data from its own disk. Strong, not exclusive, so assignments still spread."""
    locality_segments: int = 4
    """Segments of each input whose fragment holders are read for locality (a few reads, not a file's all)."""
    max_expiries_per_block: int = 16
    """Phase deadlines handled per block: each may judge a job or draw replacements (a read of every
    provider, ~11 ms at ``MaxProviders``), so 16 bound the hook to ~0.2 s in the worst case."""
    max_stale_per_block: int = 1
    """Stale providers whose slots are taken away per block: each holds up to ``MaxJobsPerProvider`` slots,
    each of which may draw a replacement."""


@dataclass(frozen=True)
class ComputeJobsConfig:
    providers: ProviderRegistry
    storage: StorageInfo
    chain: BlockHashes
    clock: BlockTime
    currency: JobCurrency
    weights: ComputeJobsWeightInfo
    max_inputs: int
    max_params_length: int
    max_outputs: int
    max_scores: int
    max_redundancy: int
    dispute_extra: int
    max_slots: int
    commit_period: int
    reveal_period: int
    max_job_duration: int
    max_cpu_cores: int
    max_memory_mib: int
    max_gpu_memory_mib: int
    locality_bonus: int
    locality_segments: int
    max_expiries_per_block: int
    max_stale_per_block: int


# --- events ---------------------------------------------------------------------------------------

Round = Annotated[int, U8, "u8"]
Salt = Annotated[bytes, FixedBytes(SALT_LENGTH), "[u8; 32]"]
Digest = Annotated[bytes, H256, "H256"]
VerdictKey = tuple[bytes, tuple[int, ...], tuple[bytes, ...] | tuple[int]]
"""What agreeing reveals share: digest, scores, and each output's ``StorageInfo.stored_content`` (or the slot's
index, for a reveal naming a deleted output: it agrees with none)."""


@dataclass(frozen=True)
class JobSubmitted:
    """A job was submitted and ``escrow`` held from its submitter."""

    job_id: JobId
    submitter: AccountId
    kind: KindId
    escrow: Balance
    deadline: BlockNumber


@dataclass(frozen=True)
class JobAssigned:
    """``providers`` are to run job ``job_id`` (in ``round``: 0 first, 1 dispute) and commit by
    ``commit_deadline``. Also announces replacements of no-shows."""

    job_id: JobId
    round: Round
    providers: Accounts
    commit_deadline: BlockNumber


@dataclass(frozen=True)
class ResultCommitted:
    job_id: JobId
    provider: AccountId


@dataclass(frozen=True)
class RevealStarted:
    """Every assigned provider committed (or the deadline passed): reveal by ``reveal_deadline``."""

    job_id: JobId
    reveal_deadline: BlockNumber


@dataclass(frozen=True)
class ResultRevealed:
    job_id: JobId
    provider: AccountId
    digest: Digest


@dataclass(frozen=True)
class DisputeOpened:
    """The reveals did not settle the job: ``providers`` re-execute it (``JobAssigned`` follows)."""

    job_id: JobId
    providers: Accounts


@dataclass(frozen=True)
class ProviderPaid:
    job_id: JobId
    provider: AccountId
    amount: Balance


@dataclass(frozen=True)
class JobVerified:
    """The job's result is verified: ``outputs`` are its files; ``paid`` went to providers and ``refunded``
    back to the submitter."""

    job_id: JobId
    digest: Digest
    outputs: FileIds
    paid: Balance
    refunded: Balance


@dataclass(frozen=True)
class InputsWithheld:
    """``provider`` could not read every input by its commit deadline: it is paid ``amount`` (its price) instead
    of slashed, and the job fails (``JobFailed`` follows)."""

    job_id: JobId
    provider: AccountId
    amount: Balance


@dataclass(frozen=True)
class JobFailed:
    """The job could not be verified by its deadline (or could not be reassigned): ``refunded`` went back."""

    job_id: JobId
    refunded: Balance


# --- errors ---------------------------------------------------------------------------------------


class UnknownKind(DispatchError):
    """No job kind has this id."""


class BadInputs(DispatchError):
    """A job names no input, or more than ``MaxInputs``."""


class ParamsTooLong(DispatchError):
    """The parameters are longer than ``MaxParamsLength`` bytes."""


class InvalidParams(DispatchError):
    """The kind cannot run with these parameters (not its strict JSON, an unknown or out-of-range field):
    refused here so that no provider is paid, or slashed, for a job nobody could run."""


class AbsurdResources(DispatchError):
    """No CPU core, no memory, or more cores, memory or GPU memory than any machine offers."""


class MemoryTooLow(DispatchError):
    """Less memory than the kind's own estimate of one run over these inputs: the providers' runs would be
    killed at the limit, and they slashed as no-shows for a job that could not run."""


class BadRedundancy(DispatchError):
    """Redundancy is 0 or above ``MaxRedundancy``."""


class BadDeadline(DispatchError):
    """The deadline leaves less than a commit window (``CommitPeriod`` plus the kind's estimate of the run) and
    a reveal period, or is beyond ``MaxJobDuration``."""


class UnknownInput(DispatchError):
    """An input file does not exist."""


class InputNotActive(DispatchError):
    """An input file is not active yet (or is lost)."""


class InputDeleted(DispatchError):
    """An input's owner deleted it: it is kept only for the jobs already reading it."""


class InputNotReadable(DispatchError):
    """An input file is neither public nor the submitter's own: only its owner can grant the job's providers
    read access (a grant the submitter holds lets it read, not pass the file on)."""


class InsufficientFunds(DispatchError):
    """The submitter cannot put the escrow on hold."""


class NotEnoughProviders(DispatchError):
    """Fewer eligible providers than the redundancy asks for."""


class UnknownJob(DispatchError):
    """No job with this id."""


class NotCommitPhase(DispatchError):
    """The job does not take commitments now."""


class NotRevealPhase(DispatchError):
    """The job does not take reveals now."""


class NotAssigned(DispatchError):
    """The signer holds no slot of this job waiting for a commitment."""


class NotCommitted(DispatchError):
    """The signer holds no committed slot of this job waiting for a reveal."""


class CommitmentMismatch(DispatchError):
    """The digest and salt do not open the signer's commitment."""


class BadOutputs(DispatchError):
    """A reveal names no output, more than ``MaxOutputs``, or a file that does not exist."""


class OutputNotOwned(DispatchError):
    """An output file is not the revealing provider's own upload."""


class OutputNotStored(DispatchError):
    """An output file is not stored (not every fragment confirmed yet) or is being deleted: a reveal names
    uploads, not declarations, which a provider could make of another provider's public output without ever
    fetching its bytes."""


class TooManyScores(DispatchError):
    """A reveal carries more than ``MaxScores`` scores."""


MIB = 1 << 20


def run_estimate(kind: int, params: bytes, sizes: list[int]) -> KindResources:
    """The kind's estimate of one run over inputs of ``sizes`` bytes (its params checked already); ``BadInputs``
    for more inputs than the kind takes."""
    try:
        return estimate(kind, params, sizes)
    except KindRefusesInputs:
        raise BadInputs() from None


def commit_window(commit_period: int, run: KindResources, block_ms: int, max_job_duration: int) -> int:
    """Blocks each commit phase of a job lasts: ``commit_period`` and the run's estimated time, at most
    ``max_job_duration`` (a job that needs longer cannot have a deadline that fits it)."""
    return min(commit_period + run.blocks(block_ms), max_job_duration)


def _submit_weight(w: ComputeJobsWeightInfo, inputs: tuple[bytes, ...], redundancy: int) -> Weight:
    return w.submit(len(inputs), redundancy)


class ComputeJobs(Pallet[ComputeJobsConfig]):
    NAME = "ComputeJobs"
    CRATE = "pallet_compute_jobs"
    HOLD_REASONS = HoldReason
    EVENTS = (JobSubmitted, JobAssigned, ResultCommitted, RevealStarted, ResultRevealed, DisputeOpened, ProviderPaid,
              JobVerified, JobFailed, InputsWithheld)
    ERRORS = (UnknownKind, BadInputs, ParamsTooLong, AbsurdResources, BadRedundancy, BadDeadline, UnknownInput,
              InputNotActive, InputNotReadable, InsufficientFunds, NotEnoughProviders, UnknownJob, NotCommitPhase,
              NotRevealPhase, NotAssigned, NotCommitted, CommitmentMismatch, BadOutputs, OutputNotOwned,
              TooManyScores, InvalidParams, InputDeleted, MemoryTooLow, OutputNotStored)
    CONSTANTS = tuple(Constant(name, U32, (lambda c, f=field: getattr(c, f)), doc) for name, field, doc in (
        ("MaxInputs", "max_inputs", "Input files per job at most."),
        ("MaxParamsLength", "max_params_length", "Bytes of a job's parameters at most."),
        ("MaxOutputs", "max_outputs", "Output files per reveal at most."),
        ("MaxScores", "max_scores", "Scores per reveal at most."),
        ("MaxRedundancy", "max_redundancy", "Providers a job's first round asks for at most."),
        ("DisputeExtra", "dispute_extra", "Providers a dispute adds; the escrow is price_cap x (r + this)."),
        ("CommitPeriod", "commit_period", "Blocks assigned providers have to commit."),
        ("RevealPeriod", "reveal_period", "Blocks to reveal once all committed."),
        ("MaxJobDuration", "max_job_duration", "Blocks from submission to the deadline at most."),
    ))

    next_job_id = StorageValue(U64, default=0, docs="The id the next job gets.")
    jobs = StorageMap(U64, Job, hasher=Hasher.Twox64Concat, docs="Every job, by id.")
    provider_jobs = StorageDoubleMap(ACCOUNT_ID, U64, UNIT, hasher2=Hasher.Twox64Concat,
                                     docs="The jobs in which each provider holds an unsettled slot.")
    phase_ends = StorageMap(U32, Vec(U64), hasher=Hasher.Twox64Concat, default=(),
                            docs="Jobs whose commit or reveal phase ended at the block before each block.")
    phase_ends_cursor = StorageValue(U32, docs="The oldest block of `PhaseEnds` that may still hold jobs.")
    lineage = StorageMap(H256, LineageEntry, docs="Where each verified output file came from.")
    watched = StorageMap(U64, UNIT, hasher=Hasher.Twox64Concat,
                         docs="Jobs another pallet (FederatedLearning) waits for.")
    finished = StorageValue(Vec(U64), default=(),
                            docs="Watched jobs that ended since their pallet last looked.")

    # --- calls ----------------------------------------------------------------------------------

    @call(0, weight=lambda w, kind, inputs, params, resources, price_cap, deadline, redundancy:
          _submit_weight(w, inputs, redundancy))
    def submit(self, origin: Origin, kind: KindId, inputs: FileIds, params: Bytes, resources: Resources,
               price_cap: Balance, deadline: BlockNumber, redundancy: Round) -> PostDispatchInfo:
        """Submit a job of ``kind`` over ``inputs``: hold ``price_cap`` × (``redundancy`` + ``DisputeExtra``)
        and assign ``redundancy`` providers, to be verified by block ``deadline``."""
        who = ensure_signed(origin)
        weights = self.config.weights
        with refusals_weigh(lambda: weights.submit(len(inputs), redundancy, 0)):  # before the draw read providers
            submitted = self.submit_job(who, kind, inputs, params, resources, price_cap, deadline, redundancy,
                                        parent=None, watched=False)
        weight = weights.submit(len(inputs), redundancy, submitted.providers_read)
        return PostDispatchInfo(actual_weight=weight)

    @call(1, weight=lambda w, job_id, commitment: w.commit())
    def commit(self, origin: Origin, job_id: JobId, commitment: Digest) -> None:
        """Commit the signer's result for ``job_id``: ``compute_pallet.commitment.commitment(job_id, signer,
        digest, salt)``."""
        who = ensure_signed(origin)
        job = self._job(job_id)
        # past its deadline, a phase whose end a backlog of phase ends carried over is over all the same
        if job.status is not JobStatus.Committing or self.block_number() > job.phase_deadline:
            raise NotCommitPhase()
        index = self._slot_of(job, who, SlotStatus.Assigned)
        if index is None:
            raise NotAssigned()
        self.deposit_event(ResultCommitted(job_id, who))
        self._advance(job_id, job.with_slot(index, status=SlotStatus.Committed, commitment=commitment),
                      self.block_number())

    @call(2, weight=lambda w, job_id, digest, salt, outputs, scores: w.reveal(len(outputs)))
    def reveal(self, origin: Origin, job_id: JobId, digest: Digest, salt: Salt, outputs: FileIds,
               scores: Scores) -> PostDispatchInfo:
        """Open the signer's commitment: the result ``digest``, its ``salt``, the ``outputs`` it uploaded
        (its own files) and the integer ``scores`` its result carries."""
        who = ensure_signed(origin)
        cfg = self.config
        with refusals_weigh(lambda: cfg.weights.reveal(len(outputs), judges=False)):  # refused before judging
            job = self._job(job_id)
            if job.status is not JobStatus.Revealing or self.block_number() > job.phase_deadline:
                raise NotRevealPhase()
            index = self._slot_of(job, who, SlotStatus.Committed)
            if index is None:
                raise NotCommitted()
            if not 0 < len(outputs) <= cfg.max_outputs:
                raise BadOutputs()
            if len(scores) > cfg.max_scores:
                raise TooManyScores()
            if commitment(job_id, who, digest, salt) != job.slots[index].commitment:
                raise CommitmentMismatch()
            for file_id in outputs:
                facts = cfg.storage.file_facts(file_id)
                if facts is None:
                    raise BadOutputs()
                if facts.owner != who:
                    raise OutputNotOwned()
                if not facts.active or facts.deleting:
                    raise OutputNotStored()
        self.deposit_event(ResultRevealed(job_id, who, digest))
        revealed = job.with_slot(index, status=SlotStatus.Revealed, reveal=Reveal(digest, outputs, scores))
        judges = not self._any(revealed, SlotStatus.Committed)  # the last reveal: _advance judges the job
        self._advance(job_id, revealed, self.block_number())
        judged = Judged(len(revealed.slots), len(revealed.inputs),
                        max(len(slot.reveal.outputs) for slot in revealed.slots if slot.reveal is not None))
        return PostDispatchInfo(actual_weight=cfg.weights.reveal(len(outputs), judges, judged))

    # --- JobMarket: submission (the call above, and FederatedLearning) ----------------------------

    def submit_job(self, submitter: bytes, kind: int, inputs: tuple[bytes, ...], params: bytes,
                   resources: Resources, price_cap: int, deadline: int, redundancy: int, *,
                   parent: bytes | None, watched: bool, held: frozenset[bytes] = frozenset()) -> Submitted:
        """Check a job, hold its escrow, assign its first round (see :class:`Submitted`). Checks everything first.
        ``held``: inputs the caller keeps pinned (see ``JobMarket.submit_job``)."""
        cfg = self.config
        n = self.block_number()
        if kind not in KIND_IDS.values():
            raise UnknownKind()
        if not 0 < len(inputs) <= cfg.max_inputs:
            raise BadInputs()
        if len(params) > cfg.max_params_length:
            raise ParamsTooLong()
        try:
            validate_params(kind, params)
        except KindRefusesParams:
            raise InvalidParams() from None
        if not (0 < resources.cpu_cores <= cfg.max_cpu_cores and 0 < resources.memory_mib <= cfg.max_memory_mib
                and resources.gpu_memory_mib <= cfg.max_gpu_memory_mib):
            raise AbsurdResources()
        if not 0 < redundancy <= cfg.max_redundancy:
            raise BadRedundancy()
        if not n + cfg.commit_period + cfg.reveal_period <= deadline <= n + cfg.max_job_duration:
            raise BadDeadline()
        sizes = []
        for file_id in inputs:
            facts = cfg.storage.file_facts(file_id)
            if facts is None:
                raise UnknownInput()
            if not facts.active:
                raise InputNotActive()
            if facts.deleting and file_id not in held:
                raise InputDeleted()
            if not (facts.public or facts.owner == submitter):  # its providers could never be granted it
                raise InputNotReadable()
            sizes.append(facts.size)
        run = run_estimate(kind, params, sizes)
        if resources.memory_mib * MIB < run.memory_bytes:
            raise MemoryTooLow()
        window = commit_window(cfg.commit_period, run, cfg.clock.block_time_ms(), cfg.max_job_duration)
        if n + window + cfg.reveal_period > deadline:
            raise BadDeadline()
        escrow = self.escrow_for(price_cap, redundancy)
        if not cfg.currency.can_withdraw(submitter, escrow):
            raise InsufficientFunds()
        job_id = self.next_job_id.get()
        seed = blake2_256(DOMAIN_COMPUTE_SEED + self._parent_hash(n) + job_id.to_bytes(8, "little"))
        job = Job(submitter, kind, tuple(inputs), params, resources, price_cap, deadline, redundancy,
                  cfg.dispute_extra, escrow, seed, JobStatus.Committing, 0, n + window, window, n, parent, (), (), None,
                  escrow, 0)
        picks, providers_read = self._pick(job_id, job, redundancy, n)
        with refusals_weigh(lambda: cfg.weights.submit(len(inputs), redundancy, providers_read)):
            if len(picks) < redundancy:
                raise NotEnoughProviders()
            # EFFECTS
            cfg.currency.hold(HoldReason.JobEscrow, submitter, escrow)
            for file_id in inputs:
                cfg.storage.pin(file_id)
            self.next_job_id.put(job_id + 1)
            if watched:
                self.watched.insert(job_id, ())
            self.deposit_event(JobSubmitted(job_id, submitter, kind, escrow, deadline))
            self._store(job_id, self._add_slots(job_id, job, picks, n))
        return Submitted(job_id, providers_read)

    def needs(self, kind: int, params: bytes, inputs: tuple[bytes, ...]) -> JobNeeds:
        cfg = self.config
        sizes = [facts.size if (facts := cfg.storage.file_facts(file_id)) else 0 for file_id in inputs]
        run = run_estimate(kind, params, sizes)
        window = commit_window(cfg.commit_period, run, cfg.clock.block_time_ms(), cfg.max_job_duration)
        return JobNeeds(-(-run.memory_bytes // MIB), min(2 * (window + cfg.reveal_period), cfg.max_job_duration))

    def escrow_for(self, price_cap: int, redundancy: int) -> int:
        return price_cap * (redundancy + self.config.dispute_extra)

    def max_redundancy(self) -> int:
        return self.config.max_redundancy

    def max_params_length(self) -> int:
        return self.config.max_params_length

    def submit_weight(self, inputs: int) -> Weight:
        return self.config.weights.submit(inputs, self.config.max_redundancy)

    def take_finished(self) -> tuple[int, ...]:
        return self.finished.take() or ()

    def job(self, job_id: int) -> Job | None:
        return self.jobs.get(job_id)

    # --- hooks ----------------------------------------------------------------------------------

    def on_initialize(self, n: int) -> Weight:
        """Take stale providers' slots away, then end the phases whose deadline has passed (at block ``n - 1``,
        or before for those carried over from a block with more phase ends than ``max_expiries_per_block``)."""
        stale_slots = 0
        registry = self.config.providers
        for who in registry.take_stale(self.config.max_stale_per_block):
            info = registry.provider(who)
            if info is None or registry.is_fresh(info, n):
                continue  # it heartbeat again while queued
            for job_id, _ in list(self.provider_jobs.iter_prefix(who)):
                stale_slots += 1
                job = self.jobs.get(job_id)
                index = self._slot_of(job, who, SlotStatus.Assigned, SlotStatus.Committed)
                if index is not None:
                    unrevealed = job.status is JobStatus.Revealing
                    job = self._drop(job_id, job, (index,),
                                     SlashReason.Unrevealed if unrevealed else SlashReason.NoShow)
                    self._advance(job_id, self._refill(job_id, job, n), n)
        now = DueQueue(self.phase_ends, self.phase_ends_cursor).take(n, self.config.max_expiries_per_block)
        for job_id in now:
            job = self.jobs.get(job_id)
            if job is None or job.phase_deadline >= n or job.status not in (JobStatus.Committing,
                                                                             JobStatus.Revealing, JobStatus.Disputing):
                continue  # the phase ended early, or was extended (a phase end carried over is still due)
            if job.status is JobStatus.Disputing:
                self._advance(job_id, self._open_dispute(job_id, job, n), n)
                continue
            committing = job.status is JobStatus.Committing
            late = SlotStatus.Assigned if committing else SlotStatus.Committed
            overdue = [i for i, slot in enumerate(job.slots) if slot.status is late]
            withheld = () if not committing else tuple(
                i for i in overdue if not self._may_read_inputs(job, job.slots[i].provider))
            job = self._drop(job_id, job, tuple(i for i in overdue if i not in withheld),
                             SlashReason.NoShow if committing else SlashReason.Unrevealed)
            if withheld:
                job = self._fail(job_id, self._compensate(job_id, job, withheld))
            elif committing:
                job = self._refill(job_id, job, n)
            self._advance(job_id, job, n)
        return self.config.weights.on_initialize(stale_slots, len(now))

    # --- the life of a job ----------------------------------------------------------------------

    def _pick(self, job_id: int, job: Job, count: int, n: int) -> tuple[list[tuple[bytes, int]], int]:
        """Up to ``count`` eligible providers not yet holding a slot of ``job``, with their prices, and how many
        provider records it read to find them. A job with a private input takes only providers it can be granted
        to (with an encryption key registered): one that cannot would sit out its slot paid, and fail the job for
        everyone."""
        cfg = self.config
        excluded = {slot.provider for slot in job.slots}
        holders: set[bytes] = set()
        for file_id in job.inputs:
            holders |= cfg.storage.fragment_holders(file_id, cfg.locality_segments)
        private = any((facts := cfg.storage.file_facts(file_id)) is not None and not facts.public
                      for file_id in job.inputs)
        prices, weighted = {}, []
        providers = cfg.providers.all_providers()
        for who, info in providers:
            price = info.price_of(job.kind)
            if (who in excluded or price is None or price > job.price_cap or not info.hardware.fits(job.resources)
                    or not cfg.providers.can_take(info, n) or (private and not cfg.storage.may_be_granted(who))):
                continue
            prices[who] = price
            weighted.append((who, info.reputation_permill() * (cfg.locality_bonus if who in holders else 1)))
        candidates = Candidates.of(weighted)
        seed = blake2_256(DOMAIN_COMPUTE_ASSIGNMENT + self._parent_hash(n) + job_id.to_bytes(8, "little")
                          + len(job.slots).to_bytes(2, "little"))
        chosen: list[tuple[bytes, int]] = []
        for i in range(count):
            who = candidates.pick(seed, i.to_bytes(2, "little"), excluded, lambda _: True)
            if who is None:
                break
            excluded.add(who)
            chosen.append((who, prices[who]))
        return chosen, len(providers)

    def _add_slots(self, job_id: int, job: Job, picks: list[tuple[bytes, int]], n: int) -> Job:
        """Give ``picks`` slots of the job's current round, due a commit window from now."""
        deadline = n + job.commit_window
        for who, _ in picks:
            self.config.providers.assign(who)
            self.provider_jobs.insert(who, job_id, ())
        slots = job.slots + tuple(Slot(who, job.round, SlotStatus.Assigned, price, None, None) for who, price in picks)
        self._schedule(job_id, deadline)
        self.deposit_event(JobAssigned(job_id, job.round, tuple(who for who, _ in picks), deadline))
        return job.with_(slots=slots, status=JobStatus.Committing, phase_deadline=deadline)

    def _drop(self, job_id: int, job: Job, indices: tuple[int, ...],
              reason: SlashReason = SlashReason.NoShow) -> Job:
        """Mark these slots no-shows: their providers are slashed for ``reason`` and lose the slot."""
        for i in indices:
            who = job.slots[i].provider
            self.config.providers.slash(who, job_id, reason)
            self.provider_jobs.remove(who, job_id)
            job = job.with_slot(i, status=SlotStatus.NoShow)
        return job

    def _may_read_inputs(self, job: Job, who: bytes) -> bool:
        """Whether every input of ``job`` exists, is readable and may be read by ``who`` (now)."""
        storage = self.config.storage
        for file_id in job.inputs:
            facts = storage.file_facts(file_id)
            if facts is None or not facts.active or not storage.may_read(file_id, who):
                return False
        return True

    def _compensate(self, job_id: int, job: Job, withheld: tuple[int, ...]) -> Job:
        """Pay the ``withheld`` slots, whose inputs were withheld, their price from the escrow, and those holding
        a commitment or a reveal, whose work can no longer be judged; they are settled. (Of a dispute's earlier
        reveals, which disagreed, one is wrong and paid all the same: left unpaid, the honest one was too, and
        a submitter withholding its referees' inputs got a result for one price.)"""
        cfg = self.config
        paid = 0
        for i, slot in enumerate(job.slots):
            worked = slot.status in (SlotStatus.Committed, SlotStatus.Revealed)
            if i not in withheld and not worked:
                continue
            cfg.currency.transfer_on_hold(HoldReason.JobEscrow, job.submitter, slot.provider, slot.price)
            cfg.providers.settle(slot.provider)
            self.provider_jobs.remove(slot.provider, job_id)
            if worked:
                self.deposit_event(ProviderPaid(job_id, slot.provider, slot.price))
                job = job.with_slot(i, status=SlotStatus.Paid)
            else:
                self.deposit_event(InputsWithheld(job_id, slot.provider, slot.price))
                job = job.with_slot(i, status=SlotStatus.InputsWithheld)
            paid += slot.price
        return job.with_(escrow=job.escrow - paid)

    def _refill(self, job_id: int, job: Job, n: int) -> Job:
        """In the commit phase, replace the round's no-shows while the deadline allows; else fail the job."""
        cfg = self.config
        if job.status is not JobStatus.Committing:
            return job
        needed = job.redundancy if job.round == 0 else job.dispute_extra
        live = sum(1 for slot in job.slots if slot.round == job.round
                   and slot.status in (SlotStatus.Assigned, SlotStatus.Committed))
        missing = needed - live
        if missing <= 0:
            return job
        if n + job.commit_window + cfg.reveal_period <= job.deadline and len(job.slots) + missing <= cfg.max_slots:
            picks, _ = self._pick(job_id, job, missing, n)
            if len(picks) == missing:
                return self._add_slots(job_id, job, picks, n)
        return self._fail(job_id, job)

    def _advance(self, job_id: int, job: Job, n: int) -> None:
        """Move the job on as far as its slots allow (reveal phase, verdict) and store it."""
        if job.status is JobStatus.Committing and not self._any(job, SlotStatus.Assigned):
            deadline = min(n + self.config.reveal_period, job.deadline)
            job = job.with_(status=JobStatus.Revealing, phase_deadline=deadline)
            self._schedule(job_id, deadline)
            self.deposit_event(RevealStarted(job_id, deadline))
        if job.status is JobStatus.Revealing and not self._any(job, SlotStatus.Committed):
            job = self._judge(job_id, job, n)
        self._store(job_id, job)

    def _judge(self, job_id: int, job: Job, n: int) -> Job:
        """Verify the job if one result holds a majority of the reveals (and min(r, 2) of them); else open
        a dispute round while the deadline allows, or fail the job."""
        cfg = self.config
        keys = {i: self._verdict_key(i, slot.reveal) for i, slot in enumerate(job.slots)
                if slot.status is SlotStatus.Revealed}
        for key, count in Counter(keys.values()).items():
            if 2 * count > len(keys) and count >= min(job.redundancy, 2):
                return self._verify(job_id, job, key, keys, n)
        if job.round == 0 and job.dispute_extra and n + 1 + job.commit_window + cfg.reveal_period <= job.deadline \
                and len(job.slots) + job.dispute_extra <= cfg.max_slots:
            self._schedule(job_id, n)  # its referees are drawn at the next block: see _open_dispute
            return job.with_(round=1, status=JobStatus.Disputing, phase_deadline=n)
        return self._fail(job_id, job)

    def _open_dispute(self, job_id: int, job: Job, n: int) -> Job:
        """Assign a ``Disputing`` job's referees, or fail it if too few providers can take it. They are drawn
        from the hash of the block that opened the dispute, here, a block later: drawn in that block, from its
        parent's hash, the last revealer could compute the draw before revealing, and reveal a wrong result only
        in a block whose draw picks its own accomplice to agree with it against the honest provider."""
        if n + job.commit_window + self.config.reveal_period > job.deadline:
            return self._fail(job_id, job)  # opened late (a backlog of phase ends): no time left for it
        picks, _ = self._pick(job_id, job, job.dispute_extra, n)
        if len(picks) < job.dispute_extra:
            return self._fail(job_id, job)
        self.deposit_event(DisputeOpened(job_id, tuple(who for who, _ in picks)))
        return self._add_slots(job_id, job, picks, n)

    def _verdict_key(self, index: int, reveal: Reveal) -> VerdictKey:
        """What agreeing reveals share: the digest, the scores and what each output holds. The reveal of slot
        ``index`` naming an output deleted since agrees with none, not even another such: two providers
        deleting their copies must not outvote the one whose copy the submitter can read."""
        storage = self.config.storage
        contents = tuple(storage.stored_content(file_id) for file_id in reveal.outputs)
        return reveal.digest, reveal.scores, (index,) if None in contents else contents

    def _verify(self, job_id: int, job: Job, key: VerdictKey, keys: dict[int, VerdictKey], n: int) -> Job:
        """Pay the reveals matching ``key`` (``keys``: each revealed slot's), slash the others, refund the rest, lock
        the outputs (their provider may no longer delete them) and record their lineage."""
        cfg = self.config
        self._release_outputs(job)
        winners, paid = [], 0
        checked = sum(other == key for other in keys.values()) >= 2  # r = 1 pays, and proves nothing
        for i, slot in enumerate(job.slots):
            if slot.status is not SlotStatus.Revealed:
                continue
            self.provider_jobs.remove(slot.provider, job_id)
            if keys[i] == key:
                cfg.currency.transfer_on_hold(HoldReason.JobEscrow, job.submitter, slot.provider, slot.price)
                cfg.providers.settle(slot.provider, verified=checked)
                self.deposit_event(ProviderPaid(job_id, slot.provider, slot.price))
                job = job.with_slot(i, status=SlotStatus.Paid)
                winners.append(slot)
                paid += slot.price
            else:
                cfg.providers.slash(slot.provider, job_id, SlashReason.DisputeLost)
                job = job.with_slot(i, status=SlotStatus.Slashed)
        refunded = cfg.currency.release(HoldReason.JobEscrow, job.submitter, job.escrow - paid)
        outputs = self._adopted_outputs(winners, job.submitter)
        entry = LineageEntry(job_id, job.kind, job.inputs, tuple(slot.provider for slot in winners), job.parent, n)
        for file_id in outputs:
            cfg.storage.lock(file_id)  # the submitter paid for it: its provider may no longer delete it
            if not self.lineage.contains(file_id):
                self.lineage.insert(file_id, entry)
        self.deposit_event(JobVerified(job_id, key[0], outputs, paid, refunded))
        self._ended(job_id, job)
        return job.with_(status=JobStatus.Verified, escrow=0, outputs=outputs, digest=key[0], refunded=refunded)

    def _adopted_outputs(self, winners: list[Slot], submitter: bytes) -> tuple[bytes, ...]:
        """The job's outputs: the first agreeing reveal's whose files all still exist, are active, are not
        being deleted and may be read by the ``submitter``. Agreeing reveals name files of the same bytes, but
        one could name a copy not activated yet, or a private one it never granted the submitter, and leave the
        submitter with nothing. The first reveal's if none qualifies."""
        storage = self.config.storage
        for slot in winners:
            if all((facts := storage.file_facts(file_id)) is not None and facts.active and not facts.deleting
                   and storage.may_read(file_id, submitter) for file_id in slot.reveal.outputs):
                return slot.reveal.outputs
        return winners[0].reveal.outputs

    def _release_outputs(self, job: Job) -> None:
        """End the embargo of every revealed output: the job is over, and nobody can copy them into it now."""
        for slot in job.slots:
            if slot.reveal is not None:
                for file_id in slot.reveal.outputs:
                    self.config.storage.release(file_id)

    def _fail(self, job_id: int, job: Job) -> Job:
        """End the job unverified: unsettled slots are settled without pay or slash, the escrow refunded."""
        self._release_outputs(job)
        for i, slot in enumerate(job.slots):
            if slot.status in (SlotStatus.Assigned, SlotStatus.Committed, SlotStatus.Revealed):
                self.config.providers.settle(slot.provider)
                self.provider_jobs.remove(slot.provider, job_id)
                job = job.with_slot(i, status=SlotStatus.Unjudged)
        refunded = self.config.currency.release(HoldReason.JobEscrow, job.submitter, job.escrow)
        self.deposit_event(JobFailed(job_id, refunded))
        self._ended(job_id, job)
        return job.with_(status=JobStatus.Failed, escrow=0, refunded=refunded)

    # --- helpers --------------------------------------------------------------------------------

    def _job(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise UnknownJob()
        return job

    @staticmethod
    def _slot_of(job: Job, who: bytes, *statuses: SlotStatus) -> int | None:
        for i, slot in enumerate(job.slots):
            if slot.provider == who and slot.status in statuses:
                return i
        return None

    @staticmethod
    def _any(job: Job, status: SlotStatus) -> bool:
        return any(slot.status is status for slot in job.slots)

    def _schedule(self, job_id: int, deadline: int) -> None:
        """Handle the phase's end the block after ``deadline``, or the next block if that has passed (a phase
        started late, by a phase end carried over, may end at the job's deadline already behind)."""
        DueQueue(self.phase_ends, self.phase_ends_cursor).push(max(deadline, self.block_number()) + 1, job_id)

    def _store(self, job_id: int, job: Job) -> None:
        self.jobs.insert(job_id, job)

    def _ended(self, job_id: int, job: Job) -> None:
        """After a verdict: the job's inputs are unpinned, and a watched job queued for ``take_finished``."""
        for file_id in job.inputs:
            self.config.storage.unpin(file_id)
        if self.watched.take(job_id) is not None:
            self.finished.put(self.finished.get() + (job_id,))

    def _parent_hash(self, n: int) -> bytes:
        return self.config.chain.known_block_hash(n - 1) or bytes(32)

    def integrity_test(self) -> None:
        cfg = self.config
        assert cfg.commit_period > 0 and cfg.reveal_period > 0
        assert cfg.max_job_duration >= cfg.commit_period + cfg.reveal_period
        assert cfg.max_slots >= cfg.max_redundancy + cfg.dispute_extra, "a job's first round and dispute must fit"
        assert cfg.dispute_extra <= 0xFF, "a job records it as a u8"
        assert cfg.locality_bonus >= 1 and cfg.max_expiries_per_block > 0 and cfg.max_stale_per_block > 0


def _compute_jobs_config(config_type: type, params: ComputeJobsParams, weights: None, wired: dict) -> ComputeJobsConfig:
    return ComputeJobsConfig(weights=ComputeJobsWeights(wired["providers"].max_providers(), params.max_slots,
                                                        params.max_inputs, params.max_outputs),
                             **wired, **dataclasses.asdict(params))


DEFINITION = PalletDefinition(pallet=ComputeJobs, config=ComputeJobsConfig, weights=None, params=ComputeJobsParams,
                              build_config=_compute_jobs_config, rpc=JOBS_RPC)
