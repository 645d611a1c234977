"""What the DA API hands back: blob references, statuses, sampling reports, progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sdk.chain.keys import hash_id
from sdk.da.wire import blob_id_hex

__all__ = ["BlobRef", "BlobStatus", "SampleReport", "RegisteredNode", "Progress", "ProgressCallback"]


@dataclass(frozen=True)
class BlobRef:
    """One submitted blob: its id on chain (``str()`` gives ``0x`` + 64 hex digits, what the CLI prints)."""

    blob_id: bytes

    def __str__(self) -> str:
        return blob_id_hex(self.blob_id)

    @staticmethod
    def parse(text: "str | BlobRef | bytes") -> "BlobRef":
        """A reference from its text, its 32 bytes, or itself; :class:`~sdk.chain.errors.BadArgument` (a
        ``ValueError``) otherwise."""
        if isinstance(text, BlobRef):
            return text
        return BlobRef(hash_id(text, "blob id"))


@dataclass(frozen=True)
class BlobStatus:
    """A blob as the chain records it."""

    blob: BlobRef
    status: str
    """``Pending`` (waiting for attestations), ``Available`` or ``Unavailable``."""
    submitter: bytes
    commitment: bytes
    length: int
    """Payload bytes in this blob."""
    namespace: int
    submitted_at: int
    """The block number that included ``submit_blob``."""
    node_set: tuple[bytes, ...]
    """The DA nodes that keep its cells (accounts; order = signer bitfield order)."""


@dataclass(frozen=True)
class SampleReport:
    """What sampling a blob found. ``available`` only if every sampled cell was fetched and verified; then
    ``confidence`` is ``1 - 2**-samples``, else 0.0 (a failure, not a guess)."""

    blob: BlobRef
    available: bool
    confidence: float
    samples: int
    """Cells drawn (distinct, uniformly at random)."""
    verified: int
    """Of them, fetched from a custodian and verified against the commitment."""
    failed: tuple[int, ...]
    """The cell indices no custodian served with a valid proof."""
    finalized_block: bytes
    """The finalized block whose state proved the commitment."""


@dataclass(frozen=True)
class RegisteredNode:
    """A registered DA node."""

    account: bytes
    endpoint: str
    stake: int
    bls_public: bytes
    audits_passed: int
    audits_missed: int
    leaves_at: int | None = None
    """For a node that left the node set (``leave``), the block at which its stake is released; until then it
    keeps the custody of the blobs that name it, and is audited."""


@dataclass(frozen=True)
class Progress:
    """Where a submission is: ``done`` of ``total`` blobs through ``stage`` (``"encode"``, ``"submit"``,
    ``"push"``, ``"attest"``); ``blob`` is the one that just passed it, once the chain has it (from ``"submit"``
    on): a submission stopped after that leaves it on chain, its fee held, burned unless it is attested in time."""

    stage: str
    done: int
    total: int
    blob: BlobRef | None = None


ProgressCallback = Callable[[Progress], None]
