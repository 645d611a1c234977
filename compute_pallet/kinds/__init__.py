"""Compute job kinds: what a provider runs for a job, named on chain by a ``u8`` id.

A kind's run is a pure function of its input files, its params (JSON bytes, opaque on chain) and a seed
the chain gives; honest providers reproduce one another's outputs bit for bit, so the pallet compares
only result digests.
"""

from __future__ import annotations

__all__ = ["KIND_IDS"]

# The on-chain id of each kind (ComputeJobs stores the u8). Append only: an id is never reused.
KIND_IDS: dict[str, int] = {"train": 0, "evaluate": 1, "infer": 2, "fedavg": 3}
