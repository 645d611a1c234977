"""A real compute market for the compute client's tests: one dev validator, two storage nodes, and providers
played by the test itself.

The chain runs half-second slots with RS(1, 1) files by default (so two storage nodes hold any file), no
storage audits, and heartbeat deadlines far away (the test's providers send none). The provider worker is
not used: :class:`PlayedProvider` does what an honest provider does, through the chain client and the storage
client (reads a job's inputs as a grantee, runs the real kind, uploads its outputs, commits, reveals), so
these tests judge the SDK against the pallets and nothing else.
"""

from __future__ import annotations

import io
import secrets
from pathlib import Path

import anyio

from compute_pallet import kinds
from compute_pallet.commitment import commitment, job_seal, output_seal
from compute_pallet.pallets.types import Hardware, Job, JobStatus, Offer
from runtime.hashing import blake2_256
from runtime.keyring import Keypair
from sdk.client import AsyncClient, Client
from sdk.storage.errors import AccessDenied
from tests.compute_pallet.service.network import Market
from tests.integration.nodes import wait_until
from tests.storage_node.service.chain import start_storage_chain
from tests.storage_node.service.cluster import start_cluster

__all__ = ["Market", "start_market", "register_provider", "PlayedProvider", "play", "PROVIDERS", "PRICES", "WAIT_S"]

PROVIDERS = ("//Bob", "//Charlie")
"""The providers registered from the start."""
PRICES = {"//Bob": 10**12, "//Charlie": 2 * 10**12, "//Ferdie": 3 * 10**12}
"""Each played provider's price for every kind (``//Ferdie`` registers later, in a test)."""
WAIT_S = 120
"""Deadline of any one wait on the chain (generous: the machine is shared)."""
PARAMS = {
    "Timestamp": {"minimum_period": 250},
    "FileBank": {"default_k": 1, "default_m": 1, "audit_period": 100_000, "confirm_deadline": 200},
    "ComputeProviders": {"heartbeat_timeout": 100_000},
    "ComputeJobs": {"commit_period": 60, "reveal_period": 20},
    "FederatedLearning": {"aggregation_deadline": 200},
}


def start_market(folder: Path) -> Market:
    """The chain, two storage nodes and the played providers registered (with their encryption keys); the
    market has no provider processes."""
    folder.mkdir(parents=True, exist_ok=True)
    market = Market(start_storage_chain(folder, PARAMS, slot_duration_ms=500), [])
    try:
        market.storage = start_cluster(market.url, folder, 2)
        anyio.run(_register_providers, market.url, backend="trio")
        with Client(market.url) as client:
            wait_until(lambda: sum(1 for _ in client.query_map("ComputeProviders", "Providers")) == len(PROVIDERS),
                       WAIT_S, "providers registered")
    except BaseException:
        market.stop()
        raise
    return market


async def _register_providers(url: str) -> None:
    for uri in PROVIDERS:
        async with AsyncClient(url, signer=uri) as client:
            await register_provider(client)
            await client.storage.register_key()


async def register_provider(client: AsyncClient) -> None:
    """Register the client's signer as a provider of every kind at its price in :data:`PRICES`."""
    uri = next(uri for uri in PRICES if Keypair.from_uri(uri).public == client.signer.public)
    offers = tuple(Offer(kind_id, PRICES[uri]) for kind_id in kinds.KIND_IDS.values())
    receipt = await client.sign_and_submit(client.compose_call("ComputeProviders", "register", {
        "hardware": Hardware(4, 8_192, None), "offers": offers, "endpoint": b"http://127.0.0.1:9",
        "stake": 2 * client.get_constant("ComputeProviders", "MinStake")}), client.signer, wait_for_inclusion=True)
    assert receipt.is_success, receipt.error_message


class PlayedProvider:
    """A provider played in the test: runs the real kind on the job's inputs and commits and reveals its digest.
    A ``tampering`` one uploads outputs other than those it ran (each file with a byte appended) and still
    reveals the true digest: the chain cannot tell, the submitter's download check can. A ``lying`` one runs the
    kind with another seed than the job's: providers lying alike agree on a wrong result, and only a rerun
    tells."""

    def __init__(self, client: AsyncClient, *, tampering: bool = False, lying: bool = False) -> None:
        self.client = client
        self.account = client.signer.public
        self.tampering, self.lying = tampering, lying

    async def run(self, job_id: int) -> None:
        """Do the job's slot: read its inputs, run its kind, upload, commit, reveal."""
        client = self.client
        job = await self._job(job_id)
        inputs, input_keys = [], []
        for file_id in job.inputs:
            inputs.append(await self._read(file_id))
            if (await client.query("FileBank", "Files", [file_id])).encrypted:
                input_keys.append(await client.storage.ledger.data_key(file_id))
        seed = bytes(32) if self.lying else job.seed
        ran = await anyio.to_thread.run_sync(lambda: kinds.outcome(job.kind, lambda: inputs, bytes(job.params), seed))
        files = [ran.outputs[n] for n in sorted(ran.outputs)] + [kinds.canonical_json(ran.result)]
        if self.tampering:
            files = [data + b"\0" for data in files[:-1]] + files[-1:]
        uploaded = []
        for data in files:  # a private output sealed as the worker seals it, so that agreeing copies compare
            key, manifest_salt = (output_seal(job_seal(job_id, input_keys), blake2_256(data)) if input_keys
                                  else (None, None))
            uploaded.append(await client.storage.upload(data, private=bool(input_keys), readers=[job.submitter],
                                                        data_key=key, salt=manifest_salt))
        digest, scores = ran.digest, tuple(ran.result.get("shares_ppm", ()))
        salt = secrets.token_bytes(32)
        await self._call("commit", job_id=job_id, commitment=commitment(job_id, self.account, digest, salt))
        with anyio.fail_after(WAIT_S):
            while (await self._job(job_id)).status is JobStatus.Committing:
                await anyio.sleep(0.25)
        await self._call("reveal", job_id=job_id, digest=digest, salt=salt, outputs=tuple(uploaded), scores=scores)

    async def _read(self, file_id: bytes) -> bytes:
        """The file's bytes, once the submitter has granted them (as the worker does: retried until then)."""
        with anyio.fail_after(WAIT_S):
            while True:
                buffer = io.BytesIO()
                try:
                    await self.client.storage.download(file_id, buffer)
                    return buffer.getvalue()
                except AccessDenied:
                    await anyio.sleep(0.25)

    async def _job(self, job_id: int) -> Job:
        return await self.client.query("ComputeJobs", "Jobs", [job_id])

    async def _call(self, name: str, **args: object) -> None:
        receipt = await self.client.sign_and_submit(self.client.compose_call("ComputeJobs", name, args),
                                                    self.client.signer, wait_for_inclusion=True)
        assert receipt.is_success, receipt.error_message


async def play(url: str, job_id: int, *, tampering: bool = False, lying: bool = False) -> None:
    """Every played provider assigned to the job does its slot, concurrently (all of them ``tampering`` or
    ``lying``, or none)."""
    async with AsyncClient(url) as reader:
        job = await reader.query("ComputeJobs", "Jobs", [job_id])
    assigned = {slot.provider for slot in job.slots}
    async with anyio.create_task_group() as group:
        for uri in PRICES:
            async def one(uri: str = uri) -> None:
                async with AsyncClient(url, signer=uri) as client:
                    if client.signer.public in assigned:
                        await PlayedProvider(client, tampering=tampering, lying=lying).run(job_id)
            group.start_soon(one)
