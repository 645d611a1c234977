"""FederatedLearning: tasks whose participants train on data that never leaves them, aggregated by verified jobs.

A creator opens a task (``create_task``): a base model (a stored file it may read), a number of rounds, the
participants (listed accounts, or anyone when the list is empty), the stake each participant holds while the
task runs, the lengths of each round's commit and delivery windows, a reward pool, an optional validation
dataset, and what each round's aggregation job may cost (price cap and redundancy) with its parameters. The
creator's funds, the pool plus every round's aggregation escrow (its amount fixed at creation), are held as
``TaskFunds``.

**A round.** Participants who joined (``join``, holding the stake) train locally and commit
``compute_pallet.commitment.update_commitment(task, round, participant, file, salt)`` within the commit window,
``file`` being the id their update will have as their own public file (the providers the chain later picks for the
aggregation must read it; the SDK computes the id before anything is uploaded), then upload it and deliver (reveal
the file and salt) within the delivery window, which must cover an upload. An update uploaded while others may still
commit could be copied by a member that trained nothing. Neither window idles once its work is done: the commit
window closes in the block in which the last member the task can have commits (every listed participant joined,
or an open task holds ``max_participants``, and each committed), and the delivery window, ``deliver_period``
from then, closes in the block in which the last committed update is delivered once no one can commit any more
(``CommitWindowClosed``, ``DeliveryWindowClosed``); a commit window that ran out with no update committed, or
every committed one delivered already (the chain takes deliveries while others may still commit; the SDK never
sends one), ends the round in the next block. In the block after the delivery window, ``on_initialize``
slashes every participant that committed and did not deliver (``no_show_slash`` of its stake, burned), and submits a
``fedavg`` job to ComputeJobs on the creator's behalf (redundant and verified like any job, its escrow released from
the task's funds) over the inputs, in this order:

    [current global model, each delivered update (in storage order of the participants), validation set?]

Files a task reads are pinned in storage (``StorageInfo.pin``), so that their owners' deletions wait and no
one can break the task for the rest: the current global model and the validation set while the task runs, a
delivered update until its round ends (then by the aggregation job until its verdict).

**Settlement.** When ComputeJobs reports the job ended, the next global model is the first output of the
first agreeing provider whose copy the next round can read (active, public, not being deleted; if no agreeing
provider's is, the round fails), and the result's scores (the reveal's ``Vec<u64>``, one per update in input
order) split the round's reward (``reward_pool / rounds``) pro rata; mismatched or all-zero scores split it
equally. A failed job leaves the global model as it was and pays nothing. Each round's record (``Rounds``)
lists the global model it started from, every update with its contributor, the job, the scores, the rewards
and the new model; ComputeJobs' lineage of the new model names the job, its inputs and its parent (the
previous global model), so a walk from the final model reaches every round, every update and the base model.
After the last round, what is left of the creator's funds and every participant's stake is released; so it is
after ``max_idle_rounds`` rounds in a row that gave no new global model: no update delivered, fewer than the
aggregation needs (a ``trimmed_mean`` needs 2 × ``trim`` + 2: no job is paid for then), or an aggregation
refused or failed (a task nobody takes part in, or that one member keeps alive with junk updates fedavg
refuses, no longer holds the funds, and pays for aggregations, for the rest of its rounds, up to years). A round
no one commits to ends with its commit window, so a task no one takes part in ends after ``max_idle_rounds``
commit windows (after its rounds', if fewer).

``on_initialize`` is bounded: at most ``max_round_ends_per_block`` queued looks at rounds per block (each that
ends a round touching at most ``max_participants`` participants); the rest wait a block.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Annotated, Protocol

from compute_pallet.commitment import SALT_LENGTH, update_commitment
from compute_pallet.formats import MAX_HEADER_BYTES, MAX_MODEL_BYTES
from compute_pallet.kinds import KIND_IDS, InvalidParams as KindRefusesParams, fedavg, refusal_of, validate_params
from compute_pallet.pallets.interfaces import FileFacts, JobMarket, StorageInfo
from compute_pallet.pallets.rpc import FEDERATED_RPC
from compute_pallet.pallets.types import (
    PERBILL,
    Accounts,
    FileId,
    JobId,
    Job,
    JobStatus,
    OptionalFile,
    Resources,
    RoundRecord,
    SlotStatus,
    Task,
    TaskId,
    TaskStatus,
    Update,
)
from compute_pallet.pallets.weights import FederatedLearningWeightInfo, FederatedLearningWeights
from runtime.frame.composition import PalletDefinition
from runtime.frame.due import DueQueue
from runtime.frame.pallet import Constant, DispatchError, Origin, Pallet, call, ensure_signed
from runtime.frame.storage import Hasher, StorageDoubleMap, StorageMap, StorageValue
from runtime.pallets.balances_types import HoldCurrency
from runtime.primitives import ACCOUNT_ID, AccountId, Balance, BlockNumber, Bytes, Weight
from runtime.scale import H256, U8, U32, U64, U128, FixedBytes, Tuple, Vec

__all__ = ["FederatedLearning", "FederatedLearningConfig", "FederatedLearningParams", "HoldReason", "DEFINITION",
           "TaskCurrency", "TaskCreated", "ParticipantJoined", "UpdateCommitted", "UpdateDelivered",
           "ParticipantSlashed", "RoundAggregating", "RoundAggregated", "ContributorRewarded", "RoundFailed",
           "RoundStarted", "TaskFinished", "CommitWindowClosed", "DeliveryWindowClosed", "UnknownFile", "FileNotActive",
           "FileNotReadable", "BadRounds", "BadParticipants", "BadPeriods", "StakeTooLow", "RewardTooLow",
           "ParamsTooLong", "BadRedundancy", "InsufficientFunds", "UnknownTask", "NotListed", "AlreadyJoined",
           "TaskFull", "NotMember", "NotTraining", "WrongRound", "CommitClosed", "AlreadyCommitted", "NotCommitted",
           "DeliveryClosed", "AlreadyDelivered", "CommitmentMismatch", "UpdateNotOwned", "InvalidParams"]


class HoldReason(enum.IntEnum):
    """Why this pallet holds balance."""

    TaskFunds = 0
    ParticipantStake = 1


class TaskCurrency(HoldCurrency, Protocol):
    def can_withdraw(self, who: bytes, amount: int) -> bool: ...


@dataclass(frozen=True)
class FederatedLearningParams:
    min_stake: int = 10 * 10**12
    """10 tokens: a participant that commits and walks away loses ``no_show_slash`` of it, which must
    outweigh what a free option on the round's reward is worth."""
    max_participants: int = 12
    """Participants per task: a round's aggregation job takes the global model, every update and a
    validation set as inputs (``ComputeJobs.MaxInputs`` is 16), and ending a round touches each once."""
    max_rounds: int = 1_000
    """Rounds per task."""
    max_period: int = 43_200
    """Blocks a commit or delivery window lasts at most (24 h)."""
    no_show_slash: int = 100_000_000
    """Perbill of a participant's stake burned when it committed an update and did not deliver it: 10%."""
    aggregation_deadline: int = 600
    """Blocks a round's ``fedavg`` job has to be verified (20 min): commit, reveal and a dispute fit. A round
    whose aggregation ComputeJobs estimates to need longer (many or large updates) gets what it needs."""
    aggregation_cpu_cores: int = 1
    """Cores an aggregation asks for: averaging a few models is light work."""
    aggregation_memory_mib: int = 2_048
    """Memory an aggregation asks for: every update of a round in memory at once."""
    max_round_ends_per_block: int = 8
    """Queued looks at rounds handled per block (each that ends a round reads every participant and submits a job;
    a round queues two, and one more for each window that closes early)."""
    max_idle_rounds: int = 3
    """Rounds in a row that give no new global model after which a task ends early, its funds and stakes
    released: listed participants get three rounds to join and deliver, and a task its members abandoned (or
    nobody joined, or one member feeds junk fedavg refuses) stops holding the creator's pool and their stakes,
    and paying for aggregations, for up to 1,000 rounds of two-day windows."""


@dataclass(frozen=True)
class FederatedLearningConfig:
    market: JobMarket
    storage: StorageInfo
    currency: TaskCurrency
    weights: FederatedLearningWeightInfo
    min_stake: int
    max_participants: int
    max_rounds: int
    max_period: int
    no_show_slash: int
    aggregation_deadline: int
    aggregation_cpu_cores: int
    aggregation_memory_mib: int
    max_round_ends_per_block: int
    max_idle_rounds: int


# --- events ---------------------------------------------------------------------------------------

RoundNumber = Annotated[int, U32, "u32"]
Salt = Annotated[bytes, FixedBytes(SALT_LENGTH), "[u8; 32]"]
Hash = Annotated[bytes, H256, "H256"]


@dataclass(frozen=True)
class TaskCreated:
    """A task was created and ``funds`` held from its creator (the reward pool and every round's
    aggregation escrow); round 0 started."""

    task_id: TaskId
    creator: AccountId
    base_model: FileId
    rounds: RoundNumber
    funds: Balance


@dataclass(frozen=True)
class ParticipantJoined:
    task_id: TaskId
    participant: AccountId
    stake: Balance


@dataclass(frozen=True)
class RoundStarted:
    """Round ``round`` trains from ``global_model``: commit by ``commit_deadline``, deliver by
    ``deliver_deadline``."""

    task_id: TaskId
    round: RoundNumber
    global_model: FileId
    commit_deadline: BlockNumber
    deliver_deadline: BlockNumber


@dataclass(frozen=True)
class CommitWindowClosed:
    """Every member the task may have committed in ``round``, before its commit period ran out: no one else can
    commit, and the delivery window runs to ``deliver_deadline`` (``deliver_period`` from this block)."""

    task_id: TaskId
    round: RoundNumber
    deliver_deadline: BlockNumber


@dataclass(frozen=True)
class DeliveryWindowClosed:
    """Every update committed in ``round`` was delivered, and no one can commit any more: the round ends in the
    next block instead of at the end of its delivery period."""

    task_id: TaskId
    round: RoundNumber


@dataclass(frozen=True)
class UpdateCommitted:
    task_id: TaskId
    round: RoundNumber
    participant: AccountId


@dataclass(frozen=True)
class UpdateDelivered:
    task_id: TaskId
    round: RoundNumber
    participant: AccountId
    update: FileId


@dataclass(frozen=True)
class ParticipantSlashed:
    """``participant`` committed an update in ``round`` and did not deliver it: ``amount`` burned."""

    task_id: TaskId
    round: RoundNumber
    participant: AccountId
    amount: Balance


@dataclass(frozen=True)
class RoundAggregating:
    """The round's updates are being averaged by job ``job_id``."""

    task_id: TaskId
    round: RoundNumber
    job_id: JobId


@dataclass(frozen=True)
class RoundAggregated:
    """The round's aggregation was verified: ``global_model`` is the next global model."""

    task_id: TaskId
    round: RoundNumber
    job_id: JobId
    global_model: FileId


@dataclass(frozen=True)
class ContributorRewarded:
    task_id: TaskId
    round: RoundNumber
    contributor: AccountId
    score: Annotated[int, U64, "u64"]
    reward: Balance


@dataclass(frozen=True)
class RoundFailed:
    """No update was delivered, or the aggregation could not be submitted or verified: the global model
    stays, nothing is paid."""

    task_id: TaskId
    round: RoundNumber


@dataclass(frozen=True)
class TaskFinished:
    """The last round ended: ``refunded`` went back to the creator and every stake was released."""

    task_id: TaskId
    global_model: FileId
    refunded: Balance


# --- errors ---------------------------------------------------------------------------------------


class UnknownFile(DispatchError):
    """A model, dataset or update file does not exist."""


class FileNotActive(DispatchError):
    """A model, dataset or update file is not active yet (or is lost)."""


class FileDeleting(DispatchError):
    """The file's owner deleted it: it is kept only for the jobs and rounds already reading it."""


class FileNotReadable(DispatchError):
    """The task's creator may not read the file (not its owner, not public, no grant)."""


class FileNotPublic(DispatchError):
    """A task's base model or validation set is private: every participant and every round's providers read
    them, and the later rounds' global models, derived from a private input, would be private too."""


class BadRounds(DispatchError):
    """A task has 1 to ``MaxRounds`` rounds."""


class BadParticipants(DispatchError):
    """The participant list is longer than ``MaxParticipants`` or names an account twice."""


class BadPeriods(DispatchError):
    """A commit or delivery window is 0 or longer than ``MaxPeriod`` blocks."""


class StakeTooLow(DispatchError):
    """The participants' stake is below ``MinStake``."""


class RewardTooLow(DispatchError):
    """The reward pool gives a round nothing (it is less than the number of rounds)."""


class ParamsTooLong(DispatchError):
    """The aggregation parameters are longer than ``ComputeJobs.MaxParamsLength``."""


class InvalidParams(DispatchError):
    """The ``fedavg`` kind cannot run with the aggregation parameters, or they do not declare the validation
    set's width (``features``) exactly when the task has one, or they could fail every round: ``weights``
    (positional, where each round has its own updates in its own order) or a ``trimmed_mean`` that needs more
    updates than the task can have (2 × ``trim`` + 2). Refused now, not at the first round."""


class BadRedundancy(DispatchError):
    """The aggregation's redundancy is below 2 (one provider's reveal would set the round's scores, and so its
    rewards, alone) or above ``ComputeJobs.MaxRedundancy``."""


class InsufficientFunds(DispatchError):
    """The account cannot put the funds or the stake on hold."""


class UnknownTask(DispatchError):
    """No task with this id."""


class NotListed(DispatchError):
    """The task lists its participants, and not the signer."""


class AlreadyJoined(DispatchError):
    """The signer already participates in the task."""


class TaskFull(DispatchError):
    """The task has ``MaxParticipants`` participants."""


class NotMember(DispatchError):
    """The signer has not joined the task."""


class NotTraining(DispatchError):
    """The task is aggregating or finished: no updates now."""


class WrongRound(DispatchError):
    """The round is not the task's current round."""


class CommitClosed(DispatchError):
    """The round's commit window has ended."""


class AlreadyCommitted(DispatchError):
    """The signer already committed an update in this round."""


class NotCommitted(DispatchError):
    """The signer committed no update in this round."""


class DeliveryClosed(DispatchError):
    """The round's delivery window has ended."""


class AlreadyDelivered(DispatchError):
    """The signer already delivered its update in this round."""


class CommitmentMismatch(DispatchError):
    """The file and salt do not open the signer's commitment."""


class UpdateNotOwned(DispatchError):
    """An update must be the participant's own file."""


class UpdateTooLarge(DispatchError):
    """The update is larger than a model of the task's could be: the current global model with the largest
    header (``formats.MAX_HEADER_BYTES`` more), and never over ``formats.MAX_MODEL_BYTES``. An input past
    that bound is refused by the aggregation's runner, and a large one inflates its estimate past any
    provider's memory or the longest job: either failed the round for every participant."""


ROUND_KEY = Tuple(U64, U32)
"""``(task_id, round)``."""


class FederatedLearning(Pallet[FederatedLearningConfig]):
    NAME = "FederatedLearning"
    CRATE = "pallet_federated_learning"
    HOLD_REASONS = HoldReason
    EVENTS = (TaskCreated, ParticipantJoined, RoundStarted, UpdateCommitted, UpdateDelivered, ParticipantSlashed,
              RoundAggregating, RoundAggregated, ContributorRewarded, RoundFailed, TaskFinished, CommitWindowClosed,
              DeliveryWindowClosed)  # (appended: the older events keep their indices)
    ERRORS = (UnknownFile, FileNotActive, FileNotReadable, BadRounds, BadParticipants, BadPeriods, StakeTooLow,
              RewardTooLow, ParamsTooLong, BadRedundancy, InsufficientFunds, UnknownTask, NotListed, AlreadyJoined,
              TaskFull, NotMember, NotTraining, WrongRound, CommitClosed, AlreadyCommitted, NotCommitted,
              DeliveryClosed, AlreadyDelivered, CommitmentMismatch, UpdateNotOwned, InvalidParams, FileNotPublic,
              FileDeleting, UpdateTooLarge)
    CONSTANTS = (
        Constant("MinStake", U128, lambda c: c.min_stake, "The least stake a task may ask of participants."),
        Constant("MaxParticipants", U32, lambda c: c.max_participants, "Participants per task at most."),
        Constant("MaxRounds", U32, lambda c: c.max_rounds, "Rounds per task at most."),
        Constant("MaxPeriod", U32, lambda c: c.max_period, "Blocks a commit or delivery window lasts at most."),
        Constant("NoShowSlash", U32, lambda c: c.no_show_slash,
                 "Perbill of stake burned for a committed update not delivered."),
        Constant("MaxIdleRounds", U32, lambda c: c.max_idle_rounds,
                 "Rounds in a row that give no new global model after which a task ends."),
        Constant("AggregationDeadline", U32, lambda c: c.aggregation_deadline,
                 "Blocks a round's aggregation job has to be verified."),
    )

    next_task_id = StorageValue(U64, default=0, docs="The id the next task gets.")
    tasks = StorageMap(U64, Task, hasher=Hasher.Twox64Concat, docs="Every task, by id.")
    members = StorageDoubleMap(U64, ACCOUNT_ID, U128, hasher1=Hasher.Twox64Concat,
                               docs="Each task's participants, with the stake they hold for it.")
    updates = StorageDoubleMap(ROUND_KEY, ACCOUNT_ID, Update, hasher1=Hasher.Twox64Concat,
                               docs="Each round's committed (and delivered) updates, by participant.")
    rounds = StorageDoubleMap(U64, U32, RoundRecord, hasher1=Hasher.Twox64Concat, hasher2=Hasher.Twox64Concat,
                              docs="Each finished round of a task.")
    job_tasks = StorageMap(U64, ROUND_KEY, hasher=Hasher.Twox64Concat,
                           docs="The task and round each running aggregation job belongs to.")
    model_rounds = StorageMap(H256, ROUND_KEY, docs="The task and round that produced each global model.")
    round_ends = StorageMap(U32, Vec(U64), hasher=Hasher.Twox64Concat, default=(),
                            docs="Tasks to look at in each block: their commit or delivery window ended in the "
                                 "block before, where the round may end.")
    round_ends_cursor = StorageValue(U32, docs="The oldest block of `RoundEnds` that may still hold tasks.")

    # --- calls ----------------------------------------------------------------------------------

    @call(0, weight=lambda w, base_model, rounds, participants, *rest: w.create_task(len(participants)))
    def create_task(self, origin: Origin, base_model: FileId, rounds: RoundNumber, participants: Accounts,
                    stake: Balance, commit_period: BlockNumber, deliver_period: BlockNumber, reward_pool: Balance,
                    validation: OptionalFile, price_cap: Balance, redundancy: Annotated[int, U8, "u8"],
                    aggregation_params: Bytes) -> None:
        """Open a task training ``base_model`` for ``rounds`` rounds among ``participants`` (empty: anyone),
        each holding ``stake``; hold ``reward_pool`` plus every round's aggregation escrow."""
        creator = ensure_signed(origin)
        cfg = self.config
        for file_id in _task_files(base_model, validation):
            if not self._check_file(file_id, creator).public:
                raise FileNotPublic()
        if not 0 < rounds <= cfg.max_rounds:
            raise BadRounds()
        if len(participants) > cfg.max_participants or len(set(participants)) != len(participants):
            raise BadParticipants()
        if not (0 < commit_period <= cfg.max_period and 0 < deliver_period <= cfg.max_period):
            raise BadPeriods()
        if stake < cfg.min_stake:
            raise StakeTooLow()
        if reward_pool < rounds:
            raise RewardTooLow()
        if len(aggregation_params) > cfg.market.max_params_length():
            raise ParamsTooLong()
        try:
            validate_params(KIND_IDS["fedavg"], aggregation_params)
            aggregation = fedavg.parse(aggregation_params)
        except KindRefusesParams:
            raise InvalidParams() from None
        if (aggregation.features > 0) != (validation is not None):  # it tells the estimate what the last input
            raise InvalidParams()  # is; fedavg checks it
        if aggregation.weights is not None or fedavg.fewest_updates(aggregation) > (len(participants)
                                                                            or cfg.max_participants):
            raise InvalidParams()
        if not 2 <= redundancy <= cfg.market.max_redundancy():
            raise BadRedundancy()  # above it, every round's job would be refused, and every round fail
        round_budget = cfg.market.escrow_for(price_cap, redundancy)
        funds = reward_pool + rounds * round_budget
        if not cfg.currency.can_withdraw(creator, funds):
            raise InsufficientFunds()
        task_id = self.next_task_id.get()
        n = self.block_number()
        cfg.currency.hold(HoldReason.TaskFunds, creator, funds)
        for file_id in _task_files(base_model, validation):
            cfg.storage.pin(file_id)
        self.next_task_id.put(task_id + 1)
        task = Task(creator, base_model, base_model, rounds, 0, tuple(participants), stake, commit_period,
                    deliver_period, 0, 0, reward_pool // rounds, validation, price_cap, round_budget, redundancy,
                    aggregation_params, TaskStatus.Training, None, funds, 0)
        self.deposit_event(TaskCreated(task_id, creator, base_model, rounds, funds))
        self._start_round(task_id, task, n)  # (which sets the round's deadlines)

    @call(1, weight=lambda w, task_id: w.join())
    def join(self, origin: Origin, task_id: TaskId) -> None:
        """Join the task (listed participants, or anyone for an open task), holding its stake until it ends."""
        who = ensure_signed(origin)
        cfg = self.config
        task = self._task(task_id)
        if task.status is TaskStatus.Finished:
            raise NotTraining()
        if task.participants and who not in task.participants:
            raise NotListed()
        if self.members.contains(task_id, who):
            raise AlreadyJoined()
        if task.members >= cfg.max_participants:
            raise TaskFull()
        if not cfg.currency.can_withdraw(who, task.stake):
            raise InsufficientFunds()
        cfg.currency.hold(HoldReason.ParticipantStake, who, task.stake)
        self.members.insert(task_id, who, task.stake)
        self.tasks.insert(task_id, task.with_(members=task.members + 1))
        self.deposit_event(ParticipantJoined(task_id, who, task.stake))

    @call(2, weight=lambda w, task_id, round, commitment: w.commit_update())
    def commit_update(self, origin: Origin, task_id: TaskId, round: RoundNumber, commitment: Hash) -> None:
        """Commit the update the signer will deliver in ``round``:
        ``update_commitment(task_id, round, signer, file_id, salt)``."""
        who = ensure_signed(origin)
        task = self._current(task_id, round)
        if not self.members.contains(task_id, who):
            raise NotMember()
        if self.block_number() > task.commit_deadline:
            raise CommitClosed()
        if self.updates.contains((task_id, round), who):
            raise AlreadyCommitted()
        self.updates.insert((task_id, round), who, Update(commitment, None))
        self.deposit_event(UpdateCommitted(task_id, round, who))
        task = task.with_(committed=task.committed + 1)
        n = self.block_number()
        if self._everyone_committed(task) and n < task.commit_deadline:
            task = task.with_(commit_deadline=n, deliver_deadline=n + task.deliver_period)
            self._round_ends_after(task_id, task.deliver_deadline)
            self.deposit_event(CommitWindowClosed(task_id, round, task.deliver_deadline))
        self.tasks.insert(task_id, task)

    @call(3, weight=lambda w, task_id, round, update, salt: w.deliver_update())
    def deliver_update(self, origin: Origin, task_id: TaskId, round: RoundNumber, update: FileId,
                       salt: Salt) -> None:
        """Deliver the committed update: the signer's own active, public file (the round's aggregation job
        runs on providers the chain picks later, so an update only some may read would fail the round for
        everyone, at the creator's cost)."""
        who = ensure_signed(origin)
        task = self._current(task_id, round)
        committed = self.updates.get((task_id, round), who)
        if committed is None:
            raise NotCommitted()
        if committed.file is not None:
            raise AlreadyDelivered()
        if self.block_number() > task.deliver_deadline:
            raise DeliveryClosed()
        if update_commitment(task_id, round, who, update, salt) != committed.commitment:
            raise CommitmentMismatch()
        facts = self._check_file(update, task.creator)
        if facts.owner != who:
            raise UpdateNotOwned()
        if not facts.public:
            raise FileNotPublic()
        if facts.size > self._largest_update(task):
            raise UpdateTooLarge()
        # EFFECTS
        self.config.storage.pin(update)
        self.updates.insert((task_id, round), who, Update(committed.commitment, update))
        self.deposit_event(UpdateDelivered(task_id, round, who, update))
        task = task.with_(delivered=task.delivered + 1)
        n = self.block_number()
        if n < task.deliver_deadline and self._nothing_to_wait_for(task, n):
            task = task.with_(deliver_deadline=n)
            self._round_ends_after(task_id, n)
            self.deposit_event(DeliveryWindowClosed(task_id, round))
        self.tasks.insert(task_id, task)

    # --- hooks ----------------------------------------------------------------------------------

    def on_initialize(self, n: int) -> Weight:
        """Settle the rounds whose aggregation ended, then end the rounds whose delivery window closed, or whose
        commit window did with nothing left to deliver."""
        finished = self.config.market.take_finished()
        for job_id in finished:
            key = self.job_tasks.take(job_id)
            if key is not None:
                self._settle(key[0], job_id, n)
        now = DueQueue(self.round_ends, self.round_ends_cursor).take(n, self.config.max_round_ends_per_block)
        ended = 0
        for task_id in now:
            task = self.tasks.get(task_id)
            # due (or carried over from a block that had more round ends than its bound), or a commit window that
            # ran out leaving nothing to deliver; else an entry a window closing early left behind
            if task is not None and task.status is TaskStatus.Training and (task.deliver_deadline < n
                                                                           or self._nothing_to_wait_for(task, n)):
                self._end_round(task_id, task, n)
                ended += 1
        return self.config.weights.on_initialize(len(finished), ended, len(now) - ended)

    # --- rounds ---------------------------------------------------------------------------------

    def _start_round(self, task_id: int, task: Task, n: int) -> None:
        task = task.with_(commit_deadline=n + task.commit_period,
                          deliver_deadline=n + task.commit_period + task.deliver_period, committed=0, delivered=0,
                          status=TaskStatus.Training, job=None)
        self.tasks.insert(task_id, task)
        self._round_ends_after(task_id, task.commit_deadline)  # if nothing is left to deliver by then
        self._round_ends_after(task_id, task.deliver_deadline)
        self.deposit_event(RoundStarted(task_id, task.round, task.global_model, task.commit_deadline,
                                        task.deliver_deadline))

    def _round_ends_after(self, task_id: int, deadline: int) -> None:
        """Queue a look at the round for the block after ``deadline``: its commit window's, where it ends if nothing
        is left to deliver, and its delivery window's, queued again earlier when a window closes early. An entry
        that finds nothing to end (the round went on or ended; at most four a round) is charged as a read."""
        DueQueue(self.round_ends, self.round_ends_cursor).push(deadline + 1, task_id)

    def _nothing_to_wait_for(self, task: Task, n: int) -> bool:
        """Whether, from block ``n`` on, no member can commit and no committed update is left to deliver."""
        return task.delivered == task.committed and (n > task.commit_deadline or self._everyone_committed(task))

    def _everyone_committed(self, task: Task) -> bool:
        """Whether every member the task may ever have committed in the current round: no one else can join and
        commit (an open task is full), so the updates may be seen."""
        most = len(task.participants) or self.config.max_participants
        return task.members == most and task.committed == most

    def _delivered(self, task_id: int, round: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """(contributors, their update files, participants that committed and did not deliver)."""
        contributors, files, missing = [], [], []
        for who, update in self.updates.iter_prefix((task_id, round)):
            if update.file is None:
                missing.append(who)
            else:
                contributors.append(who)
                files.append(update.file)
        return contributors, files, missing

    def _end_round(self, task_id: int, task: Task, n: int) -> None:
        """Slash the participants that did not deliver, and submit the round's aggregation job, which takes
        over the pins of the delivered updates (the task keeps its own on the model and validation set)."""
        cfg = self.config
        contributors, files, missing = self._delivered(task_id, task.round)
        for who in missing:
            stake = self.members.get(task_id, who)
            amount = stake * cfg.no_show_slash // PERBILL
            burned = amount - cfg.currency.slash_held(HoldReason.ParticipantStake, who, amount)
            self.members.insert(task_id, who, stake - burned)
            self.deposit_event(ParticipantSlashed(task_id, task.round, who, burned))
        try:
            enough = len(files) >= fedavg.fewest_updates(fedavg.parse(task.aggregation_params))
        except KindRefusesParams:  # (a parser an upgrade made stricter: the submission is refused them too)
            enough = bool(files)
        job_id = self._submit_aggregation(task, files, n) if enough else None
        for file_id in files:  # the aggregation job, if any, pinned them in turn
            cfg.storage.unpin(file_id)
        if job_id is not None:
            self.job_tasks.insert(job_id, (task_id, task.round))
            self.tasks.insert(task_id, task.with_(status=TaskStatus.Aggregating, job=job_id,
                                                  funds=task.funds - task.round_budget))
            self.deposit_event(RoundAggregating(task_id, task.round, job_id))
            return
        self.deposit_event(RoundFailed(task_id, task.round))
        self._next_round(task_id, task, n, idle=True)

    def _submit_aggregation(self, task: Task, files: list[bytes], n: int) -> int | None:
        """Release the round's aggregation escrow and submit the ``fedavg`` job with it; if ComputeJobs
        refuses the job (no eligible provider, say, or params a runtime upgrade's stricter fedavg refuses: in a
        hook, that error would stop blocks being built), nothing of the attempt is left and ``None`` returned."""
        cfg = self.config
        inputs = (task.global_model, *files) + (() if task.validation is None else (task.validation,))
        overlay = self.env.current_overlay()
        overlay.start_transaction()
        try:
            # the configured memory and deadline, or what the kind estimates these inputs take when that is more
            needs = cfg.market.needs(KIND_IDS["fedavg"], task.aggregation_params, inputs)
            resources = Resources(cfg.aggregation_cpu_cores, max(cfg.aggregation_memory_mib, needs.memory_mib), 0)
            cfg.currency.release(HoldReason.TaskFunds, task.creator, task.round_budget)
            job_id = cfg.market.submit_job(task.creator, KIND_IDS["fedavg"], inputs, task.aggregation_params,
                                           resources, task.price_cap, n + max(cfg.aggregation_deadline, needs.duration),
                                           task.redundancy, parent=task.global_model, watched=True,
                                           held=frozenset(inputs)).job_id
        except (DispatchError, KindRefusesParams):
            overlay.rollback_transaction()
            return None
        overlay.commit_transaction()
        return job_id

    def _settle(self, task_id: int, job_id: int, n: int) -> None:
        """Record the round its aggregation job ended; pay its contributors if the job was verified and one
        of the agreeing providers' models can be trained from (see :meth:`_next_model`)."""
        cfg = self.config
        task = self.tasks.get(task_id)
        job = cfg.market.job(job_id)
        contributors, files, _ = self._delivered(task_id, task.round)
        model = self._next_model(job, len(contributors))
        if model is None:
            self.rounds.insert(task_id, task.round, RoundRecord(task.global_model, tuple(contributors), tuple(files),
                                                                job_id, (), None, ()))
            self.deposit_event(RoundFailed(task_id, task.round))
            self._next_round(task_id, task, n, idle=True)
            return
        scores = next(slot.reveal.scores for slot in job.slots if slot.status is SlotStatus.Paid)
        if sum(scores) == 0:
            scores = (1,) * len(contributors)
        total = sum(scores)
        rewards = tuple(task.round_reward * score // total for score in scores)
        for who, score, reward in zip(contributors, scores, rewards):
            cfg.currency.transfer_on_hold(HoldReason.TaskFunds, task.creator, who, reward)
            self.deposit_event(ContributorRewarded(task_id, task.round, who, score, reward))
        self.rounds.insert(task_id, task.round, RoundRecord(task.global_model, tuple(contributors), tuple(files),
                                                            job_id, tuple(scores), model, rewards))
        self.model_rounds.insert(model, (task_id, task.round))
        self.deposit_event(RoundAggregated(task_id, task.round, job_id, model))
        cfg.storage.pin(model)
        cfg.storage.lock(model)  # the task paid for it, and it may be another copy than the job's locked outputs
        cfg.storage.unpin(task.global_model)
        self._next_round(task_id, task.with_(global_model=model, funds=task.funds - sum(rewards)), n, idle=False)

    def _next_model(self, job: Job, updates: int) -> bytes | None:
        """The next global model: the first agreeing provider's model file that every later round's providers
        can read, one that is active, public and not being deleted. Agreeing providers named files of the same
        bytes (the verdict compares what outputs hold), but one could name a copy never activated, or delete
        its copy (only the job's adopted outputs are locked at the verdict; the model this picks is locked when
        the round settles). ``None`` if no such file, if the job failed, or if the verified result is a refusal
        (updates fedavg could not average: its only output is its record, no model) or does not score each of
        the ``updates`` delivered once (not fedavg's result): the round fails, and its reward stays."""
        if job.status is not JobStatus.Verified or refusal_of(job.digest) is not None:
            return None
        if len(next(slot.reveal.scores for slot in job.slots if slot.status is SlotStatus.Paid)) != updates:
            return None
        for slot in job.slots:
            if slot.status is SlotStatus.Paid and slot.reveal is not None and slot.reveal.outputs:
                model = slot.reveal.outputs[0]
                facts = self.config.storage.file_facts(model)
                if facts is not None and facts.active and facts.public and not facts.deleting:
                    return model
        return None

    def _next_round(self, task_id: int, task: Task, n: int, *, idle: bool) -> None:
        """Start the next round, or end the task after its last one or its ``max_idle_rounds``-th ``idle`` one in
        a row (a round that gave no new global model)."""
        task = task.with_(idle_rounds=task.idle_rounds + 1 if idle else 0)
        if task.idle_rounds >= self.config.max_idle_rounds:
            self._finish(task_id, task)
        elif task.round + 1 < task.rounds:
            self._start_round(task_id, task.with_(round=task.round + 1), n)
        else:
            self._finish(task_id, task)

    def _finish(self, task_id: int, task: Task) -> None:
        """End the task: what is left of the creator's funds and every member's stake released, its files
        unpinned."""
        cfg = self.config
        refunded = cfg.currency.release(HoldReason.TaskFunds, task.creator, task.funds)
        for who, stake in list(self.members.iter_prefix(task_id)):
            cfg.currency.release(HoldReason.ParticipantStake, who, stake, best_effort=True)
        self.members.clear_prefix(task_id)
        for file_id in _task_files(task.global_model, task.validation):
            cfg.storage.unpin(file_id)
        self.tasks.insert(task_id, task.with_(status=TaskStatus.Finished, job=None, funds=0))
        self.deposit_event(TaskFinished(task_id, task.global_model, refunded))

    # --- helpers --------------------------------------------------------------------------------

    def _task(self, task_id: int) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise UnknownTask()
        return task

    def _current(self, task_id: int, round: int) -> Task:
        task = self._task(task_id)
        if task.status is not TaskStatus.Training:
            raise NotTraining()
        if round != task.round:
            raise WrongRound()
        return task

    def _largest_update(self, task: Task) -> int:
        """The bytes an update of ``task`` may have (see :class:`UpdateTooLarge`): an honest one holds the global
        model's tensors, only its header differs. (The global model is pinned: its facts are there.)"""
        model = self.config.storage.file_facts(task.global_model)
        return min(MAX_MODEL_BYTES, (0 if model is None else model.size) + MAX_HEADER_BYTES)

    def _check_file(self, file_id: bytes, reader: bytes) -> FileFacts:
        storage = self.config.storage
        facts = storage.file_facts(file_id)
        if facts is None:
            raise UnknownFile()
        if not facts.active:
            raise FileNotActive()
        if facts.deleting:
            raise FileDeleting()
        if not storage.may_read(file_id, reader):
            raise FileNotReadable()
        return facts

    def integrity_test(self) -> None:
        cfg = self.config
        assert cfg.min_stake > 0 and 0 < cfg.no_show_slash <= PERBILL
        assert cfg.max_participants > 0 and cfg.max_rounds > 0 and cfg.max_period > 0
        assert cfg.aggregation_deadline > 0 and cfg.max_round_ends_per_block > 0 and cfg.max_idle_rounds > 0


def _task_files(global_model: bytes, validation: bytes | None) -> tuple[bytes, ...]:
    """The files a task pins while it runs."""
    return (global_model,) if validation is None else (global_model, validation)


def _federated_config(config_type: type, params: FederatedLearningParams, weights: None,
                      wired: dict) -> FederatedLearningConfig:
    # a round's aggregation job takes the global model, every update and a validation set
    submit = wired["market"].submit_weight(params.max_participants + 2)
    weights = FederatedLearningWeights(params.max_participants, submit, wired["market"].max_redundancy())
    return FederatedLearningConfig(weights=weights,
                                   **wired, **dataclasses.asdict(params))


DEFINITION = PalletDefinition(pallet=FederatedLearning, config=FederatedLearningConfig, weights=None,
                              params=FederatedLearningParams, build_config=_federated_config, rpc=FEDERATED_RPC)
