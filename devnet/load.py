"""The fault soak's load generator: a user of every layer at once, recording what the network acknowledged.

Three workers act as three users through the SDK, each with its own account (so their transactions never
race for a nonce) and its own :class:`Session`, which opens each operation's client on a validator running
then, so a fault that takes a node away fails the operations in flight on it and no later ones.

- **storage** (``//Alice``): uploads files of random size, private and public in turn, and downloads a random
  earlier one back, comparing its hash;
- **DA** (``//Bob``): publishes a random payload, then reads back (``client.da.get``) every blob not read yet,
  each at most :data:`GET_ATTEMPTS` times and none past its retention (an ``UnknownBlob`` once the finalized
  head reached the block it is pruned at; before that it only means a node behind or finality slow): the final
  check judges the rest;
- **compute** (``//Charlie``): uploads the ``wine`` dataset privately once, then trains on it again and again
  (redundancy 2), waits for the verdict and downloads the verified result, which ``client.compute.result``
  checks against the digest the chain verified.

Every operation is counted in a :class:`Tally` (tried, succeeded, failed by error) and whatever the network
acknowledged goes into :class:`Acknowledged`: an upload's file once every fragment is confirmed on chain, a
blob once the chain marked it available, a job once the chain took it. A watcher polls every validator's
finalized head into a :class:`FinalityLog`. :mod:`devnet.invariants` judges them at the end. Sizes, pauses and
contents come from one seeded generator per worker, so a run repeats as far as the network lets it.
"""

from __future__ import annotations

import hashlib
import io
import random
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import trio

from compute_pallet import datasets
from devnet import launcher
from devnet.rpc import rpc_call
from devnet.state import ProcessRecord, ProcessState, process_state
from da_layer.kzg import PRECOMPUTE_COMPUTE
from sdk.chain.errors import ChainClientError, ConnectionFailed
from sdk.client import AsyncClient
from sdk.compute.errors import JobNotVerified
from sdk.da.api import DaApi
from sdk.da.errors import DaError, UnknownBlob
from sdk.da.pool import KzgPool
from sdk.da.types import BlobRef

__all__ = ["STORAGE_SIGNER", "DA_SIGNER", "COMPUTE_SIGNER", "Acknowledged", "AckedBlob", "FinalityLog", "Mismatch",
           "Session", "Tally", "digest", "finalized_head", "parse_head", "past_retention", "running", "storage_load", "da_load",
           "compute_load", "watch_finality"]

STORAGE_SIGNER = "//Alice"
DA_SIGNER = "//Bob"
COMPUTE_SIGNER = "//Charlie"

FILE_SIZES = (4 << 10, 512 << 10)
"""Uploads are between 4 KiB and 512 KiB: one segment each, many files in a run."""
BLOB_SIZES = (1 << 10, 100 << 10)
"""Payloads of 1 to 100 KiB: one blob each."""
PAUSE_S = (0.5, 3.0)
"""A worker rests this long between operations, leaving the shared cores to the network."""
TRAIN_PARAMS = {"hidden": [8], "epochs": 5}
"""A job that runs in a second or two: what is soaked is the market around it."""
TIMEOUTS_S = {"storage.upload": 240.0, "storage.download": 120.0, "da.submit": 120.0, "da.get": 120.0,
              "compute.dataset": 240.0, "compute.job": 420.0}
"""How long one operation may take before it counts as failed (a job: two commit-and-reveal rounds)."""
JOB_RETRY_S = 15.0
"""After a job that failed (often refused at once: too few eligible providers), the next waits this long."""
GET_ATTEMPTS = 3
"""How often the DA worker tries to read one blob back (each try up to its timeout) before leaving it to the check."""
WATCH_INTERVAL_S = 2.0
"""How often the watcher asks each validator for its finalized head (one block time)."""

T = TypeVar("T")


def digest(data: bytes) -> str:
    """What the soak remembers of acknowledged bytes: their SHA-256, hex."""
    return hashlib.sha256(data).hexdigest()


class Mismatch(Exception):
    """Bytes read back differ from the acknowledged ones."""


@dataclass
class FinalityLog:
    """Every finalized block seen during the run, and any two validators that finalized different blocks at
    one number (a revert seen as it happened)."""

    blocks: dict[int, bytes] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)

    def observe(self, source: str, number: int, block_hash: bytes) -> None:
        known = self.blocks.setdefault(number, block_hash)
        if known != block_hash:
            self.conflicts.append(f"{source} finalized 0x{block_hash.hex()} at #{number}, 0x{known.hex()} was "
                                  "finalized there before")


@dataclass
class AckedBlob:
    refs: tuple[BlobRef, ...]
    digest: str
    expires: int
    """The block the chain prunes it at (its submission block + ``RetentionPeriod``)."""
    read_back: bool = False
    """Whether ``client.da.get`` rebuilt the payload during the run (its retention may end before the check)."""
    attempts: int = 0
    """The reads of it the load tried during the run."""
    pruned: bool = False
    """Whether a read during the run found it gone past its retention (:func:`past_retention`)."""

    @property
    def to_read(self) -> bool:
        """Whether the load should still try to read it back."""
        return not self.read_back and not self.pruned and self.attempts < GET_ATTEMPTS


@dataclass
class Acknowledged:
    """What the network promised during the run: files stored, blobs available, jobs taken."""

    files: dict[bytes, str] = field(default_factory=dict)
    """File id → SHA-256 of the uploaded bytes (uploaded by :data:`STORAGE_SIGNER`)."""
    blobs: list[AckedBlob] = field(default_factory=list)
    jobs: list[int] = field(default_factory=list)
    """Ids of the jobs the soak submitted (by :data:`COMPUTE_SIGNER`) that the chain took."""


@dataclass
class Tally:
    """Operations by kind (``storage.upload``, ``da.get``, ...): tried, succeeded, failed by error, and cut short
    by the end of the run."""

    tried: Counter[str] = field(default_factory=Counter)
    succeeded: Counter[str] = field(default_factory=Counter)
    failed: Counter[tuple[str, str]] = field(default_factory=Counter)
    interrupted: Counter[str] = field(default_factory=Counter)


def running(base_path: Path, role: str) -> list[ProcessRecord]:
    """The devnet's processes of ``role`` that run now (not exited, not paused)."""
    return [record for record in launcher.load(base_path).processes
            if record.role == role and process_state(record) is ProcessState.RUNNING]


class Session:
    """One worker's way to the chain: each operation opens a client on a validator running then (chosen at
    random), so a fault that takes a node away fails only the operations that were using it. Counts each
    operation in ``tally``."""

    def __init__(self, base_path: Path, signer: str, tally: Tally, rng: random.Random) -> None:
        self.base_path, self.signer, self.tally, self.rng = base_path, signer, tally, rng

    async def run(self, op: str, action: Callable[[AsyncClient], Awaitable[T]]) -> T | None:
        """``action`` with a fresh client, within the operation's timeout; its result, or None if it failed
        (counted by error)."""
        self.tally.tried[op] += 1
        try:
            validators = await trio.to_thread.run_sync(running, self.base_path, "validator")
            if not validators:
                raise ConnectionFailed("no validator of the devnet is running")
            with trio.fail_after(TIMEOUTS_S[op]):
                async with AsyncClient(self.rng.choice(validators).url("rpc", "ws"), signer=self.signer) as client:
                    result = await action(client)
        except trio.Cancelled:
            self.tally.interrupted[op] += 1
            raise
        except (ChainClientError, DaError, OSError, Mismatch, trio.TooSlowError) as exc:
            self.tally.failed[op, "timeout" if isinstance(exc, trio.TooSlowError) else type(exc).__name__] += 1
            return None
        self.tally.succeeded[op] += 1
        return result

    async def pause(self) -> None:
        await trio.sleep(self.rng.uniform(*PAUSE_S))


async def storage_load(session: Session, acked: Acknowledged) -> None:
    """Upload and download until cancelled."""
    rng, private = session.rng, False
    while True:
        private = not private
        data = rng.randbytes(rng.randint(*FILE_SIZES))

        async def upload(client: AsyncClient) -> bytes:
            return await client.storage.upload(data, private=private)

        file_id = await session.run("storage.upload", upload)
        if file_id is not None:
            acked.files[file_id] = digest(data)
        if acked.files:
            chosen = rng.choice(sorted(acked.files))

            async def download(client: AsyncClient) -> None:
                out = io.BytesIO()
                await client.storage.download(chosen, out)
                if digest(out.getvalue()) != acked.files[chosen]:
                    raise Mismatch(f"file 0x{chosen.hex()} downloaded different bytes")

            await session.run("storage.download", download)
        await session.pause()


async def da_load(session: Session, acked: Acknowledged) -> None:
    """Publish and read back until cancelled. The KZG worker processes outlive each operation's client."""
    rng = session.rng
    with KzgPool() as verifier, KzgPool(precompute=PRECOMPUTE_COMPUTE) as encoder:

        async def da(client: AsyncClient, use: Callable[[DaApi], Awaitable[T]]) -> T:
            api = DaApi(client, client.signer, pool=verifier, encoder=encoder)
            try:
                return await use(api)
            finally:
                await api.peers.aclose()

        while True:
            data = rng.randbytes(rng.randint(*BLOB_SIZES))

            async def submit(client: AsyncClient) -> AckedBlob:
                async def publish(api: DaApi) -> AckedBlob:
                    refs = await api.submit(data)
                    submitted = max([(await api.status(ref)).submitted_at for ref in refs])
                    retention: int = client.get_constant("DataAvailability", "RetentionPeriod")
                    return AckedBlob(tuple(refs), digest(data), submitted + retention)

                return await da(client, publish)

            published = await session.run("da.submit", submit)
            if published is not None:
                acked.blobs.append(published)
            for blob in [blob for blob in acked.blobs if blob.to_read]:

                async def get(client: AsyncClient, blob: AckedBlob = blob) -> None:
                    blob.attempts += 1
                    try:
                        rebuilt = await da(client, lambda api: api.get(blob.refs))
                    except UnknownBlob:
                        blob.pruned = await past_retention(client, blob)
                        raise
                    if digest(rebuilt) != blob.digest:
                        raise Mismatch(f"blob {blob.refs[0]} rebuilt different bytes")
                    blob.read_back = True

                await session.run("da.get", get)
            await session.pause()


async def compute_load(session: Session, acked: Acknowledged) -> None:
    """Upload the dataset, then train on it, one job at a time, until cancelled."""
    training, _ = datasets.split("wine")
    dataset = None
    while dataset is None:

        async def upload(client: AsyncClient) -> bytes:
            return await client.storage.upload(training)  # private: the job grants its providers

        dataset = await session.run("compute.dataset", upload)
        await session.pause()

    async def job(client: AsyncClient) -> bool:
        job_id = await client.compute.submit("train", [dataset], TRAIN_PARAMS, redundancy=2)
        acked.jobs.append(job_id)
        status = await client.compute.wait(job_id)
        if status.state != "Verified":
            raise JobNotVerified(f"job {job_id} ended {status.state}")
        with tempfile.TemporaryDirectory(prefix=f"cairn-chaos-job-{job_id}-") as folder:
            await client.compute.result(job_id, Path(folder))
        return True

    while True:
        if await session.run("compute.job", job) is None:  # e.g. too few providers up: not again at once
            await trio.sleep(JOB_RETRY_S)
        await session.pause()


async def watch_finality(base_path: Path, log: FinalityLog) -> None:
    """Record every running validator's finalized head every :data:`WATCH_INTERVAL_S`, until cancelled."""

    def poll() -> list[tuple[str, int, bytes]]:
        seen = []
        for record in running(base_path, "validator"):
            try:
                head = finalized_head(record.url("rpc"))
            except (OSError, RuntimeError):
                continue  # killed or restarting: the next poll asks again
            if head is not None:
                seen.append((record.name, *head))
        return seen

    while True:
        for name, number, block_hash in await trio.to_thread.run_sync(poll):
            log.observe(name, number, block_hash)
        await trio.sleep(WATCH_INTERVAL_S)


async def past_retention(client: AsyncClient, blob: AckedBlob) -> bool:
    """Whether the node ``client`` talks to finalized the block ``blob`` is pruned at: only then does an
    ``UnknownBlob`` mean its retention ended (before, the node is behind or finality was slow)."""
    header = await client.get_block_header(await client.get_chain_finalised_head())
    return header is not None and header.number >= blob.expires


def finalized_head(url: str) -> tuple[int, bytes] | None:
    """The finalized head (number, hash) of the node whose HTTP RPC is at ``url``; None where its answers do not
    make one (no header for it yet, or malformed); ``OSError`` / ``RuntimeError`` if it does not answer."""
    head = rpc_call(url, "chain_getFinalizedHead")
    header = rpc_call(url, "chain_getHeader", [head]) if isinstance(head, str) else None
    return parse_head(head, header)


def parse_head(head: object, header: object) -> tuple[int, bytes] | None:
    """``chain_getFinalizedHead`` and ``chain_getHeader``'s answers → (number, hash), or None if they are not a
    hash and a header with a number."""
    if not (isinstance(head, str) and isinstance(header, dict) and isinstance(header.get("number"), str)):
        return None
    try:
        return int(header["number"], 16), bytes.fromhex(head.removeprefix("0x"))
    except ValueError:
        return None
