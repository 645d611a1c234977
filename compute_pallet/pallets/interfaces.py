"""What the compute pallets need from the rest of the runtime, as ``Protocol``\\s (house rule 2).

``StorageInfo`` is what ComputeJobs and FederatedLearning ask of the storage network: does a file exist, is it
active, may this account read it, which storage nodes hold its fragments; and to keep a file while a job or
round reads it. The runtime's composition satisfies
it with a small adapter over ``FileBank`` and ``StorageAccess`` (``runtime.cairn.FileBankStorageInfo``); the
compute pallets never import the storage pallets.

``JobMarket`` is what FederatedLearning asks of ComputeJobs: submit a round's aggregation job on the task
creator's behalf, and learn when it ended. ``BlockTime`` is what ComputeJobs asks of Timestamp: how long a
block is, to turn a kind's estimated run time into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from compute_pallet.pallets.types import Job, Resources
from runtime.primitives import Weight

__all__ = ["FileFacts", "StorageInfo", "BlockHashes", "BlockTime", "JobNeeds", "JobMarket"]


@dataclass(frozen=True)
class FileFacts:
    """What the compute pallets need to know of a stored file."""

    owner: bytes
    active: bool
    """Every fragment was confirmed and the file is readable (``Active`` or ``Degraded``)."""
    public: bool
    """Stored unencrypted, and not embargoed: anyone may read it."""
    deleting: bool = False
    """Its owner deleted it while it was pinned: kept for the uses it has, it takes no new one."""
    size: int = 0
    """Its bytes (plaintext): what a job's resource estimate is made from."""


class StorageInfo(Protocol):
    def file_facts(self, file_id: bytes) -> FileFacts | None: ...

    def may_read(self, file_id: bytes, who: bytes) -> bool:
        """Whether ``who`` may read ``file_id``: its owner, anyone for a public file, or a grantee."""

    def may_be_granted(self, who: bytes) -> bool:
        """Whether a private file can be granted to ``who``: it registered an encryption key to seal it to."""

    def fragment_holders(self, file_id: bytes, max_segments: int) -> frozenset[bytes]:
        """The storage nodes holding fragments of the first ``max_segments`` segments of ``file_id``."""

    def stored_content(self, file_id: bytes) -> bytes | None:
        """What ``file_id`` holds, as two providers' copies of one output compare: its content digest, the same
        for the same bytes stored alike whoever stored them, and for no other file (a private file's bytes
        are its ciphertext: copies of one private output compare because providers seal them under the key
        :func:`compute_pallet.commitment.output_seal` derives); None for a file the chain does not know
        (never uploaded, or deleted)."""

    def pin(self, file_id: bytes) -> None:
        """Keep a file while a job, round or task reads it: its owner's deletion waits for the matching
        :meth:`unpin`. Whether a file may start a new use (``FileFacts.deleting``) is the caller's check."""

    def unpin(self, file_id: bytes) -> None:
        """End a use begun by :meth:`pin` (the file is deleted now if its owner deleted it meanwhile)."""

    def lock(self, file_id: bytes) -> None:
        """Refuse its owner's deletion of the file from now on: it goes when its paid time ends (a verified job's
        outputs are the provider's files, bought by the submitter)."""

    def release(self, file_id: bytes) -> None:
        """End the file's embargo (FileBank's ``declare_embargoed``), if any: its nodes serve it as any other."""


class BlockHashes(Protocol):
    """Recent block hashes (System): the chain's randomness."""

    def known_block_hash(self, number: int) -> bytes | None: ...


class BlockTime(Protocol):
    """The chain's block time (Timestamp)."""

    def block_time_ms(self) -> int: ...


@dataclass(frozen=True)
class JobNeeds:
    """What a job of a kind over given inputs must be given (see :meth:`JobMarket.needs`)."""

    memory_mib: int
    """The least memory it may declare: its kind's estimate of one run over the inputs' sizes."""
    duration: int
    """Blocks from submission to a deadline that leaves room for its first round and a dispute (two commit
    windows and reveal periods), at most ``MaxJobDuration``."""


@dataclass(frozen=True)
class Submitted:
    """A job :meth:`JobMarket.submit_job` submitted."""

    job_id: int
    providers_read: int
    """The provider records read to assign its first round (what its weight depends on)."""


class JobMarket(Protocol):
    def escrow_for(self, price_cap: int, redundancy: int) -> int:
        """What a job with this cap and redundancy holds from its submitter."""

    def max_params_length(self) -> int: ...

    def max_redundancy(self) -> int: ...

    def needs(self, kind: int, params: bytes, inputs: tuple[bytes, ...]) -> JobNeeds:
        """The memory and time a job of ``kind`` over these input files must be given (its kind's estimate of
        one run over their sizes); raises ``BadInputs`` as :meth:`submit_job` would."""

    def submit_weight(self, inputs: int) -> Weight:
        """The weight of a submission with ``inputs`` input files (at the most redundancy)."""

    def submit_job(self, submitter: bytes, kind: int, inputs: tuple[bytes, ...], params: bytes,
                   resources: Resources, price_cap: int, deadline: int, redundancy: int, *,
                   parent: bytes | None, watched: bool, held: frozenset[bytes] = frozenset()) -> Submitted:
        """Submit a job as ``submitter`` would (same checks, same ``DispatchError``\\s, nothing written on
        error); a ``watched`` job's id is queued for :meth:`take_finished` once it is verified or failed.
        ``held``: inputs the caller keeps pinned, which the job may read even if their owner deleted them
        since (the caller hands its use on to the job)."""

    def take_finished(self) -> tuple[int, ...]:
        """The watched jobs that ended since the last call."""

    def job(self, job_id: int) -> Job | None: ...
