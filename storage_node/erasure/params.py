"""The code parameters and the shard layout every backend and the fragment format agree on.

A segment of ``L`` bytes is cut into ``k`` data shards of ``shard_length(L)`` bytes each: ``ceil(L / k)``
rounded up to a multiple of :data:`SHARD_ALIGNMENT` (64 bytes: one cache line, one AVX-512 register, four
16-byte GPU columns), the last shards zero-padded. Data shard ``i`` holds bytes ``i * S .. (i+1) * S - 1``
of the segment (``S`` the shard length); ``m`` parity shards of the same length follow. The rounding rule
is part of the byte format (version 1): changing it changes every fragment.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage_node.erasure.errors import InvalidFragmentIndexError, InvalidParametersError

MAX_FRAGMENTS = 256
"""k + m may not exceed the number of elements of GF(2^8): beyond it the Cauchy rows repeat."""

SHARD_ALIGNMENT = 64
"""Shard lengths are multiples of this many bytes."""


@dataclass(frozen=True)
class CodeParams:
    """A systematic Reed-Solomon code: ``k`` data fragments and ``m`` parity fragments, any k decode."""

    k: int
    """Data fragments: the segment is split into this many shards. 1 <= k."""
    m: int
    """Parity fragments: up to this many fragments may be lost. 1 <= m, k + m <= 256."""

    def __post_init__(self) -> None:
        for name in ("k", "m"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParametersError(f"{name} must be an integer >= 1, got {value!r}")
        if self.k + self.m > MAX_FRAGMENTS:
            raise InvalidParametersError(
                f"k + m must be at most {MAX_FRAGMENTS} (GF(2^8) has 256 elements), got {self.k} + {self.m}")

    @property
    def n(self) -> int:
        """All fragments: k + m."""
        return self.k + self.m

    def shard_length(self, data_length: int) -> int:
        """Bytes per shard for a segment of ``data_length`` bytes (0 for an empty segment)."""
        per_shard = -(-data_length // self.k)
        return -(-per_shard // SHARD_ALIGNMENT) * SHARD_ALIGNMENT

    def check_index(self, index: int) -> int:
        """``index`` if it names a fragment of this code, else :class:`InvalidFragmentIndexError`."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.n:
            raise InvalidFragmentIndexError(f"fragment index must be in 0..{self.n - 1}, got {index!r}")
        return index

    def __str__(self) -> str:
        return f"RS({self.k},{self.m})"
