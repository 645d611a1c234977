"""``client.fl``: federated learning, where participants train on data that never leaves their machine.

A creator opens a task over a base model (``create_task``); participants ``join`` it (holding its stake) and
``participate``: each round, as the chain starts it, the participant downloads the round's global model,
trains it further on its local dataset with the ``train`` kind's own code, in this process (a worker
thread), commits ``update_commitment(task, round, itself, update, salt)`` within the commit window to the id
the update will have as a *public* file (``client.storage.planned_id``: nothing of it leaves this machine
yet), and once the commit window has closed uploads it and delivers the update and salt. No update can be
read, or is named on chain, while others may still commit: a member that trained nothing cannot commit to
a copy of another's. The chain then has the round's ``fedavg`` job run
and verified by providers, rewards contributors by their scores, and starts the next round from the new
global model. ``status`` reads the task and each round's record::

    async with AsyncClient(url, signer="//Dave") as client:
        await client.fl.participate(task_id, "local.npz")            # joins if needed, every round to the end

The salt lives in memory only: a participant that stops between its commitment and its delivery is slashed
for that round, as the chain intends (it cannot tell a crash from withholding).
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import numpy as np
import numpy.typing as npt

from compute_pallet.commitment import SALT_LENGTH, update_commitment
from compute_pallet.formats import (MAX_HEADER_BYTES, MAX_MODEL_BYTES, Dataset, FormatError, Model, load_dataset,
                                    load_model, save_dataset)
from compute_pallet.kinds import InvalidInputs, fedavg, train
from compute_pallet.pallets.types import PERBILL, Task, TaskStatus as ChainTaskStatus
from runtime.keyring import Keypair
from sdk.chain import AsyncClient, ChainClientError
from sdk.chain.keys import AccountLike, account_argument
from sdk.compute.errors import (BadDeadline, BadInputs, BadRedundancy, ComputeError, InputNotPublic,
                               InsufficientFunds, InvalidParams, Refused, UnknownTask)
from sdk.compute.jobs import ParamsLike, build_params, estimate
from sdk.compute.market import Market
from sdk.compute.records import Participation, RoundStatus, TaskId, TaskStatus
from sdk.storage.api import StorageApi
from sdk.storage.records import FileId, parse_file_id
from sdk.storage.transfer import first_error
from storage_node.manifest import SALT_LENGTH as MANIFEST_SALT_LENGTH

__all__ = ["FlApi", "RoundProgress", "LocalData"]

ROUND_OVER = frozenset({"CommitClosed", "NotTraining", "WrongRound"})
"""The refusals of a commitment that say its round's window closed: past its deadline, the round aggregating or
the task finished, a later round begun."""
DELIVERY_OVER = frozenset({"DeliveryClosed", "NotTraining", "WrongRound"})
"""The refusals of a delivery that say its window closed: past its deadline (the round's end carried over), or,
as the round ends at the start of the block after the window, the round aggregating, the task finished or a
later round begun."""


LocalData = str | Path | bytes | tuple[npt.ArrayLike, npt.ArrayLike]
"""A participant's dataset: a path to (or the bytes of) a labelled ``.npz``, or the arrays ``(X, y)``."""


@dataclass(frozen=True)
class RoundProgress:
    """Where ``participate`` is in a round: ``training``, ``committed``, ``uploading``, ``delivered``;
    ``missed`` (the commit window closed before the update was ready: nothing of it was stored), or ``late``
    (committed, but the upload outlasted the delivery window: the chain slashes the member as a no-show, the
    update is deleted again, and the next round is taken part in as any)."""

    task_id: TaskId
    round: int
    stage: str


class FlApi:
    """Federated-learning tasks through ``chain``, signed by ``signer``; models and updates move through
    ``storage``."""

    def __init__(self, chain: AsyncClient, signer: Keypair | None, storage: StorageApi) -> None:
        self.market = Market(chain, signer)
        self.storage = storage

    async def create_task(self, base_model: FileId | str, *, rounds: int, participants: Sequence[AccountLike] | None = None,
                          stake: int, commit_period: int, deliver_period: int, reward_pool: int,
                          validation: FileId | str | None = None, price_cap: int, redundancy: int = 2,
                          aggregation: ParamsLike = None) -> TaskId:
        """Open a task training ``base_model`` for ``rounds`` rounds among ``participants`` (``None``: anyone),
        each holding ``stake``, with commit and delivery windows of so many blocks, ``reward_pool`` shared by
        contribution, an optional ``validation`` dataset scoring updates, and each round's ``fedavg`` job paying
        each of its ``redundancy`` providers at most ``price_cap`` (``aggregation``: its params). Participants and
        providers read the base model and the validation set, so both must be public (:class:`InputNotPublic`,
        before anything is signed); both are downloaded, and :class:`BadInputs` if the base model is no model or
        the validation set no dataset of its width and classes. With a validation set the aggregation params
        declare its width (``features``, which tells the chain what the aggregation's last input is): when they
        do not, it is read from the base model; without one, declaring it is :class:`InvalidParams`. A task whose
        largest round (as many updates as it may have participants) the chain could not aggregate within its
        longest job is :class:`BadDeadline`. Holds the pool and every round's aggregation escrow; returns the
        task's id."""
        market = self.market
        creator = market.signer.public
        params = build_params("fedavg", aggregation)
        files = [parse_file_id(base_model)] + ([] if validation is None else [parse_file_id(validation)])
        if private := await market.not_public(files):
            raise InputNotPublic(f"file 0x{private[0].hex()} is private or under embargo: the task's participants "
                                 "and its rounds' providers must all read its base model and validation set; store "
                                 "them public")
        sizes = await market.readable_sizes(files, creator)
        aggregation_params = fedavg.parse(params)  # the kind's own reading, as the chain's check makes
        declared = aggregation_params.features
        if declared and validation is None:
            raise InvalidParams("features declares a validation set's width; the task has no validation set")
        updates = len(participants) if participants else market.constant("FederatedLearning", "MaxParticipants")
        if aggregation_params.weights is not None:
            raise InvalidParams("weights: each round has its own updates, in its own order; a task takes none")
        if (fewest := fedavg.fewest_updates(aggregation_params)) > updates:
            raise InvalidParams(f"trimmed_mean with trim {aggregation_params.trim} needs {fewest} updates a round; "
                                f"the task can have {updates}")
        if redundancy < 2:
            raise BadRedundancy(f"redundancy {redundancy}: a round's aggregation needs 2 providers at least, so "
                                "that no one provider's reveal sets the rewards")
        base = None  # downloaded here only if the params need its width: the checks below cost no transfer
        if validation is not None and not declared:
            base = await self.storage.read(files[0])
            params = build_params("fedavg", {**json.loads(params),
                                             "features": _model(base, _base(files)).layer_sizes[0]})
        if len(params) > market.constant("ComputeJobs", "MaxParamsLength"):
            raise InvalidParams(f"aggregation params are {len(params)} bytes, more than the chain takes")
        largest_update = min(MAX_MODEL_BYTES, sizes[0] + MAX_HEADER_BYTES)  # what the chain lets a member deliver
        run = estimate("fedavg", params, [sizes[0], *[largest_update] * updates, *sizes[1:]])  # the largest round
        shortest, _, longest = market.job_deadlines(run)
        if shortest > longest:  # the chain would refuse that round's aggregation job (RoundFailed)
            raise BadDeadline(f"a round of {updates} updates is estimated at {run.seconds} s of aggregation, more "
                              f"than the longest job the chain takes ({longest} blocks)")
        funds = reward_pool + rounds * market.escrow_for(price_cap, redundancy)
        if await market.free_balance(creator) < funds:
            raise InsufficientFunds(f"the task holds {funds} (the reward pool and {rounds} rounds of aggregation "
                                    f"escrow), more than the signer's free balance")
        inputs = [base if base is not None else await self.storage.read(files[0]),
                  *[await self.storage.read(file) for file in files[1:]]]
        await anyio.to_thread.run_sync(_check_round, files, inputs, params)
        receipt = await market.submit("FederatedLearning", "create_task", {
            "base_model": files[0], "rounds": rounds,
            "participants": tuple(account_argument(p) for p in participants or ()), "stake": stake,
            "commit_period": commit_period, "deliver_period": deliver_period, "reward_pool": reward_pool,
            "validation": files[1] if validation is not None else None, "price_cap": price_cap,
            "redundancy": redundancy, "aggregation_params": params})
        return next(e.event.task_id for e in receipt.triggered_events if e.name == "TaskCreated")

    async def join(self, task: TaskId) -> None:
        """Join the task, holding its stake until it ends."""
        await self.market.submit("FederatedLearning", "join", {"task_id": task})

    async def participate(self, task: TaskId, data: LocalData, *, rounds: int | None = None,
                          train_params: ParamsLike = None,
                          progress: Callable[[RoundProgress], None] | None = None) -> list[Participation]:
        """Take part in the task's rounds from the current one until it finishes (or ``rounds`` of them):
        train each round's global model on ``data`` locally (``train_params``: the ``train`` kind's params),
        commit to the update, then upload and deliver it once the commit window closed. Joins the task first if the
        signer has not, once ``data`` passed the ``train`` kind's checks against the task's model (its refusal, e.g.
        ``InvalidInputs`` for samples of another width, is raised before any stake is held; :class:`BadInputs` if the
        task's model is no model). Returns one record per round contributed to."""
        market = self.market
        me = market.signer.public
        dataset = _dataset_bytes(data)
        params = build_params("train", train_params)
        current = await self._task(task)
        if await market.member_stake(task, me) is None:
            if current.status is not ChainTaskStatus.Finished and (not current.participants
                                                                  or me in current.participants):
                # data the task's model cannot take would fail every round once the stake is held, and a task
                # aggregating a round takes joins too (a join the chain refuses, NotTraining for a finished task
                # or NotListed, needs no data checked first)
                model = await self.storage.read(current.global_model)
                # a model that does not load is the task's fault, not the data's
                await anyio.to_thread.run_sync(_model, model, f"task {task}'s model 0x{current.global_model.hex()}")
                await anyio.to_thread.run_sync(train.check, {"dataset": dataset, "model": model}, params)
            await self.join(task)
        done: list[Participation] = []
        handled: set[int] = set()
        report = progress or (lambda _: None)
        block = await market.block_number()
        while rounds is None or len(done) < rounds:
            current = await self._task(task)
            if current.status is ChainTaskStatus.Finished:
                break
            if (current.status is ChainTaskStatus.Training and current.round not in handled
                    and block <= current.commit_deadline):
                handled.add(current.round)
                if await market.update(task, current.round, me) is None:
                    contribution = await self._contribute(task, current, dataset, params, report)
                    if contribution is not None:
                        done.append(contribution)
            block = await self._block_after(block)
        return done

    async def _block_after(self, number: int) -> int:
        """Wait for a best block past ``number``; its number."""
        async with self.market.chain.subscribe_new_heads() as heads:
            async for header in heads:
                if header.number > number:
                    return header.number
        raise AssertionError("a head subscription does not end")

    async def _contribute(self, task_id: TaskId, task: Task, dataset: bytes, params: bytes,
                          report: Callable[[RoundProgress], None]) -> Participation | None:
        """One round: train, commit to the update's file id (planned: nothing of it leaves this machine yet),
        wait out the commit window, upload, deliver; ``None`` if the window closed before the commitment got
        in (nothing was uploaded). Uploaded during the commit window, as it once was, a public update could be
        copied by a member who trained nothing, committed as its own and scored as high as its source."""
        market, me, round = self.market, self.market.signer.public, task.round
        model = await self.storage.read(task.global_model)
        report(RoundProgress(task_id, round, "training"))
        trained = await anyio.to_thread.run_sync(
            train.run, {"dataset": dataset, "model": model}, params, secrets.token_bytes(32))
        update_bytes = trained.outputs["model.safetensors"]
        manifest_salt = secrets.token_bytes(MANIFEST_SALT_LENGTH)
        update = await self.storage.planned_id(update_bytes, salt=manifest_salt)
        salt = secrets.token_bytes(SALT_LENGTH)
        if await market.block_number() >= task.commit_deadline:  # a commitment sent now lands past the window
            report(RoundProgress(task_id, round, "missed"))
            return None
        try:
            await market.submit("FederatedLearning", "commit_update", {
                "task_id": task_id, "round": round, "commitment": update_commitment(task_id, round, me, update, salt)})
        except Refused as exc:
            if exc.failure is None or exc.failure.name not in ROUND_OVER:
                raise
            report(RoundProgress(task_id, round, "missed"))
            return None
        report(RoundProgress(task_id, round, "committed"))
        deliver_deadline = await self._commit_window_end(task_id, task)  # no one can commit: the update may be seen
        report(RoundProgress(task_id, round, "uploading"))
        uploaded = await self._upload_in_time(update_bytes, manifest_salt, deliver_deadline)
        if uploaded is not None and uploaded != update:  # the chain's storing presets changed since
            raise ComputeError(f"task {task_id} round {round}: the update was stored as 0x{uploaded.hex()}, not "
                               f"as 0x{update.hex()} committed to (the chain's storing presets changed)")
        delivered = False
        if uploaded is not None:
            try:
                await market.submit("FederatedLearning", "deliver_update",
                                    {"task_id": task_id, "round": round, "update": update, "salt": salt})
                delivered = True
            except Refused as exc:
                if exc.failure is None or exc.failure.name not in DELIVERY_OVER:
                    raise
        if not delivered:
            report(RoundProgress(task_id, round, "late"))
            with contextlib.suppress(ChainClientError):  # (declared or not: else it expires with its paid time)
                await self.storage.delete(update)
            return None
        report(RoundProgress(task_id, round, "delivered"))
        return Participation(task_id, round, update, dict(trained.result))

    async def _commit_window_end(self, task_id: TaskId, task: Task) -> int:
        """Wait until no one can commit in ``task``'s round any more; the round's delivery deadline then.

        The task is read at each best block: its window has run out at a block at or past its commit deadline, as
        the round began with it; one that closed early (every member the task may have committed) must also have
        closed on the finalized chain, since on a fork without the closing block the window is open again until
        its old deadline, for the last committer to swap its commitment for a copy of an update already uploaded
        (but no later than that old deadline: a finality stalled since must not hold the upload past the window
        that would have closed by then on any fork). A window closing early only ever moves a deadline earlier:
        the earliest seen is the one. A round already over (this member lagged past its delivery window) gives the
        block reached: past its deadline."""
        async with self.market.chain.subscribe_new_heads() as heads:
            async for header in heads:
                current = await self.market.task(task_id, header.hash)
                if current is None or current.round < task.round:  # (a fork from before the round began)
                    continue
                if current.round > task.round or current.status is not ChainTaskStatus.Training:
                    return header.number
                if header.number < current.commit_deadline:
                    continue
                if header.number >= task.commit_deadline or await self._closed_when_final(task_id, task):
                    return min(task.deliver_deadline, current.deliver_deadline)
        raise AssertionError("a head subscription does not end")

    async def _closed_when_final(self, task_id: TaskId, task: Task) -> bool:
        """Whether, at the finalized head, ``task``'s round can take no commitment any more."""
        chain = self.market.chain
        final = await chain.get_block_header(await chain.get_chain_finalised_head())
        current = None if final is None else await self.market.task(task_id, final.hash)
        if current is None or current.round != task.round:  # (finality behind the round's start, or past its end)
            return current is not None and current.round > task.round
        return current.status is not ChainTaskStatus.Training or current.commit_deadline <= final.number

    async def _upload_in_time(self, data: bytes, manifest_salt: bytes, deliver_deadline: int) -> FileId | None:
        """Upload the update, public; None if the best chain reached ``deliver_deadline`` first (a delivery
        sent from then on lands past the window: a storage node down with a fragment of it holds the upload
        until the chain reassigns that fragment, FileBank's ``ConfirmDeadline`` blocks later)."""
        uploaded = None
        with first_error():  # the upload's own error (a StorageError), not a group of one
            async with anyio.create_task_group() as group:
                async def upload() -> None:
                    nonlocal uploaded
                    uploaded = await self.storage.upload(data, private=False, salt=manifest_salt)
                    group.cancel_scope.cancel()

                group.start_soon(upload)
                await self._block_after(deliver_deadline - 1)
                group.cancel_scope.cancel()
        return uploaded

    async def status(self, task: TaskId) -> TaskStatus:
        """The task and each of its rounds so far: updates committed and delivered, no-shows and their slashes,
        the aggregation job, scores, rewards and the global model each round produced."""
        market = self.market
        current = await self._task(task)
        slash = current.stake * market.constant("FederatedLearning", "NoShowSlash") // PERBILL
        history = []
        for round in range(current.round + 1):
            record = await market.round_record(task, round)
            updates = await market.updates(task, round)
            ended = round < current.round or current.status is ChainTaskStatus.Finished
            no_shows = tuple(who for who, update in updates if update.file is None) if ended else ()
            if record is not None:
                contributors, files = tuple(record.contributors), tuple(record.updates)
            else:
                delivered = [(who, update.file) for who, update in updates if update.file is not None]
                contributors, files = tuple(w for w, _ in delivered), tuple(f for _, f in delivered)
            job = record.job if record is not None else (current.job if round == current.round else None)
            history.append(RoundStatus(
                round, record.global_in if record is not None else current.global_model,
                tuple(who for who, _ in updates), contributors, files, no_shows, slash if no_shows else 0, job,
                () if record is None else tuple(record.scores), () if record is None else tuple(record.rewards),
                None if record is None else record.global_out, ended))
        return TaskStatus(task, current.creator, current.status.name, current.base_model, current.global_model,
                          current.rounds, current.round, tuple(current.participants), current.members, current.stake,
                          current.round_reward, current.funds, current.commit_deadline, current.deliver_deadline,
                          current.validation, tuple(history))

    async def _task(self, task: TaskId) -> Task:
        found = await self.market.task(task)
        if found is None:
            raise UnknownTask(f"no task {task}")
        return found


def _model(data: bytes, what: str) -> Model:
    """``data`` loaded as a model; :class:`BadInputs` naming ``what`` if it is no model."""
    try:
        return load_model(data)
    except FormatError as exc:
        raise BadInputs(f"{what} is no model: {exc}") from None


def _base(files: Sequence[FileId]) -> str:
    return f"the base model 0x{files[0].hex()}"


def _check_round(files: Sequence[FileId], inputs: Sequence[bytes], params: bytes) -> None:
    """Refuse a task whose every round the ``fedavg`` kind would refuse: a base model that is no model, a
    validation set that is no dataset or does not fit the model (checked as a round whose one update is the
    base model). A task of a dataset as its "model" was created, holding its pool, and every participant then
    refused the model."""
    _model(inputs[0], _base(files))
    round_inputs = {"base": inputs[0], "updates.0": inputs[0]} | ({"validation": inputs[1]} if len(inputs) > 1 else {})
    try:
        fedavg.check(round_inputs, params)
    except (FormatError, InvalidInputs) as exc:  # the base model loads: what is left is the validation set's fit
        what = f"the validation set 0x{files[1].hex()} does not serve" if len(files) > 1 else "the aggregation refuses"
        raise BadInputs(f"{what} the base model: {exc}") from None


def _dataset_bytes(data: LocalData) -> bytes:
    """The participant's dataset as checked ``.npz`` bytes: a malformed one raises
    ``compute_pallet.formats.FormatError`` (a ``ValueError``) before anything is signed."""
    if isinstance(data, tuple):
        X, y = data
        return save_dataset(Dataset(np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)))
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    return save_dataset(load_dataset(raw, compressed=True))  # stored: what the train kind reads
