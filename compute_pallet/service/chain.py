"""What the provider worker reads from and sends to the compute pallets.

One place turns ``ComputeProviders`` and ``ComputeJobs`` storage (decoded with the
pallets' own types, :mod:`compute_pallet.pallets.types`) into the facts the worker decides on, follows the
``ComputeJobs`` events that can concern this provider, and composes its transactions, so the job pipeline
and the daemon never handle storage layouts or call names. A transaction the chain refuses raises
:class:`Refused` with the runtime's error; a chain that does not answer raises the client's
:class:`sdk.chain.ChainClientError`. Callers log and retry both.

**Following without decoding every block.** Decoding a block's ``System.Events`` in Python costs a few
milliseconds in a busy block (uploads, confirmations, fees), and most blocks concern other providers, so
:meth:`ProviderChain.job_events` has the client read each best block's events as bytes and decode them only
when the bytes hold what every event that concerns this provider must hold: its account (a ``JobAssigned``
naming it), or a watched job's id as a ``ComputeJobs`` event's first field (the pallet's index, an event
index, then the id: every event of the pallet starts with the job id). That is a necessary condition, never
a sufficient one: a block that passes is decoded and its events read as before. A job's id becomes watched
only once its assignment was acted on, so when several blocks are fetched in one go (a skipped head, a
reconnection) a phase event in the same run may go unseen; the job's worker then notices the change at
its next poll, a few blocks later.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from compute_pallet.pallets.types import Hardware, Job, JobStatus, Offer, ProviderInfo, Slot, SlotStatus
from runtime.frame.construct import Call
from runtime.keyring import Keypair
from sdk.chain import AsyncClient, EventSubscription
from sdk.chain.types import DispatchFailure

__all__ = ["ProviderChain", "Refused", "Timing", "may_concern"]


class Refused(Exception):
    """The chain included a transaction of the provider and refused it (``failure`` says why)."""

    def __init__(self, what: str, failure: DispatchFailure | None) -> None:
        super().__init__(f"{what}: {failure}")
        self.failure = failure

    @property
    def error(self) -> str:
        return self.failure.name if self.failure is not None else ""


@dataclass(frozen=True)
class Timing:
    """The chain constants the worker paces itself by."""

    block_seconds: float
    heartbeat_timeout: int
    """Blocks of silence after which the provider loses its assignments."""


class ProviderChain:
    """Reads and transactions of the provider ``keypair`` through ``client``."""

    def __init__(self, client: AsyncClient, keypair: Keypair) -> None:
        self.client = client
        self.keypair = keypair
        self.account = keypair.public

    async def timing(self) -> Timing:
        """The block time, and the heartbeat timeout. The time between the two latest blocks' timestamps when it
        is shorter than the ``MinimumPeriod`` pair says (a devnet may run shorter slots); never longer: after a
        pause of the chain (or empty slots) that gap is no block time, and heartbeats and wall-time budgets
        sized from it left the provider silent past its timeout."""
        block_ms = self.client.block_time_ms()
        head = await self.client.get_block_header()
        if head is not None and head.number > 1:
            now = await self.client.query("Timestamp", "Now", block_hash=head.hash)
            before = await self.client.query("Timestamp", "Now", block_hash=head.parent_hash)
            if before < now < before + block_ms:
                block_ms = now - before
        return Timing(block_ms / 1000, self.client.get_constant("ComputeProviders", "HeartbeatTimeout"))

    # --- following ----------------------------------------------------------------------------------

    def job_events(self, watched: Callable[[], Collection[int]]) -> EventSubscription:
        """Each best block's ``ComputeJobs`` events, every block visited once and in order, skipping blocks whose
        events cannot name this provider or a job of ``watched()`` (see the module docstring)."""
        pallet = self.client.view.runtime.index_of["ComputeJobs"]
        return self.client.subscribe_events("ComputeJobs", relevant=lambda raw: may_concern(
            raw, self.account, pallet, watched()))

    # --- reads ---------------------------------------------------------------------------------------

    async def registered(self) -> ProviderInfo | None:
        return await self.client.query("ComputeProviders", "Providers", [self.account])

    async def job(self, job_id: int, *, finalized: bool = False) -> Job | None:
        """The job's record at the best block, or at the finalized one."""
        at = await self.client.get_chain_finalised_head() if finalized else None
        return await self.client.query("ComputeJobs", "Jobs", [job_id], block_hash=at)

    async def assigned_jobs(self) -> list[int]:
        """The jobs in which this provider holds an unsettled slot (``ProviderJobs``)."""
        return sorted([job_id async for job_id, _ in self.client.query_map("ComputeJobs", "ProviderJobs",
                                                                          [self.account])])

    async def is_private(self, file_id: bytes) -> bool:
        info = await self.client.query("FileBank", "Files", [file_id])
        return info is not None and bool(info.encrypted)

    async def file_size(self, file_id: bytes) -> int | None:
        """The file's bytes (its plaintext's, as a download writes them); None if the chain knows no such file."""
        info = await self.client.query("FileBank", "Files", [file_id])
        return None if info is None else int(info.size)

    def my_slot(self, job: Job) -> Slot | None:
        """This provider's latest slot in ``job`` (a provider holds at most one per job)."""
        mine = [slot for slot in job.slots if slot.provider == self.account]
        return mine[-1] if mine else None

    @staticmethod
    def settled(job: Job | None) -> bool:
        return job is None or job.status in (JobStatus.Verified, JobStatus.Failed)

    @staticmethod
    def others_reveals(job: Job, me: bytes) -> list[Slot]:
        return [slot for slot in job.slots if slot.provider != me and slot.reveal is not None
                and slot.status in (SlotStatus.Revealed, SlotStatus.Paid)]

    # --- transactions --------------------------------------------------------------------------------

    def register_call(self, hardware: Hardware, offers: Sequence[Offer], endpoint: str, stake: int) -> Call:
        return self.client.compose_call("ComputeProviders", "register", {
            "hardware": hardware, "offers": tuple(offers), "endpoint": endpoint.encode(), "stake": stake})

    async def register(self, registration: Call) -> None:
        """Send :meth:`register_call`'s call."""
        await self._sign_and_submit(registration, "ComputeProviders.register")

    async def update(self, hardware: Hardware, offers: Sequence[Offer], endpoint: str) -> None:
        await self._submit("ComputeProviders", "update", {"hardware": hardware, "offers": tuple(offers),
                                                          "endpoint": endpoint.encode()})

    async def heartbeat(self) -> None:
        """Pool a heartbeat without watching it: whether it landed shows in :meth:`registered`."""
        await self.client.sign_and_submit(self.client.compose_call("ComputeProviders", "heartbeat", {}), self.keypair)

    async def add_stake(self, amount: int) -> None:
        await self._submit("ComputeProviders", "add_stake", {"amount": amount})

    async def commit(self, job_id: int, commitment: bytes) -> None:
        await self._submit("ComputeJobs", "commit", {"job_id": job_id, "commitment": commitment})

    async def reveal(self, job_id: int, digest: bytes, salt: bytes, outputs: Sequence[bytes],
                     scores: Sequence[int]) -> None:
        await self._submit("ComputeJobs", "reveal", {"job_id": job_id, "digest": digest, "salt": salt,
                                                     "outputs": tuple(outputs), "scores": tuple(scores)})

    async def _submit(self, pallet: str, name: str, args: dict[str, Any]) -> None:
        await self._sign_and_submit(self.client.compose_call(pallet, name, args), f"{pallet}.{name}")

    async def _sign_and_submit(self, call: Call, what: str) -> None:
        receipt = await self.client.sign_and_submit(call, self.keypair, wait_for_inclusion=True)
        if not receipt.is_success:
            raise Refused(what, receipt.error_message)


def may_concern(raw: bytes, account: bytes, jobs_pallet: int, watched: Collection[int]) -> bool:
    """Whether encoded ``System.Events`` can hold an event naming ``account``, or a ``ComputeJobs`` event
    (pallet index ``jobs_pallet``) of a ``watched`` job: the pallet's index, any event index, then the job
    id (u64, little-endian). False only when no such event is there; true does not mean one is."""
    if account in raw:
        return True
    for job_id in watched:
        needle = job_id.to_bytes(8, "little")
        at = raw.find(needle, 2)
        while at != -1:
            if raw[at - 2] == jobs_pallet:
                return True
            at = raw.find(needle, at + 1)
    return False
