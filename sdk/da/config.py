"""How the DA client uses cores, connections and time (per-deployment settings, DESIGN rule 7)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DaConfig"]


@dataclass(frozen=True)
class DaConfig:
    """How the DA client uses cores, connections and time."""

    window: int = 16
    """Blobs in flight at once in a submission."""
    max_blobs: int = 512
    """The most blobs one submission takes (~62 MiB of payload)."""
    http_timeout: float = 30.0
    """Seconds one request to a DA node may take."""
    push_retry_for: float = 20.0
    """Seconds a node that has not seen the blob yet (or cannot be reached) is asked again."""
    retry_interval: float = 0.5
    sample_parallel: int = 32
    """Cells fetched at once while sampling."""
    finality_timeout: float = 60.0
    """Seconds sampling or reading waits for finality to reach a blob the best chain already has."""
