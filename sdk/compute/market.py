"""The compute pallets as the compute client uses them: every call, storage item and constant in one place.

``ComputeProviders`` holds the providers, ``ComputeJobs`` the jobs, their slots and the lineage of verified
outputs, ``FederatedLearning`` the tasks, their members, updates and finished rounds. Values are the pallets'
own dataclasses (``compute_pallet.pallets.types``), decoded by the runtime's codecs, so what this client reads
cannot drift from what the runtime writes. Files and grants come from the storage client's
:class:`~sdk.storage.ledger.Ledger`. Calls are signed by the client's signer and waited for to inclusion; a
failed one raises the compute error its dispatch error names (:func:`sdk.compute.errors.refusal`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from compute_pallet import kinds
from runtime.keyring import Keypair
from sdk.chain import AsyncClient, ExtrinsicReceipt
from sdk.compute import jobs
from sdk.compute.errors import InputDeleted, InputNotActive, InputNotReadable, UnknownInput, refusal
from sdk.storage.ledger import Ledger

if TYPE_CHECKING:  # the pallets' record types
    from compute_pallet.pallets.types import Job, LineageEntry, ProviderInfo, RoundRecord, Task, Update

__all__ = ["Market"]


class Market:
    """Reads and transactions of the compute pallets through ``chain``, signed by ``signer``."""

    def __init__(self, chain: AsyncClient, signer: Keypair | None) -> None:
        self.chain = chain
        self.ledger = Ledger(chain, signer)
        self._signer = signer

    @property
    def signer(self) -> Keypair:
        """The signing key pair; :class:`~sdk.storage.errors.NoSigner` if the client has none."""
        return self.ledger.signer

    @property
    def account(self) -> bytes | None:
        """The signer's account, if the client has one."""
        return None if self._signer is None else self._signer.public

    def constant(self, pallet: str, name: str) -> int:
        return int(self.chain.get_constant(pallet, name))

    def job_deadlines(self, run: kinds.Resources) -> tuple[int, int, int]:
        """For a job whose run its kind estimates as ``run``: the shortest and the default deadline the chain
        takes (blocks from now, see :func:`sdk.compute.jobs.deadlines`) and the longest it takes at all."""
        longest = self.constant("ComputeJobs", "MaxJobDuration")
        shortest, default = jobs.deadlines(
            commit_period=self.constant("ComputeJobs", "CommitPeriod"),
            reveal_period=self.constant("ComputeJobs", "RevealPeriod"), run=run,
            block_ms=self.chain.block_time_ms(), max_duration=longest)
        return shortest, default, longest

    def escrow_for(self, price_cap: int, redundancy: int) -> int:
        """What a job (or a federated round's aggregation) holds: ``price_cap`` x (r + ``DisputeExtra``)."""
        return price_cap * (redundancy + self.constant("ComputeJobs", "DisputeExtra"))

    async def free_balance(self, account: bytes) -> int:
        """What ``account`` could put on hold now (free less frozen)."""
        info = await self.chain.query("System", "Account", [account])
        return 0 if info is None else max(0, info.data.free - info.data.frozen)

    async def block_number(self) -> int:
        header = await self.chain.get_block_header()
        assert header is not None  # the node always has its best block
        return header.number

    async def readable_sizes(self, files: Sequence[bytes], reader: bytes) -> list[int]:
        """Each file's size; the refusal the chain would give a job or task naming a file that does not exist,
        is not readable on the network (pending, or lost: a degraded file still has k fragments of every
        segment, and the chain takes it), that its owner deleted, or that is private and not ``reader``'s own
        (a grant lets ``reader`` read it, not grant it to a job's providers)."""
        sizes = []
        for file_id in files:
            info = await self.ledger.file_record(file_id)
            if info is None:
                raise UnknownInput(f"no file 0x{file_id.hex()} on chain")
            if not info.status.readable:  # as the chain's StorageInfo judges it
                raise InputNotActive(f"file 0x{file_id.hex()} is {info.status.name}, not Active or Degraded")
            if await self.ledger.being_deleted(file_id):
                raise InputDeleted(f"file 0x{file_id.hex()} was deleted by its owner (kept for the jobs reading it)")
            if info.encrypted and info.owner != reader:
                raise InputNotReadable(f"file 0x{file_id.hex()} is private and not 0x{reader.hex()}'s own: only its "
                                       "owner can grant a job's providers read access")
            if info.owner != reader and await self.ledger.embargoed(file_id):
                raise InputNotReadable(f"file 0x{file_id.hex()} is under embargo (a job's output before the job "
                                       "ended): only its owner may read it")
            sizes.append(info.size)
        return sizes

    async def not_public(self, files: Sequence[bytes]) -> list[bytes]:
        """The files among ``files`` stored encrypted or under embargo (those not everyone may read)."""
        found = []
        for file_id in files:
            info = await self.ledger.file_record(file_id)
            if info is not None and (info.encrypted or await self.ledger.embargoed(file_id)):
                found.append(file_id)
        return found

    async def private_files(self, files: Sequence[bytes], owner: bytes) -> list[bytes]:
        """The private files among ``files`` that ``owner`` owns (those it grants a job's providers)."""
        private = []
        for file_id in files:
            info = await self.ledger.file_record(file_id)
            if info is not None and info.encrypted and info.owner == owner:
                private.append(file_id)
        return private

    # --- providers and jobs ------------------------------------------------------------------------

    async def providers(self) -> list[tuple[bytes, ProviderInfo]]:
        return [(account, info) async for account, info in self.chain.query_map("ComputeProviders", "Providers")]

    async def job(self, job_id: int, at: bytes | None = None) -> Job | None:
        return await self.chain.query("ComputeJobs", "Jobs", [job_id], block_hash=at)

    async def lineage(self, file_id: bytes) -> LineageEntry | None:
        return await self.chain.query("ComputeJobs", "Lineage", [file_id])

    # --- federated learning ------------------------------------------------------------------------

    async def task(self, task_id: int, at: bytes | None = None) -> Task | None:
        return await self.chain.query("FederatedLearning", "Tasks", [task_id], block_hash=at)

    async def member_stake(self, task_id: int, account: bytes) -> int | None:
        """The stake ``account`` holds for the task (``None``: not a member, or the task ended)."""
        return await self.chain.query("FederatedLearning", "Members", [task_id, account])

    async def update(self, task_id: int, round: int, account: bytes) -> Update | None:
        return await self.chain.query("FederatedLearning", "Updates", [(task_id, round), account])

    async def updates(self, task_id: int, round: int) -> list[tuple[bytes, Update]]:
        return [(who, update) async for who, update
                in self.chain.query_map("FederatedLearning", "Updates", [(task_id, round)])]

    async def round_record(self, task_id: int, round: int) -> RoundRecord | None:
        return await self.chain.query("FederatedLearning", "Rounds", [task_id, round])

    async def model_round(self, file_id: bytes) -> tuple[int, int] | None:
        """The (task, round) whose aggregation produced the global model ``file_id``."""
        found = await self.chain.query("FederatedLearning", "ModelRounds", [file_id])
        return None if found is None else (int(found[0]), int(found[1]))

    # --- transactions ------------------------------------------------------------------------------

    async def submit(self, pallet: str, name: str, arguments: dict[str, Any]) -> ExtrinsicReceipt:
        """Sign the call, submit it and wait for its inclusion; a failed dispatch raises its typed
        :class:`~sdk.compute.errors.Refused`."""
        receipt = await self.chain.sign_and_submit(self.chain.compose_call(pallet, name, arguments), self.signer,
                                                   wait_for_inclusion=True)
        if not receipt.is_success:
            raise refusal(f"{pallet}.{name}", receipt.error_message)
        return receipt
