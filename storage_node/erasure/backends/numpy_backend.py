"""The reference backend: NumPy only, always available, vectorised over 64-bit words (SWAR).

Eight shard bytes are packed in one ``uint64`` and multiplied by 2 at once ("xtime")::

    xtime(w) = ((w & 0x7f7f7f7f7f7f7f7f) << 1) ^ (((w >> 7) & 0x0101010101010101) * 0x1d)

The first term doubles every byte without letting its top bit spill into the next byte; the second
puts the reduction ``0x1d`` into each byte whose top bit fell out (``0x1d < 0x100``: no carries). A row
of the matrix is evaluated by Horner's rule over the coefficient bits, most significant first: with
``S_b`` the XOR of the sources whose coefficient has bit ``b`` set,
``target = (((S_7 * 2) ^ S_6) * 2 ^ ... ) ^ S_0`` — at most seven xtimes per row plus one XOR per set
coefficient bit. :meth:`NumpyBackend.prepare` turns the matrix into that list of steps.

Shards are processed in blocks sized so that a block of every source and target together fills about
:data:`CACHE_BUDGET_BYTES` (most of a 2 MiB per-core L2 cache) and stays there while
a row is computed; every operation writes into preallocated arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from storage_node.erasure.backends.base import Backend, Batch

CACHE_BUDGET_BYTES = 1536 * 1024
"""Bytes of all sources and targets coded per pass."""
MIN_BLOCK_BYTES, MAX_BLOCK_BYTES = 32 * 1024, 512 * 1024

LOW_BITS = np.uint64(0x0101010101010101)
HIGH_BITS_CLEARED = np.uint64(0x7F7F7F7F7F7F7F7F)
REDUCTION = np.uint64(0x1D)
ONE, SEVEN = np.uint64(1), np.uint64(7)

RowPlan = tuple[tuple[int, ...], ...]
"""Horner steps of one row: the sources to XOR in at each step, highest coefficient bit first."""


def plan_row(coefficients: np.ndarray) -> RowPlan:
    """The Horner steps for one row, starting at its highest set coefficient bit (none for a zero row)."""
    steps = [tuple(int(j) for j in np.flatnonzero((coefficients >> bit) & 1)) for bit in range(7, -1, -1)]
    while steps and not steps[0]:
        steps.pop(0)
    return tuple(steps)


def xtime_words(words: np.ndarray, scratch: np.ndarray) -> None:
    """Multiply every byte packed in ``words`` by 2 in GF(2^8), in place."""
    np.right_shift(words, SEVEN, out=scratch)
    np.bitwise_and(scratch, LOW_BITS, out=scratch)
    np.multiply(scratch, REDUCTION, out=scratch)
    np.bitwise_and(words, HIGH_BITS_CLEARED, out=words)
    np.left_shift(words, ONE, out=words)
    np.bitwise_xor(words, scratch, out=words)


def apply_row(plan: RowPlan, sources: Sequence[np.ndarray], target: np.ndarray, scratch: np.ndarray) -> None:
    """``target = row @ sources`` over ``uint64`` words, by the steps of ``plan``."""
    if not plan:
        target.fill(0)
        return
    first, *others = plan[0]
    np.copyto(target, sources[first])
    for source in others:
        np.bitwise_xor(target, sources[source], out=target)
    for step in plan[1:]:
        xtime_words(target, scratch)
        for source in step:
            np.bitwise_xor(target, sources[source], out=target)


def block_words(shards: int) -> int:
    """64-bit words of each shard coded per pass when ``shards`` sources and targets are in play."""
    return min(max(CACHE_BUDGET_BYTES // shards, MIN_BLOCK_BYTES), MAX_BLOCK_BYTES) // 8


class NumpyBackend(Backend):
    """Readable, portable, about as fast as zfec; see the module docstring for the method."""

    name = "numpy"

    def prepare(self, rows: np.ndarray) -> tuple[RowPlan, ...]:
        return tuple(plan_row(row) for row in rows)

    def apply(self, prepared: tuple[RowPlan, ...], sources: Batch, targets: Batch) -> None:
        for segment_sources, segment_targets in zip(sources, targets, strict=True):
            source_words = [source.view(np.uint64) for source in segment_sources]
            target_words = [target.view(np.uint64) for target in segment_targets]
            length = target_words[0].size
            block = block_words(len(source_words) + len(target_words))
            scratch = np.empty(min(block, length), dtype=np.uint64)
            for start in range(0, length, block):
                stop = min(start + block, length)
                source_block = [words[start:stop] for words in source_words]
                for plan, words in zip(prepared, target_words, strict=True):
                    apply_row(plan, source_block, words[start:stop], scratch[: stop - start])
