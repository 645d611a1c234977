"""The reference backend: NumPy only, always available; Horner's rule over the coefficient bits.

A row of the matrix, ``target = XOR over j of c_j * source_j``, is evaluated bit plane by bit plane,
most significant bit first. With ``S_b`` the XOR of the sources whose coefficient has bit ``b`` set::

    target = (...((S_7 * 2 ^ S_6) * 2 ^ S_5) * 2 ^ ... ) * 2 ^ S_0       (* binds tighter than ^)

so a row costs at most seven multiplications by 2 in GF(2^8) ("xtime") plus the XORs that form the
``S_b``. Every NumPy call below works on whole blocks of bytes, vectorised by NumPy itself.

xtime, four calls. All ``m`` rows advance in step in one ``(m, block)`` accumulator, so the four calls
serve every row at once::

    mask = acc.view(int8) < 0             # 1 in every byte whose top bit is set, else 0
    acc += acc                            # uint8 addition wraps: each byte shifted left, top bit dropped
    mask.view(uint16) *= 0x1d             # 0/1 bytes times 0x1d, two at a time (no carry between bytes)
    acc ^= mask                           # reduce modulo 0x11d where a bit fell out

(The previous version worked on ``uint64`` words with six shifts and masks per xtime. The multiply uses
``uint16`` lanes because NumPy's ``uint16`` multiply ran about 20% faster than its ``uint64`` one here.)

Shared XORs. The ``S_b`` of all rows and bits overlap a great deal (RS(10,4) encoding has 32 of them,
184 source terms in all). :func:`shared_xors` runs Paar's greedy common-subexpression elimination: the
pair of signals found together in the most ``S_b`` is XORed once per block into a new signal that
replaces the pair everywhere, until no pair occurs twice. RS(10,4) encoding then takes 25 shared XORs
plus 62 XORs (or copies) into the rows, instead of 184.

Blocks. Shards are coded in blocks sized so that a block of every source, shared signal, accumulator
row and mask row fills about :data:`CACHE_BUDGET_BYTES` (most of a 2 MiB per-core L2 cache) and stays
there while it is worked on. Every call writes into preallocated memory (kept per thread between calls),
and constants are 0-d arrays, which NumPy takes faster than Python scalars.

Cost per block, in NumPy calls over one block-long row: RS(10,4) encoding 199 (was 352 with the
six-call xtime and no sharing), RS(4,2) 79 (was 122); xtime is 112 and 56 of them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from storage_node.erasure.backends.base import Backend, Batch

CACHE_BUDGET_BYTES = 1536 * 1024
"""Bytes of all sources, shared signals, accumulator and mask rows coded per pass."""
MIN_BLOCK_BYTES, MAX_BLOCK_BYTES = 16 * 1024, 512 * 1024
BLOCK_ALIGNMENT = 64
"""Block lengths are multiples of this (shards are multiples of 64 bytes too)."""
MAX_SHARED_XORS = 64
"""At most this many shared XORs per matrix: each takes a block of cache and a little planning time."""
REDUCTION = np.array(0x1D, dtype=np.uint16)
"""x^8 modulo the field polynomial 0x11d: what a bit shifted out of the top of a byte leaves behind."""
ZERO = np.array(0, dtype=np.int8)
BITS = 8


@dataclass(frozen=True)
class Plan:
    """How :meth:`NumpyBackend.apply` computes ``rows @ sources``.

    Signals ``0 .. sources - 1`` are the sources; signal ``sources + i`` is the XOR of the two (earlier)
    signals ``shared[i]``. ``steps[t][r]`` are the signals XORed into row ``r`` at Horner step ``t``; the
    accumulator is multiplied by 2 between steps. Step 0 is the highest coefficient bit set anywhere in
    the matrix; a matrix of zeros has no steps.
    """

    sources: int
    rows: int
    shared: tuple[tuple[int, int], ...]
    steps: tuple[tuple[tuple[int, ...], ...], ...]


def plan_matrix(rows: np.ndarray) -> Plan:
    """The :class:`Plan` for a ``uint8`` coefficient matrix (``rows x sources``)."""
    count, sources = rows.shape
    top = max((bit for bit in range(BITS) if np.any((rows >> bit) & 1)), default=-1)
    bits = range(top, -1, -1)                                    # step t is bit top - t
    # incidence[t * count + r, j]: source j is in S_b of row r at step t
    incidence = np.array([(rows[r] >> bit) & 1 for bit in bits for r in range(count)], bool).reshape(-1, sources)
    incidence, shared = shared_xors(incidence, MAX_SHARED_XORS)
    members = [tuple(int(signal) for signal in np.flatnonzero(line)) for line in incidence]
    steps = tuple(tuple(members[t * count:(t + 1) * count]) for t in range(len(bits)))
    return Plan(sources, count, tuple(shared), steps)


def shared_xors(incidence: np.ndarray, limit: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Paar's greedy XOR sharing over the sets ``incidence[i]`` (a boolean row per set, a column per signal).

    While some pair of signals is found together in two or more sets (and fewer than ``limit`` have been
    made), the most frequent pair (lowest indices on ties, so plans are deterministic) becomes a new
    signal: a new column, set where both were, which are cleared there. Each new signal costs one XOR
    per block and saves one in every set that held the pair. Returns the rewritten incidence (one column
    more per new signal) and the new signals' pairs, in order.
    """
    pairs: list[tuple[int, int]] = []
    incidence = incidence.copy()
    while len(pairs) < limit and incidence.size:
        weights = incidence.astype(np.float32)                  # exact: counts stay far below 2^24
        together = np.triu(weights.T @ weights, 1)               # together[a, b]: sets holding a and b
        a, b = np.unravel_index(int(np.argmax(together)), together.shape)
        if together[a, b] < 2:
            break
        both = incidence[:, a] & incidence[:, b]
        incidence[both, a] = incidence[both, b] = False
        incidence = np.column_stack([incidence, both])
        pairs.append((int(a), int(b)))
    return incidence, pairs


class Workspace:
    """Scratch arrays for blocks of ``width`` bytes, carved out of ``memory``, every view made once.

    ``accumulator`` and ``mask`` are ``(rows, width)`` ``uint8``; ``rows`` lists the accumulator's rows;
    ``shared`` holds one array per shared XOR of the plan. :func:`workspace_bytes` is the size needed.
    """

    def __init__(self, plan: Plan, width: int, memory: np.ndarray) -> None:
        area = plan.rows * width
        self.accumulator = memory[:area].reshape(plan.rows, width)
        self.mask = memory[area:2 * area].reshape(plan.rows, width)
        self.rows = list(self.accumulator)
        self.shared = [memory[2 * area + i * width:2 * area + (i + 1) * width] for i in range(len(plan.shared))]
        self.signed = self.accumulator.view(np.int8)
        self.flags = self.mask.view(np.bool_)
        self.pairs = self.mask.view(np.uint16)

    def xtime(self) -> None:
        """Multiply every byte of the accumulator by 2 in GF(2^8), in place (see the module docstring)."""
        np.less(self.signed, ZERO, self.flags)
        np.add(self.accumulator, self.accumulator, self.accumulator)
        np.multiply(self.pairs, REDUCTION, self.pairs)
        np.bitwise_xor(self.accumulator, self.mask, self.accumulator)


def workspace_bytes(plan: Plan, width: int) -> int:
    """Scratch memory a :class:`Workspace` of ``width`` needs."""
    return (2 * plan.rows + len(plan.shared)) * width


def xor_into(target: np.ndarray, start: np.ndarray, signals: Sequence[np.ndarray], chosen: Sequence[int]) -> None:
    """``target = start ^ signals[chosen[0]] ^ ...`` (``start`` may be ``target`` itself)."""
    if not chosen:
        if start is not target:
            np.copyto(target, start)
        return
    np.bitwise_xor(start, signals[chosen[0]], target)
    for signal in chosen[1:]:
        np.bitwise_xor(target, signals[signal], target)


def xor_of(target: np.ndarray, signals: Sequence[np.ndarray], chosen: Sequence[int]) -> None:
    """``target = signals[chosen[0]] ^ ...``, zero when nothing is chosen."""
    if chosen:
        xor_into(target, signals[chosen[0]], signals, chosen[1:])
    else:
        target.fill(0)


def apply_plan(plan: Plan, sources: Sequence[np.ndarray], targets: Sequence[np.ndarray], work: Workspace) -> None:
    """``targets = rows @ sources`` for one block, as long as the workspace is wide."""
    signals = [*sources, *work.shared]
    for (a, b), signal in zip(plan.shared, work.shared):
        np.bitwise_xor(signals[a], signals[b], signal)
    if not plan.steps:
        for target in targets:
            target.fill(0)
        return
    if len(plan.steps) == 1:
        for target, chosen in zip(targets, plan.steps[0]):
            xor_of(target, signals, chosen)
        return
    first, *middle, last = plan.steps
    for row, chosen in zip(work.rows, first):
        xor_of(row, signals, chosen)
    for step in middle:
        work.xtime()
        for row, chosen in zip(work.rows, step):
            xor_into(row, row, signals, chosen)
    work.xtime()
    for target, row, chosen in zip(targets, work.rows, last):    # the last step writes the target
        xor_into(target, row, signals, chosen)


def block_bytes(plan: Plan) -> int:
    """Bytes of each shard coded per pass: sources, shared signals, accumulator and mask in the budget."""
    arrays = plan.sources + len(plan.shared) + 2 * plan.rows
    block = min(max(CACHE_BUDGET_BYTES // arrays, MIN_BLOCK_BYTES), MAX_BLOCK_BYTES)
    return block - block % BLOCK_ALIGNMENT


class NumpyBackend(Backend):
    """Readable and portable, faster than zfec; see the module docstring for the method."""

    name = "numpy"

    def __init__(self) -> None:
        self._local = threading.local()

    def prepare(self, rows: np.ndarray) -> Plan:
        return plan_matrix(np.asarray(rows, dtype=np.uint8))

    def apply(self, prepared: Plan, sources: Batch, targets: Batch) -> None:
        block = block_bytes(prepared)
        workspaces: dict[int, Workspace] = {}          # by width; blocks run one at a time, so they share memory
        for segment_sources, segment_targets in zip(sources, targets, strict=True):
            length = segment_targets[0].size
            for start in range(0, length, block):
                width = min(block, length - start)     # the last block may be shorter
                if width not in workspaces:
                    memory = self._scratch(workspace_bytes(prepared, width))
                    workspaces[width] = Workspace(prepared, width, memory)
                apply_plan(prepared, [source[start:start + width] for source in segment_sources],
                           [target[start:start + width] for target in segment_targets], workspaces[width])

    def _scratch(self, size: int) -> np.ndarray:
        """This thread's scratch memory, at least ``size`` bytes, kept from call to call.

        Fresh arrays this large come from the operating system and cost a page fault per 4 KiB on first
        use: for segments of about a MiB that was a third of the time.
        """
        memory = getattr(self._local, "memory", None)
        if memory is None or memory.size < size:
            memory = self._local.memory = np.empty(size, np.uint8)
        return memory
