"""Pseudo-random draws from a job's seed: the same numbers on every machine and numpy version.

numpy's ``Generator`` may change its distributions between releases, and providers need not run the same
release, so a kind draws from a BLAKE3 stream instead: ``blake3(DOMAIN_COMPUTE_DRAW ++ u32 len(seed) ++
seed ++ label)`` extended to as many bytes as needed. Each use names its own label (``b"init/0"``,
``b"epoch/3"``), so draws for different purposes never overlap.
"""

from __future__ import annotations

import blake3
import numpy as np
import numpy.typing as npt

from runtime.hashing import DOMAIN_COMPUTE_DRAW

__all__ = ["stream", "permutation", "uniform"]


def stream(seed: bytes, label: bytes, length: int) -> bytes:
    """``length`` pseudo-random bytes for ``label`` under ``seed``."""
    hasher = blake3.blake3(DOMAIN_COMPUTE_DRAW + len(seed).to_bytes(4, "little") + seed + label)
    return hasher.digest(length=length)


def permutation(seed: bytes, label: bytes, n: int) -> npt.NDArray[np.intp]:
    """A permutation of ``range(n)``: the order of n drawn 64-bit keys (ties broken by index)."""
    keys = np.frombuffer(stream(seed, label, 8 * n), dtype="<u8")
    return np.argsort(keys, kind="stable")


def uniform(seed: bytes, label: bytes, shape: tuple[int, ...], limit: float) -> npt.NDArray[np.float32]:
    """float32 values uniform on ``[-limit, limit)``, each from 24 drawn bits (exact in float32)."""
    count = int(np.prod(shape))
    bits = np.frombuffer(stream(seed, label, 4 * count), dtype="<u4") >> np.uint32(8)
    unit = bits.astype(np.float32) * np.float32(2.0**-24)
    return ((unit * np.float32(2.0) - np.float32(1.0)) * np.float32(limit)).reshape(shape)
