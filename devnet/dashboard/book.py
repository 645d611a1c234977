"""What the dashboard's light client has found about the latest available blobs, and what it should sample next.

The book is plain bookkeeping, kept apart from the I/O (:mod:`devnet.dashboard.sampler`) so its bounds are
easy to see and to test: it never holds more than ``limit`` blobs (the newest the chain lists as available;
a blob that falls out of that window is forgotten), it plans at most those for sampling, newest first, and a
blob whose sampling could not finish (the chain or its DA nodes unreachable, finality late) is tried again
on a later pass, at most ``attempts`` times. A finished sampling is final: a blob found unavailable stays
reported so, with the cells no custodian served, rather than sampled until it looks better.

The HTTP handler reads :meth:`SampleBook.entries` from the trio thread the sampler writes it on, so a
snapshot of plain values is enough; nothing here is shared with another thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Sequence

from sdk.da.types import SampleReport

__all__ = ["BlobSampling", "SampleBook", "DEFAULT_LIMIT", "DEFAULT_ATTEMPTS"]

DEFAULT_LIMIT = 16
"""Blobs followed at once: the newest available ones (each sampling fetches and verifies ~20 cells)."""
DEFAULT_ATTEMPTS = 3


@dataclass(frozen=True)
class BlobSampling:
    """One blob as the dashboard's light client knows it."""

    blob: str
    """``0x`` + 64 hex digits."""
    state: str
    """``pending`` (not sampled yet), ``sampled`` (a report, good or bad), ``error`` (could not sample)."""
    attempts: int = 0
    available: bool | None = None
    confidence: float = 0.0
    samples: int = 0
    verified: int = 0
    failed_cells: tuple[int, ...] = ()
    finalized_block: str | None = None
    """The finalized block whose state proved the blob's commitment."""
    error: str | None = None
    at: float | None = None
    """When the last attempt ended (Unix seconds)."""

    def to_json(self) -> dict[str, object]:
        return {"blob": self.blob, "state": self.state, "attempts": self.attempts, "available": self.available,
                "confidence": self.confidence, "samples": self.samples, "verified": self.verified,
                "failedCells": list(self.failed_cells), "finalizedBlock": self.finalized_block,
                "error": self.error, "at": self.at}


class SampleBook:
    """The latest ``limit`` available blobs and their sampling, newest first."""

    def __init__(self, limit: int = DEFAULT_LIMIT, attempts: int = DEFAULT_ATTEMPTS) -> None:
        if limit < 1 or attempts < 1:
            raise ValueError(f"limit and attempts must be at least 1, got {limit} and {attempts}")
        self.limit = limit
        self.attempts = attempts
        self._entries: dict[str, BlobSampling] = {}

    def update(self, available: Sequence[str]) -> list[str]:
        """Follow the newest ``limit`` of ``available`` (blob ids, newest first) and forget the rest; returns
        the blobs to sample now, newest first: those never sampled, and those whose sampling failed fewer
        than ``attempts`` times."""
        window = list(dict.fromkeys(blob.lower() for blob in available))[:self.limit]
        self._entries = {blob: self._entries.get(blob) or BlobSampling(blob, "pending") for blob in window}
        return [blob for blob, entry in self._entries.items()
                if entry.state == "pending" or (entry.state == "error" and entry.attempts < self.attempts)]

    def record(self, blob: str, report: SampleReport) -> None:
        """A finished sampling of ``blob`` (ignored if it left the window meanwhile)."""
        entry = self._entries.get(blob)
        if entry is not None:
            self._entries[blob] = replace(
                entry, state="sampled", attempts=entry.attempts + 1, available=report.available,
                confidence=report.confidence, samples=report.samples, verified=report.verified,
                failed_cells=report.failed, finalized_block="0x" + report.finalized_block.hex(), error=None,
                at=time.time())

    def record_error(self, blob: str, error: str) -> None:
        """A sampling of ``blob`` that could not finish, and why."""
        entry = self._entries.get(blob)
        if entry is not None:
            self._entries[blob] = replace(entry, state="error", attempts=entry.attempts + 1, error=error,
                                          at=time.time())

    def entries(self) -> list[BlobSampling]:
        """Every followed blob, newest first."""
        return list(self._entries.values())

    def get(self, blob: str) -> BlobSampling | None:
        return self._entries.get(blob.lower())
