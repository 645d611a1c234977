"""Why a DA operation failed: one typed error per cause, all under :class:`DaError`."""

from __future__ import annotations

from typing import Mapping

__all__ = ["DaError", "NoSigner", "EmptyPayload", "PayloadTooLarge", "UnknownBlob", "SubmissionRefused",
           "LeaveRefused", "BondRefused", "WorkersDied", "NoQuorum", "NotAvailable", "ReconstructionFailed"]


class DaError(Exception):
    """A DA operation that did not succeed."""


class NoSigner(DaError):
    """Submitting needs a signing account: create the client with ``signer=``."""


class EmptyPayload(DaError):
    """An empty payload spans no blob: there is nothing to submit."""


class PayloadTooLarge(DaError):
    """The payload spans more blobs than one submission takes (``DaConfig.max_blobs``)."""


class UnknownBlob(DaError):
    """The chain holds no such blob (never submitted, or pruned after its retention window)."""


class SubmissionRefused(DaError):
    """The chain refused ``submit_blob`` or ``attest`` (the dispatch error says why)."""


class LeaveRefused(DaError):
    """The chain refused a DA node's ``deregister``: the signer runs no DA node, or it is leaving already."""


class BondRefused(DaError):
    """The chain refused a DA node's ``bond_extra``: the signer runs no DA node, it is leaving, the amount is 0
    or more than its free balance."""


class WorkersDied(DaError):
    """The KZG worker processes ended abruptly (killed, unable to start, or a script's unguarded main module
    failed in them); the pool starts new ones for its next job."""


class NoQuorum(DaError):
    """Too few DA nodes signed for the blob to become available (more than 2/3 of the stake, keeping at least
    half the columns between them); ``refusals`` says why each other one did not."""

    def __init__(self, blob_id: bytes, signed_stake: int, total_stake: int, refusals: Mapping[str, str],
                 columns: int | None = None) -> None:
        details = "; ".join(f"{node}: {why}" for node, why in refusals.items())
        what = (f"nodes with {signed_stake} of {total_stake} stake signed, more than 2/3 are needed"
                if columns is None else f"the nodes that signed keep {columns} columns, at least half are needed")
        super().__init__(f"blob 0x{blob_id.hex()}: {what} ({details})")
        self.blob_id = blob_id
        self.refusals = dict(refusals)


class NotAvailable(DaError):
    """The attestation was included but the chain did not mark the blob available."""


class ReconstructionFailed(DaError):
    """Fewer than half of a blob's cells could be fetched and verified: its bytes cannot be rebuilt."""
