"""What must still hold after a fault soak (``cairn devnet chaos``), and the check of it against the devnet.

A soak kills, corrupts and withholds while a load generator (:mod:`devnet.load`) stores files, publishes blobs
and runs jobs, recording everything the network *acknowledged* (:class:`devnet.load.Acknowledged`) and every
finalized block it saw (:class:`devnet.load.FinalityLog`). Faults may make operations fail; they must never break a
promise the network made. At the end, :func:`check` reads the devnet and judges six invariants:

- **finality**: every finalized ``(number, hash)`` seen during the run is still the canonical block at that
  number on every validator (and no two validators ever finalized different blocks at one number);
- **files**: every acknowledged file downloads with the bytes that were uploaded (a SHA-256 compare);
- **blobs**: every blob the chain marked available reconstructs (``client.da.get``) to the published payload;
  one whose retention ended before the check must have been read back during the run (a violation if the
  load's reads of it failed; not judged, and said so, if the load never got to try);
- **jobs**: every job of the soak the chain verified (its providers paid) yields outputs that hash to the
  verified digest (``client.compute.result`` checks them against the verdict);
- **issuance**: ``TotalIssuance`` equals the sum of every account's free + reserved, to the unit;
- **escrow**: for every job on chain, what ``JobSubmitted`` escrowed (or, for a job older than the soak, what it
  held at the finalized block the soak started from, :func:`opening`) equals what ``ProviderPaid`` and
  ``InputsWithheld`` paid plus what ``JobVerified`` / ``JobFailed`` refunded since plus what the job still
  holds; only the soak's blocks are read, within a deadline. A provider's slashed stake is burned
  (the runtime has no treasury), never taken from or added to an escrow, so the compute pallet's property
  "paid + refunded + slashed-to-burn = escrowed + slashed stake" is this equation plus the issuance one.

All six are always reported. One that had nothing to judge although its role had load (no file acknowledged,
no job verified, ...) is *not judged*, and fails the run like a violation: a soak that acknowledged nothing
proved nothing. Whatever the check cannot read (a validator that stays down, an event of an unknown job)
becomes a violation or a note, never a crash.

The judgements (:func:`finality_kept` ... :func:`escrow_conserved`) are pure functions of recorded data and
what was read back, so each can be tested on constructed data; :func:`check` only gathers that data.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import trio

from devnet.launcher import wait_until
from devnet.load import (
    COMPUTE_SIGNER,
    STORAGE_SIGNER,
    AckedBlob,
    Acknowledged,
    FinalityLog,
    digest,
    finalized_head,
    past_retention,
)
from devnet.rpc import rpc_call
from devnet.state import DevnetError, DevnetState, ProcessRecord, ProcessState, process_state
from sdk.chain.errors import ChainClientError
from sdk.client import AsyncClient
from sdk.compute.errors import ComputeError
from sdk.da.errors import DaError, UnknownBlob

__all__ = ["Check", "JobLedger", "JobEvent", "Opening", "opening", "check", "finality_kept", "files_intact",
           "blobs_reconstruct", "jobs_verify", "issuance_balances", "job_ledgers", "escrow_conserved"]

READ_TIMEOUT_S = 120.0
"""How long the check gives one download, blob read or job result (generous: a loaded 2-core machine)."""
CATCH_UP_TIMEOUT_S = 180.0
"""How long every validator gets to finalize as far as the run saw before the finality check."""
LEDGER_TIMEOUT_S = 300.0
"""How long the escrow check may spend reading the events of the soak's blocks (two RPCs a block)."""


@dataclass(frozen=True)
class Check:
    """One invariant's verdict: how many things it judged, what broke it, and whether the soak should have given
    it something to judge."""

    name: str
    checked: int
    violations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    expected: bool = True
    """Whether its role had load: a check that then judged nothing proved nothing, and fails the run."""

    @property
    def held(self) -> bool:
        return not self.violations and (self.checked > 0 or not self.expected)

    @property
    def result(self) -> str:
        """``held``, ``VIOLATED (n)``, or why nothing was judged."""
        if self.violations:
            return f"VIOLATED ({len(self.violations)})"
        if self.checked:
            return "held"
        return "NOT JUDGED: nothing to judge" if self.expected else "not judged: its role had no load"


@dataclass(frozen=True)
class JobLedger:
    """One job's money, from its events and its record: all balances in base units."""

    escrowed: int
    paid: int = 0
    refunded: int = 0
    held: int = 0
    """What the job still holds from its submitter (``Job.escrow``: non-zero only while it runs)."""


@dataclass(frozen=True)
class JobEvent:
    """A compute pallet event that moves a job's money: ``amount`` is the escrow (``JobSubmitted``), the pay
    (``ProviderPaid``) or the refund (``JobVerified``, ``JobFailed``)."""

    block: int
    name: str
    job: int
    amount: int


MONEY_FIELDS = {"JobSubmitted": "escrow", "ProviderPaid": "amount", "InputsWithheld": "amount",
                "JobVerified": "refunded", "JobFailed": "refunded"}
"""The compute pallet's events that move a job's money, and the field that says how much."""


@dataclass(frozen=True)
class Opening:
    """The chain as the soak found it: the finalized block it started from and what each job held from its
    submitter there, so the escrow check reads only the blocks after it."""

    block: int
    held: Mapping[int, int]


# --- the judgements -------------------------------------------------------------------------------------


def finality_kept(log: FinalityLog, canonical: Mapping[str, Mapping[int, bytes | None]]) -> Check:
    """``canonical``: per validator, the block it has at each number of ``log`` now (None: none)."""
    violations = list(log.conflicts)
    for validator, blocks in canonical.items():
        for number, expected in sorted(log.blocks.items()):
            found = blocks.get(number)
            if found != expected:
                now = "no block" if found is None else f"0x{found.hex()}"
                violations.append(f"{validator}: #{number} was finalized as 0x{expected.hex()}, now {now}")
    return Check("no finalized block reverted", len(log.blocks) * len(canonical), tuple(violations),
                 (f"{len(log.blocks)} finalized blocks on {len(canonical)} validators",))


def files_intact(acked: Mapping[bytes, str], read: Mapping[bytes, str]) -> Check:
    """``read``: per file id, the SHA-256 of what downloaded now, or the error (``"error: ..."``)."""
    violations = []
    for file_id, expected in acked.items():
        found = read.get(file_id, "error: not read")
        if found != expected:
            what = found if found.startswith("error:") else "changed: its bytes hash differently"
            violations.append(f"file 0x{file_id.hex()}: {what}")
    notes = () if acked else ("no file was acknowledged",)
    return Check("no acknowledged file lost or changed", len(acked), tuple(violations), notes)


def blobs_reconstruct(acked: Sequence[AckedBlob], read: Mapping[int, str | None]) -> Check:
    """``read``: per index of ``acked``, the SHA-256 of what ``get`` rebuilt now, the error, or None where the
    chain pruned the blob (it does not know it, and the finalized head passed the block it is pruned at). A pruned blob passes if it was read back during the run, and
    is a violation if reads of it failed then; one the load never tried to read is not judged."""
    violations, pruned, untried = [], 0, 0
    for index, blob in enumerate(acked):
        found = read.get(index, "error: not read")
        name = ", ".join(str(ref) for ref in blob.refs)
        if found is None and blob.read_back:
            pruned += 1
        elif found is None and blob.attempts:
            seen = "; a read during the run found it past its retention" if blob.pruned else ""
            violations.append(f"blob {name}: marked available, never read back: {blob.attempts} read(s) during "
                              f"the run failed and it is pruned now{seen}")
        elif found is None:
            untried += 1
        elif found != blob.digest:
            violations.append(f"blob {name}: {found if found.startswith('error:') else 'rebuilt different bytes'}")
    notes = ((f"{pruned} past their retention, read back during the run",) if pruned else ()) + \
        ((f"{untried} pruned before the load tried to read them back: not judged",) if untried else ()) + \
        (() if acked else ("no blob was marked available",))
    return Check("every available blob reconstructs", len(acked) - untried, tuple(violations), notes)


def jobs_verify(results: Mapping[int, str | None], unfinished: int = 0) -> Check:
    """``results``: per verified job, None if its outputs hash to the verified digest, else why not."""
    violations = tuple(f"job {job}: {error}" for job, error in sorted(results.items()) if error is not None)
    notes = (f"{unfinished} of the soak's jobs not verified (failed or still running)",) if unfinished else \
        () if results else ("the chain took none of the soak's jobs",)
    return Check("every paid job's result verifies", len(results), violations, notes)


def issuance_balances(total_issuance: int, accounts: Iterable[tuple[int, int]]) -> Check:
    """``accounts``: every account's (free, reserved)."""
    balances = list(accounts)
    total = sum(free + reserved for free, reserved in balances)
    violations = () if total == total_issuance else (
        f"accounts hold {total}, TotalIssuance is {total_issuance} (off by {total - total_issuance})",)
    return Check("issuance = Σ free + reserved", len(balances), violations)


def job_ledgers(opening: Mapping[int, int], events: Iterable[JobEvent],
                held: Mapping[int, int]) -> tuple[dict[int, JobLedger], list[str]]:
    """Every job's ledger from what it held at the soak's start (``opening``), the money events of the blocks
    since, and what it holds now (``held``); and each event of a job that was neither on chain at the start
    nor submitted since (a stray: nothing to book it against)."""
    ledgers = {job: JobLedger(escrowed) for job, escrowed in opening.items()}
    strays = []
    for event in events:
        ledger = ledgers.get(event.job)
        if event.name == "JobSubmitted":
            ledgers[event.job] = JobLedger(event.amount)
        elif ledger is None:
            strays.append(f"#{event.block}: {event.name} of job {event.job} ({event.amount}), a job neither on "
                          "chain at the soak's start nor submitted since")
        elif event.name in ("ProviderPaid", "InputsWithheld"):  # both pay a provider out of the escrow
            ledgers[event.job] = replace(ledger, paid=ledger.paid + event.amount)
        else:
            ledgers[event.job] = replace(ledger, refunded=ledger.refunded + event.amount)
    for job, escrow in held.items():
        ledgers[job] = replace(ledgers.get(job, JobLedger(0)), held=escrow)
    return ledgers, strays


def escrow_conserved(jobs: Mapping[int, JobLedger], strays: Sequence[str] = (), cut_short: str = "") -> Check:
    """``strays``: events that could not be booked (:func:`job_ledgers`); ``cut_short``: why the events were
    not all read (then nothing is judged: a partial ledger would look unbalanced)."""
    name = "escrow = paid + refunded + held"
    if cut_short:
        return Check(name, 0, notes=(cut_short,))
    violations = tuple(strays) + tuple(
        f"job {job}: escrowed {ledger.escrowed} ≠ paid {ledger.paid} + refunded {ledger.refunded} + held {ledger.held}"
        for job, ledger in sorted(jobs.items()) if ledger.escrowed != ledger.paid + ledger.refunded + ledger.held)
    return Check(name, len(jobs), violations, () if jobs else ("no job on chain during the soak",))


# --- gathering what the judgements need -------------------------------------------------------------------


async def opening(url: str) -> Opening:
    """Record, through the validator at ``url``, where the soak starts: the finalized block and every job's
    escrow there."""
    async with AsyncClient(url) as client:
        at = await client.get_chain_finalised_head()
        header = await client.get_block_header(at)
        if header is None:
            raise DevnetError(f"the validator at {url} has no header for its own finalized head 0x{at.hex()}")
        return Opening(header.number, {job_id: job.escrow
                                       async for job_id, job in client.query_map("ComputeJobs", "Jobs", block_hash=at)})


async def check(url: str, state: DevnetState, log: FinalityLog, acked: Acknowledged, start: Opening,
                loads: Collection[str]) -> list[Check]:
    """Judge every invariant: each running validator of ``state`` is asked for its blocks; through the validator at
    ``url``, the load's storage account reads the files, blobs and chain, and its compute account the results.
    ``loads``: the load workers that ran (``storage``, ``da``, ``compute``); a check of a role with load that
    judged nothing fails. ``ChainClientError`` if the validator at ``url`` cannot be read."""
    up, down = running_validators(state)
    kept = finality_kept(log, await _canonical(up, log))
    checks = [replace(kept, notes=kept.notes + down)]
    async with AsyncClient(url, signer=STORAGE_SIGNER) as owner, AsyncClient(url, signer=COMPUTE_SIGNER) as submitter:
        checks.append(replace(files_intact(acked.files, {file_id: await _download(owner, file_id)
                                                         for file_id in acked.files}), expected="storage" in loads))
        checks.append(replace(blobs_reconstruct(acked.blobs, {index: await _blob(owner, blob)
                                                              for index, blob in enumerate(acked.blobs)}),
                              expected="da" in loads))
        states = {job: await _state(submitter, job) for job in acked.jobs}
        verified = [job for job, status in states.items() if status == "Verified"]
        checks.append(replace(jobs_verify({job: await _result(submitter, job) for job in verified},
                                          len(acked.jobs) - len(verified)), expected="compute" in loads))
        at = await owner.get_chain_finalised_head()
        checks.append(issuance_balances(
            await owner.query("Balances", "TotalIssuance", block_hash=at),
            [(info.data.free, info.data.reserved)
             async for _, info in owner.query_map("System", "Account", block_hash=at)]))
        checks.append(replace(await _escrow(owner, at, start), expected="compute" in loads))
    return checks


def running_validators(state: DevnetState) -> tuple[list[ProcessRecord], tuple[str, ...]]:
    """The validators of ``state`` running now, to be asked for their blocks, and a note for each of the others:
    one down (before the soak, or since by a heal that failed) has no blocks to show, and none reverted."""
    validators = [record for record in state.processes if record.role == "validator"]
    up = [record for record in validators if process_state(record) is ProcessState.RUNNING]
    return up, tuple(f"not judged: {record.name} is {process_state(record).value}"
                     for record in validators if record not in up)


async def _canonical(validators: Sequence[ProcessRecord], log: FinalityLog) -> dict[str, dict[int, bytes | None]]:
    """Per validator, its block at each number the log holds, once it finalized at least as far."""
    highest = max(log.blocks, default=0)

    def caught_up(record: ProcessRecord) -> bool:
        head = finalized_head(record.url("rpc"))
        return head is not None and head[0] >= highest

    def blocks(record: ProcessRecord) -> dict[int, bytes | None]:
        try:
            wait_until(lambda: caught_up(record), CATCH_UP_TIMEOUT_S, f"{record.name} finalized #{highest}")
        except TimeoutError:
            pass  # judged below: the blocks it lacks show as missing
        found = {}
        for number in log.blocks:
            try:
                answer = rpc_call(record.url("rpc"), "chain_getBlockHash", [number])
            except (OSError, RuntimeError):
                answer = None
            found[number] = bytes.fromhex(answer[2:]) if isinstance(answer, str) else None
        return found

    return {record.name: await trio.to_thread.run_sync(blocks, record) for record in validators}


async def _download(client: AsyncClient, file_id: bytes) -> str:
    out = io.BytesIO()
    try:
        with trio.fail_after(READ_TIMEOUT_S):
            await client.storage.download(file_id, out)
    except (ChainClientError, OSError, trio.TooSlowError) as exc:
        return f"error: {type(exc).__name__}: {exc}"
    return digest(out.getvalue())


async def _blob(client: AsyncClient, blob: AckedBlob) -> str | None:
    try:
        with trio.fail_after(READ_TIMEOUT_S):
            try:
                return digest(await client.da.get(blob.refs))
            except UnknownBlob as exc:
                if await past_retention(client, blob):
                    return None
                return f"error: UnknownBlob before #{blob.expires}, where its retention ends: {exc}"
    except (DaError, ChainClientError, OSError, trio.TooSlowError) as exc:
        return f"error: {type(exc).__name__}: {exc}"


async def _state(client: AsyncClient, job: int) -> str:
    """The job's state on chain, or why it could not be read."""
    try:
        with trio.fail_after(READ_TIMEOUT_S):
            return (await client.compute.status(job)).state
    except (ComputeError, ChainClientError, OSError, trio.TooSlowError) as exc:
        return f"unknown ({type(exc).__name__})"


async def _result(client: AsyncClient, job: int) -> str | None:
    with tempfile.TemporaryDirectory(prefix=f"cairn-chaos-job-{job}-") as folder:
        try:
            with trio.fail_after(READ_TIMEOUT_S):
                await client.compute.result(job, Path(folder))
        except (ComputeError, ChainClientError, OSError, trio.TooSlowError) as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


async def _escrow(client: AsyncClient, at: bytes, start: Opening) -> Check:
    """Every job's money from the soak's first block to ``at``: the money events of the blocks after
    ``start``'s (two RPCs a block, within :data:`LEDGER_TIMEOUT_S`) and what each job's record holds at ``at``."""
    header = await client.get_block_header(at)
    if header is None:
        return escrow_conserved({}, cut_short=f"the validator has no header for its finalized head 0x{at.hex()}")
    events, read = [], start.block
    with trio.move_on_after(LEDGER_TIMEOUT_S):
        for number in range(start.block + 1, header.number + 1):
            block = await client.get_block_hash(number)
            if block is None:
                break
            events += [JobEvent(number, event.name, event.attributes["job_id"],
                                event.attributes[MONEY_FIELDS[event.name]])
                       for event in await client.get_events(block)
                       if event.pallet == "ComputeJobs" and event.name in MONEY_FIELDS]
            read = number
    if read < header.number:
        return escrow_conserved({}, cut_short=f"read the events of #{start.block + 1}..#{read} only, of "
                                              f"#{start.block + 1}..#{header.number} (a block unknown, or "
                                              f"{LEDGER_TIMEOUT_S:g} s up)")
    held = {job_id: job.escrow async for job_id, job in client.query_map("ComputeJobs", "Jobs", block_hash=at)}
    return escrow_conserved(*job_ledgers(start.held, events, held))
