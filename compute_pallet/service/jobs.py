"""One assignment, from ``JobAssigned`` to settlement: fetch, run, commit, upload, reveal.

:meth:`JobWorker.work` takes a job id and does what the chain and the journal
(:mod:`compute_pallet.service.journal`) say is left, so the same code serves a fresh assignment and a
restart mid-job:

1. **Reconcile.** The job settled, or this provider holds no live slot in it: forget it. A slot still
   waiting for a commitment: run the job (again, unless the journal already has its result). A committed
   slot: reveal with the journaled salt (without a record nothing can be revealed: the slot is handed back).
2. **Run.** Download every input through ``client.storage.download`` (a private input may not be granted
   yet: refusals are retried until the commit deadline; the submitter's grant records this provider's read,
   so the download needs no transaction; a public input already downloaded for an earlier job comes from
   the client's :class:`~sdk.storage.cache.PublicFileCache`, with no chain read: its id names its bytes;
   an input larger than the kind takes at its position, by its size on chain, is not fetched: a sparse stand-in of
   that size gets the runner's refusal, the same as the input would), run the kind in a subprocess under the job's
   limits (:mod:`compute_pallet.service.execution`). A run killed by a limit is given up (the slot becomes a no-show);
   a kind that refuses its inputs is a result like any other and is committed.
3. **Commit** ``commitment(job_id, provider, digest, salt)`` as soon as the digest is known, the journal
   written first. The outputs are uploaded meanwhile, all at once, private if any input is private (then
   granted to the submitter, its read recorded, in the declaration's block), else public under embargo (the
   nodes serve them to this provider only until the job ends, so nobody can copy them into it); the reveal
   names them in the runner's order, ``result.json`` last.
4. **Reveal** once the reveal phase is final (the event comes from the best chain, the check is made at
   the finalized head: a reveal made public on a fork that is then dropped could be copied by a provider
   that had not committed yet on the other side) and the uploads are active.
5. **Settle.** Once the chain's verdict on the job is final, the outputs this provider uploaded that it did
   not adopt (a verified job keeps one agreeing provider's; a lost or failed one none; ``fedavg`` jobs are
   left alone, see :meth:`JobWorker._delete_unadopted`) are deleted on chain, and the journal and work folder
   are deleted. A provider restarted after its reveal does this step alone.

Faults, for tests and demos (``--fault``): ``wrong-result`` commits and reveals a digest with every bit
flipped (consistently, so it loses the verdict); ``no-show`` takes the assignment and never commits;
``copy`` commits to a random digest without running anything, then reveals another provider's revealed
digest and outputs, which the chain refuses (the commitment binds the digest and the provider).

A failed transaction, an unreachable chain or a storage error is logged and retried until the phase's
deadline; a transaction the chain refuses is checked against the chain (a commit or reveal sent again after
its inclusion went unreported is refused, yet done). Anything else (a bug, a full disk) fails that one job,
which is still settled and forgotten; nothing here ends the daemon.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import trio

from compute_pallet.commitment import commitment, job_seal, output_seal
from compute_pallet.kinds import KIND_NAMES, InvalidInputs, UnknownKind, input_limits
from compute_pallet.pallets.types import Job, JobStatus, SlotStatus
from compute_pallet.service.chain import ProviderChain, Refused, Timing
from compute_pallet.service.execution import Finished, Limits, execute
from compute_pallet.service.journal import JobRecord, Journal, JournalError, Phase, Progress
from compute_pallet.service.metrics import ProviderMetrics
from compute_pallet.service.runner import INPUTS, OUTPUTS, SPEC_FILE
from sdk.chain import BadArgument, ChainClientError
from sdk.client import AsyncClient
from sdk.storage.errors import AccessDenied, FileNotFound

__all__ = ["Fault", "JobWorker", "GaveUp"]

log = logging.getLogger(__name__)

T = TypeVar("T")

COMMIT_MARGIN_BLOCKS = 4
"""Blocks kept between the end of a run and the commit deadline, for the commit to be included."""
MIN_RUN_SECONDS = 5.0
RETRY_S = (1.0, 2.0, 4.0, 8.0)
"""Pauses between attempts of a step that failed (the last one repeats)."""


class Fault(enum.Enum):
    WRONG_RESULT = "wrong-result"
    NO_SHOW = "no-show"
    COPY = "copy"


FOR_GOOD = (BadArgument,)
"""Errors a step meets the same at every try: a file out of the storage network's bounds, say."""


class GaveUp(Exception):
    """A step of the job could not be done by its deadline; the job is left to the chain."""


class JobWorker:
    """Works on this provider's jobs (one :meth:`work` call per job)."""

    def __init__(self, client: AsyncClient, chain: ProviderChain, journal: Journal, metrics: ProviderMetrics,
                 timing: Timing, *, fault: Fault | None = None, parallel_runs: int = 1) -> None:
        self.client, self.chain, self.journal, self.metrics = client, chain, journal, metrics
        self.timing, self.fault = timing, fault
        self._runs = trio.CapacityLimiter(parallel_runs)

    async def work(self, job_id: int, changed: trio.Event) -> None:
        """Take job ``job_id`` as far as this provider can; ``changed`` is set by the chain follower when the
        job's phase moves (its reveal phase started, it was judged)."""
        job = await self._retry(job_id, "read", lambda: self.chain.job(job_id))
        slot = None if job is None else self.chain.my_slot(job)
        if job is None or slot is None:
            await self._forget(job_id, "gone, or not this provider's")
            return
        if self.chain.settled(job) or slot.status not in (SlotStatus.Assigned, SlotStatus.Committed):
            await self._settle(job_id, changed)  # revealed or judged before a restart: only the clean-up is left
            return
        try:
            record = await trio.to_thread.run_sync(self.journal.load, job_id)
        except JournalError as exc:
            log.warning("job %d: journal unreadable (%s): starting over", job_id, exc)
            record = None
        if slot.status is SlotStatus.Committed and (record is None or slot.commitment != self._commitment(record)):
            self.metrics.job("failed")
            log.error("job %d: committed, but no journal opens the commitment: handing it back", job_id)
        elif slot.status is SlotStatus.Assigned and self.fault is Fault.NO_SHOW:
            self.metrics.job("assigned")
            log.info("job %d: assigned; no-show fault: never committing", job_id)
        else:
            await self._attempt(job_id, job, record, committed=slot.status is SlotStatus.Committed, changed=changed)
        await self._settle(job_id, changed)

    async def _attempt(self, job_id: int, job: Job, record: JobRecord | None, *, committed: bool,
                       changed: trio.Event) -> None:
        """Run (unless the journal has the result), commit, upload, reveal; a step that cannot be done in time
        gives the job up to the chain."""
        self.metrics.active += 1
        try:
            if record is None:
                self.metrics.job("assigned")
                log.info("job %d: assigned (%s, %d input(s), commit by block %d)", job_id,
                         KIND_NAMES.get(job.kind, job.kind), len(job.inputs), job.phase_deadline)
                record = await (self._pretend(job_id) if self.fault is Fault.COPY else self._run(job, job_id))
            await self._complete(job, Progress(self.journal, record), committed=committed, changed=changed)
        except* GaveUp as gave_up:  # from the uploads or the commit too, which run in a nursery
            self.metrics.job("failed")
            log.warning("job %d: gave up: %s", job_id, "; ".join(str(exc) for exc in _leaves(gave_up)))
        except* Exception as failed:  # a bug or a full disk: this job is lost, the worker and its others are not
            self.metrics.job("failed")
            log.error("job %d: failed", job_id, exc_info=failed)
        finally:
            self.metrics.active -= 1

    async def _complete(self, job: Job, progress: Progress, *, committed: bool, changed: trio.Event) -> None:
        """Commit (unless the chain has the commitment already) while uploading, then reveal."""
        job_id = progress.record.job_id
        async with trio.open_nursery() as nursery:
            if self.fault is not Fault.COPY:
                nursery.start_soon(self._upload_all, job, progress)
            if not committed:
                await self._commit(job, progress)
            elif progress.record.phase is Phase.COMMITTING:
                await progress.update(phase=Phase.COMMITTED)
            revealing = await self._reveal_phase(job_id, changed)
            if revealing is None:
                nursery.cancel_scope.cancel()
        if revealing is None:
            log.info("job %d: judged, or the slot lost, before this provider revealed", job_id)
            return
        if self.fault is Fault.COPY:
            await self._copy_reveal(job_id, progress.record, revealing)
        elif progress.record.phase is not Phase.REVEALED:
            await self._reveal(job_id, progress.record, revealing)
            await progress.update(phase=Phase.REVEALED)
            self.metrics.job("revealed")
            log.info("job %d: revealed 0x%s", job_id, progress.record.digest.hex())

    # --- run and commit -------------------------------------------------------------------------------

    async def _run(self, job: Job, job_id: int) -> JobRecord:
        workdir = await trio.to_thread.run_sync(self.journal.workdir, job_id)
        kind = KIND_NAMES.get(job.kind, str(job.kind))
        await trio.to_thread.run_sync(_prepare, workdir, kind, job)
        bounds = _input_bounds(kind, len(job.inputs))
        cache = self.client.file_cache
        private, input_keys = False, []
        for index, file_id in enumerate(job.inputs):
            path = workdir / INPUTS / str(index)
            # a cached input (public: only those are kept) costs no transfer and, as before, no chain read: the
            # runner checks its size itself
            cached = cache is not None and file_id in cache
            size = None if cached else await self._retry(job_id, "read", lambda f=file_id: self.chain.file_size(f))
            secret = not cached and await self._retry(job_id, "read", lambda f=file_id: self.chain.is_private(f))
            private = private or secret
            if bounds is not None and size is not None and size > bounds[index]:
                # the runner refuses it by its size, unread (the same on every provider): a stand-in of that size
                # saves fetching up to gigabytes, which a submitter could make every provider do at no cost
                await trio.to_thread.run_sync(_stand_in, path, size)
            else:
                if secret:
                    input_keys.append(await self._retry(
                        job_id, f"read the key of 0x{file_id.hex()}",
                        lambda f=file_id: self.client.storage.ledger.data_key(f), until=job.phase_deadline))
                await self._download(job_id, file_id, path, job.phase_deadline)
        async with self._runs:  # the time left is counted once the job has a run slot, not before it waited
            head = await self._head()
            if head >= job.phase_deadline:
                raise GaveUp(f"the commit deadline (block {job.phase_deadline}) passed before the job could run")
            wall = max(MIN_RUN_SECONDS,
                       (job.phase_deadline - head - COMMIT_MARGIN_BLOCKS) * self.timing.block_seconds)
            limits = Limits.for_job(job.resources.memory_mib, job.resources.cpu_cores, wall,
                                    gpu=job.resources.gpu_memory_mib > 0)
            log.info("job %d: running %s (%d MiB, %d core(s), %.0f s at most)", job_id, kind,
                     job.resources.memory_mib, limits.threads, wall)
            outcome = await execute(workdir, limits)
        if not isinstance(outcome, Finished):
            raise GaveUp(f"the run was stopped ({outcome.reason}: {outcome.detail})")
        self.metrics.job("refused" if outcome.refused else "run")
        log.info("job %d: ran%s, digest 0x%s", job_id, f" (the kind refused: {outcome.refused})"
                 if outcome.refused else "", outcome.digest.hex())
        digest = bytes(b ^ 0xFF for b in outcome.digest) if self.fault is Fault.WRONG_RESULT else outcome.digest
        return JobRecord(job_id, Phase.RAN, os.urandom(32), digest, outcome.outputs, outcome.scores,
                         seal=job_seal(job_id, input_keys) if private else None)

    async def _pretend(self, job_id: int) -> JobRecord:
        """The copy fault's 'result': a random digest, committed without running anything."""
        log.info("job %d: copy fault: committing without running", job_id)
        return JobRecord(job_id, Phase.RAN, os.urandom(32), os.urandom(32), (), ())

    async def _download(self, job_id: int, file_id: bytes, path: Path, deadline: int) -> None:
        async def fetch() -> None:
            try:
                await self.client.storage.download(file_id, path)
            except FileNotFound:
                raise GaveUp(f"input 0x{file_id.hex()} is gone from the chain") from None

        await self._retry(job_id, f"download 0x{file_id.hex()}", fetch, until=deadline)

    async def _commit(self, job: Job, progress: Progress) -> None:
        """Journal the salt and digest, then commit them (a refusal is checked against the chain: a commit
        sent before a restart may already be there)."""
        job_id = progress.record.job_id
        record = await progress.update(phase=Phase.COMMITTING, durable=True)
        wanted = self._commitment(record)
        try:
            await self._retry(job_id, "commit", lambda: self.chain.commit(job_id, wanted), until=job.phase_deadline)
        except Refused as exc:
            current = await self._retry(job_id, "read", lambda: self.chain.job(job_id))
            mine = None if current is None else self.chain.my_slot(current)
            if mine is None or mine.status is not SlotStatus.Committed or mine.commitment != wanted:
                raise GaveUp(f"the commit was refused: {exc}") from None
        await progress.update(phase=Phase.COMMITTED)
        self.metrics.job("committed")
        log.info("job %d: committed", job_id)

    # --- upload, reveal, settle -----------------------------------------------------------------------

    async def _upload_all(self, job: Job, progress: Progress) -> None:
        """Upload the outputs not uploaded yet, all at once, journaling each file id as its upload completes:
        private if any input is private, then granted to the submitter with its read recorded, in the
        declaration's block (neither the reveal nor the submitter's download waits for another transaction);
        else public under embargo, which the job's end lifts: uploaded during the commit phase, they must not
        be readable by a co-assigned provider that has not committed yet. A private output is sealed under the
        key :func:`~compute_pallet.commitment.output_seal` derives from the journaled seal, so that agreeing
        providers' copies compare."""
        job_id, seal = progress.record.job_id, progress.record.seal
        private = seal is not None
        folder = self.journal.folder / str(job_id) / OUTPUTS

        async def upload(name: str) -> None:
            key = salt = None
            if seal is not None:
                key, salt = output_seal(seal, await trio.to_thread.run_sync(_content_hash, folder / name))
            file_id = await self._retry(job_id, f"upload {name}", lambda: self.client.storage.upload(
                folder / name, private=private, readers=[job.submitter], embargoed=not private, data_key=key,
                salt=salt), until=job.deadline)
            await progress.uploaded(name, file_id)

        async with trio.open_nursery() as nursery:
            for name in progress.record.outputs:
                if name not in progress.record.files:
                    nursery.start_soon(upload, name)
        self.metrics.job("uploaded")
        log.info("job %d: %d output(s) uploaded%s", job_id, len(progress.record.outputs),
                 " (private, granted to the submitter)" if private else "")

    async def _reveal_phase(self, job_id: int, changed: trio.Event) -> Job | None:
        """The job once its reveal phase is final with this provider's slot committed; None if the job was
        judged, or the slot lost, first."""
        while True:
            with trio.move_on_after(self.timing.block_seconds * 3):
                await changed.wait()
            final = await self._retry(job_id, "read", lambda: self.chain.job(job_id, finalized=True))
            if final is not None and final.status is JobStatus.Revealing and self._committed(final):
                return final
            best = await self._retry(job_id, "read", lambda: self.chain.job(job_id))
            if best is None or self.chain.settled(best) or not self._committed(best):
                return None
            if changed.is_set():
                await trio.sleep(self.timing.block_seconds / 2)  # moved on the best chain: finality follows

    async def _reveal(self, job_id: int, record: JobRecord, job: Job) -> None:
        """Reveal the journaled result (a refusal is checked against the chain: a reveal whose inclusion the
        connection lost before it was reported is there, and sending it again is refused)."""
        outputs = [record.files[name] for name in record.outputs]
        try:
            await self._retry(job_id, "reveal", lambda: self.chain.reveal(
                job_id, record.digest, record.salt, outputs, record.scores), until=job.phase_deadline)
        except Refused as exc:
            current = await self._retry(job_id, "read", lambda: self.chain.job(job_id))
            mine = None if current is None else self.chain.my_slot(current)
            if mine is None or mine.reveal is None or mine.reveal.digest != record.digest:
                raise GaveUp(f"the reveal was refused: {exc}") from None

    async def _copy_reveal(self, job_id: int, record: JobRecord, job: Job) -> None:
        """The copy fault: wait for another provider's reveal and reveal it as this provider's own."""
        while not (theirs := self.chain.others_reveals(job, self.chain.account)):
            await trio.sleep(self.timing.block_seconds)
            current = await self._retry(job_id, "read", lambda: self.chain.job(job_id))
            if current is None or current.status is not JobStatus.Revealing:
                raise GaveUp("copy fault: nobody revealed anything to copy")
            job = current
        reveal = theirs[0].reveal
        assert reveal is not None
        try:
            await self.chain.reveal(job_id, reveal.digest, record.salt, reveal.outputs, reveal.scores)
        except Refused as exc:
            raise GaveUp(f"copy fault: the chain refused the copied reveal ({exc.error})") from None
        log.error("job %d: copy fault: the chain took a copied reveal", job_id)

    async def _settle(self, job_id: int, changed: trio.Event) -> None:
        """Wait for the verdict, final, delete the uploads it did not adopt, then forget the job."""
        while not self.chain.settled(await self._retry(job_id, "read", lambda: self.chain.job(job_id))):
            with trio.move_on_after(self.timing.block_seconds * 3):
                await changed.wait()
            if changed.is_set():
                await trio.sleep(self.timing.block_seconds)
        # a deletion cannot be undone: judge by the verdict no fork can replace (on a dropped one another
        # reveal may have been adopted, or none, and this provider's copy be the job's on the final chain)
        while not self.chain.settled(job := await self._retry(job_id, "read",
                                                              lambda: self.chain.job(job_id, finalized=True))):
            await trio.sleep(self.timing.block_seconds)
        if job is not None and KIND_NAMES.get(job.kind) != "fedavg":
            await self._delete_unadopted(job_id, job)
        self.metrics.job("settled")
        await self._forget(job_id, "judged")

    async def _delete_unadopted(self, job_id: int, job: Job) -> None:
        """Delete this provider's uploaded outputs that the final verdict did not make the job's (another
        agreeing provider's copy was, the reveal lost, or none came): nothing names them, and each holds this
        provider's deposit and the storage nodes' space. Not for ``fedavg`` jobs: a federated round takes its
        next model from the first agreeing reveal whose file it can use, which need not be the job's outputs. A
        failure is logged: the files then expire with their paid time."""
        try:
            record = await trio.to_thread.run_sync(self.journal.load, job_id)
        except JournalError:
            return
        adopted = set(job.outputs) if job.status is JobStatus.Verified else set()
        unadopted = [] if record is None else [fid for fid in record.files.values() if fid not in adopted]
        if not unadopted:
            return
        try:
            await self.client.storage.delete_all(unadopted)
        except ChainClientError as exc:
            log.warning("job %d: could not delete %d unadopted output(s): %s", job_id, len(unadopted), exc)
            return
        log.info("job %d: deleted %d output(s) the verdict did not adopt", job_id, len(unadopted))

    async def _forget(self, job_id: int, why: str) -> None:
        if await trio.to_thread.run_sync(self.journal.drop, job_id):
            log.info("job %d: forgotten (%s)", job_id, why)

    # --- helpers --------------------------------------------------------------------------------------

    def _commitment(self, record: JobRecord) -> bytes:
        return commitment(record.job_id, self.chain.account, record.digest, record.salt)

    def _committed(self, job: Job) -> bool:
        slot = self.chain.my_slot(job)
        return slot is not None and slot.status is SlotStatus.Committed

    async def _head(self) -> int:
        header = await self._retry(None, "read", self.client.get_block_header)
        return 0 if header is None else header.number

    async def _retry(self, job_id: int | None, step: str, attempt: Callable[[], Awaitable[T]], *,
                     until: int | None = None) -> T:
        """``attempt()`` until it succeeds: a chain or storage error is logged and retried; past block ``until``
        it raises :class:`GaveUp`. A :class:`Refused` transaction is not retried (the chain said no), nor an
        error no retry changes (:data:`FOR_GOOD`: a file the network does not take), which gives up at once."""
        failures = 0
        while True:
            try:
                return await attempt()
            except FOR_GOOD as exc:
                raise GaveUp(f"{step}: {exc}") from None
            except ChainClientError as exc:
                self.metrics.retries[step.split(" ")[0]] += 1
                # a missing grant comes with the submitter's next block: look again soon, not ever later
                pause = RETRY_S[0 if isinstance(exc, AccessDenied) else min(failures, len(RETRY_S) - 1)]
                failures += 1
                log.warning("job %s: %s failed (%s: %s); again in %.0f s", job_id, step, type(exc).__name__, exc,
                            pause)
            if until is not None and await self._head() > until:
                raise GaveUp(f"{step}: still failing past block {until}")
            await trio.sleep(pause)


def _leaves(group: BaseExceptionGroup[GaveUp]) -> list[GaveUp]:
    return [leaf for exc in group.exceptions
            for leaf in (_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])]


def _input_bounds(kind: str, count: int) -> list[int] | None:
    """``kinds.input_limits`` of the job's inputs; None where the kind refuses them all the same (too many)."""
    try:
        return input_limits(kind, count)
    except (InvalidInputs, UnknownKind):
        return None


def _content_hash(path: Path) -> bytes:
    """The ``blake2_256`` of a file's bytes (an output's, for :func:`~compute_pallet.commitment.output_seal`)."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, lambda: hashlib.blake2b(digest_size=32)).digest()


def _stand_in(path: Path, size: int) -> None:
    """A sparse file of ``size`` bytes at ``path``: what the runner sees of an input it refuses by its size."""
    with open(path, "wb") as file:
        file.truncate(size)


def _prepare(workdir: Path, kind: str, job: Job) -> None:
    """The runner's ``spec.json`` and an empty ``inputs/`` folder (a rerun starts from clean inputs)."""
    inputs = workdir / INPUTS
    if inputs.exists():
        for stale in inputs.iterdir():
            stale.unlink()
    inputs.mkdir(exist_ok=True)
    spec = {"kind": kind, "params": bytes(job.params).hex(), "seed": bytes(job.seed).hex(),
            "gpu": job.resources.gpu_memory_mib > 0}
    (workdir / SPEC_FILE).write_text(json.dumps(spec))
