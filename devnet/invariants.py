"""What must still hold after a fault soak (``cairn devnet chaos``), and the check of it against the devnet.

A soak kills, corrupts and withholds while a load generator (:mod:`devnet.load`) stores files, publishes blobs
and runs jobs, recording everything the network *acknowledged* (:class:`devnet.load.Acknowledged`) and every
finalized block it saw (:class:`devnet.load.FinalityLog`). Faults may make operations fail; they must never break a
promise the network made. At the end, :func:`check` reads the devnet and judges six invariants:

- **finality**: every finalized ``(number, hash)`` seen during the run is still the canonical block at that
  number on every validator (and no two validators ever finalized different blocks at one number);
- **files**: every acknowledged file downloads with the bytes that were uploaded (a SHA-256 compare);
- **blobs**: every blob the chain marked available reconstructs (``client.da.get``) to the published payload;
  one whose retention ended before the check must have been read back during the run;
- **jobs**: every job of the soak the chain verified (its providers paid) yields outputs that hash to the
  verified digest (``client.compute.result`` checks them against the verdict);
- **issuance**: ``TotalIssuance`` equals the sum of every account's free + reserved, to the unit;
- **escrow**: for every job on chain, what ``JobSubmitted`` escrowed equals what ``ProviderPaid`` paid plus what
  ``JobVerified`` / ``JobFailed`` refunded plus what the job still holds. A provider's slashed stake is burned
  (the runtime has no treasury), never taken from or added to an escrow, so the compute pallet's property
  "paid + refunded + slashed-to-burn = escrowed + slashed stake" is this equation plus the issuance one.

The judgements (:func:`finality_kept` ... :func:`escrow_conserved`) are pure functions of recorded data and
what was read back, so each can be tested on constructed data; :func:`check` only gathers that data.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import trio

from devnet.launcher import wait_until
from devnet.load import COMPUTE_SIGNER, STORAGE_SIGNER, AckedBlob, Acknowledged, FinalityLog, digest
from devnet.rpc import rpc_call
from devnet.state import DevnetState, ProcessRecord
from sdk.chain.errors import ChainClientError
from sdk.client import AsyncClient
from sdk.compute.errors import ComputeError
from sdk.da.errors import DaError, UnknownBlob

__all__ = ["Check", "JobLedger", "check", "finality_kept",
           "files_intact", "blobs_reconstruct", "jobs_verify", "issuance_balances", "escrow_conserved"]

READ_TIMEOUT_S = 120.0
"""How long the check gives one download, blob read or job result (generous: a loaded 2-core machine)."""
CATCH_UP_TIMEOUT_S = 180.0
"""How long every validator gets to finalize as far as the run saw before the finality check."""


@dataclass(frozen=True)
class Check:
    """One invariant's verdict: how many things it checked and what broke it."""

    name: str
    checked: int
    violations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def held(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class JobLedger:
    """One job's money, from its events and its record: all balances in base units."""

    escrowed: int
    paid: int = 0
    refunded: int = 0
    held: int = 0
    """What the job still holds from its submitter (``Job.escrow``: non-zero only while it runs)."""


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
    return Check("no acknowledged file lost or changed", len(acked), tuple(violations))


def blobs_reconstruct(acked: Sequence[AckedBlob], read: Mapping[int, str | None]) -> Check:
    """``read``: per index of ``acked``, the SHA-256 of what ``get`` rebuilt now, the error, or None where the
    chain pruned the blob (its retention ended), which passes if it was read back during the run."""
    violations, pruned = [], 0
    for index, blob in enumerate(acked):
        found = read.get(index, "error: not read")
        name = ", ".join(str(ref) for ref in blob.refs)
        if found is None:
            pruned += 1
            if not blob.read_back:
                violations.append(f"blob {name}: pruned before it was ever read back")
        elif found != blob.digest:
            violations.append(f"blob {name}: {found if found.startswith('error:') else 'rebuilt different bytes'}")
    notes = (f"{pruned} past their retention, read back during the run",) if pruned else ()
    return Check("every available blob reconstructs", len(acked), tuple(violations), notes)


def jobs_verify(results: Mapping[int, str | None], unfinished: int = 0) -> Check:
    """``results``: per verified job, None if its outputs hash to the verified digest, else why not."""
    violations = tuple(f"job {job}: {error}" for job, error in sorted(results.items()) if error is not None)
    notes = (f"{unfinished} of the soak's jobs not verified (failed or still running)",) if unfinished else ()
    return Check("every paid job's result verifies", len(results), violations, notes)


def issuance_balances(total_issuance: int, accounts: Iterable[tuple[int, int]]) -> Check:
    """``accounts``: every account's (free, reserved)."""
    balances = list(accounts)
    total = sum(free + reserved for free, reserved in balances)
    violations = () if total == total_issuance else (
        f"accounts hold {total}, TotalIssuance is {total_issuance} (off by {total - total_issuance})",)
    return Check("issuance = Σ free + reserved", len(balances), violations)


def escrow_conserved(jobs: Mapping[int, JobLedger]) -> Check:
    violations = tuple(
        f"job {job}: escrowed {ledger.escrowed} ≠ paid {ledger.paid} + refunded {ledger.refunded} + held {ledger.held}"
        for job, ledger in sorted(jobs.items()) if ledger.escrowed != ledger.paid + ledger.refunded + ledger.held)
    return Check("escrow = paid + refunded + held", len(jobs), violations)


# --- gathering what the judgements need -------------------------------------------------------------------


async def check(url: str, state: DevnetState, log: FinalityLog, acked: Acknowledged) -> list[Check]:
    """Judge every invariant: each validator of ``state`` is asked for its blocks; through the validator at
    ``url``, the load's storage account reads the files, blobs and chain, and its compute account the results."""
    validators = [record for record in state.processes if record.role == "validator"]
    checks = [finality_kept(log, await _canonical(validators, log))]
    async with AsyncClient(url, signer=STORAGE_SIGNER) as owner, AsyncClient(url, signer=COMPUTE_SIGNER) as submitter:
        if acked.files:
            checks.append(files_intact(acked.files, {file_id: await _download(owner, file_id)
                                                     for file_id in acked.files}))
        if acked.blobs:
            checks.append(blobs_reconstruct(acked.blobs, {index: await _blob(owner, blob)
                                                          for index, blob in enumerate(acked.blobs)}))
        if acked.jobs:
            verified = [job for job in acked.jobs if (await submitter.compute.status(job)).state == "Verified"]
            checks.append(jobs_verify({job: await _result(submitter, job) for job in verified},
                                      len(acked.jobs) - len(verified)))
        at = await owner.get_chain_finalised_head()
        checks.append(issuance_balances(
            await owner.query("Balances", "TotalIssuance", block_hash=at),
            [(info.data.free, info.data.reserved)
             async for _, info in owner.query_map("System", "Account", block_hash=at)]))
        checks.append(escrow_conserved(await _job_ledgers(owner, at)))
    return checks


async def _canonical(validators: Sequence[ProcessRecord], log: FinalityLog) -> dict[str, dict[int, bytes | None]]:
    """Per validator, its block at each number the log holds, once it finalized at least as far."""
    highest = max(log.blocks, default=0)

    def finalized(record: ProcessRecord) -> int:
        head = rpc_call(record.url("rpc"), "chain_getFinalizedHead")
        return int(rpc_call(record.url("rpc"), "chain_getHeader", [head])["number"], 16)  # type: ignore[index]

    def blocks(record: ProcessRecord) -> dict[int, bytes | None]:
        try:
            wait_until(lambda: finalized(record) >= highest, CATCH_UP_TIMEOUT_S, f"{record.name} finalized #{highest}")
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
            return digest(await client.da.get(blob.refs))
    except UnknownBlob:
        return None
    except (DaError, ChainClientError, OSError, trio.TooSlowError) as exc:
        return f"error: {type(exc).__name__}: {exc}"


async def _result(client: AsyncClient, job: int) -> str | None:
    with tempfile.TemporaryDirectory(prefix=f"cairn-chaos-job-{job}-") as folder:
        try:
            with trio.fail_after(READ_TIMEOUT_S):
                await client.compute.result(job, Path(folder))
        except (ComputeError, ChainClientError, OSError, trio.TooSlowError) as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


async def _job_ledgers(client: AsyncClient, at: bytes) -> dict[int, JobLedger]:
    """Every job's money up to block ``at``: its compute events in every block, and what its record holds."""
    ledgers: dict[int, JobLedger] = {}
    header = await client.get_block_header(at)
    assert header is not None
    for number in range(1, header.number + 1):
        block = await client.get_block_hash(number)
        for event in await client.get_events(block):
            if event.pallet != "ComputeJobs":
                continue
            fields = event.attributes
            if event.name == "JobSubmitted":
                ledgers[fields["job_id"]] = JobLedger(fields["escrow"])
            elif event.name == "ProviderPaid":
                ledger = ledgers[fields["job_id"]]
                ledgers[fields["job_id"]] = replace(ledger, paid=ledger.paid + fields["amount"])
            elif event.name in ("JobVerified", "JobFailed"):
                ledger = ledgers[fields["job_id"]]
                ledgers[fields["job_id"]] = replace(ledger, refunded=ledger.refunded + fields["refunded"])
    async for job_id, job in client.query_map("ComputeJobs", "Jobs", block_hash=at):
        ledgers[job_id] = replace(ledgers.get(job_id, JobLedger(0)), held=job.escrow)
    return ledgers
