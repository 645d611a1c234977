"""Measuring a coder's throughput: shared by ``cairn ec bench`` and ``benchmarks/erasure.py``.

Three figures, each the median of ``repeats`` timed runs after one warm-up, in MB/s of original data
(10^6 bytes per second):

- ``encode``: :meth:`ErasureCoder.encode` (data in, k+m fragments out), parity written into buffers
  reused from run to run, as a stream encoder does;
- ``rebuild``: the worst case of a repair, :meth:`ErasureCoder.reconstruct` of the first m data
  fragments (all data fragments if m > k) from the k survivors, into reused buffers: the work an ISA-L
  decode call does;
- ``decode``: :meth:`ErasureCoder.decode` with those fragments lost, which also assembles the data into
  one new buffer (allocated by every call).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from storage_node.erasure.arrays import Array
from storage_node.erasure.coder import ErasureCoder


@dataclass(frozen=True)
class Throughput:
    """Median throughputs of one coder on one input, MB/s of original data."""

    backend: str
    k: int
    m: int
    data_bytes: int
    encode: float
    rebuild: float
    decode: float


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``run``, after one untimed warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worst_case_lost(coder: ErasureCoder) -> list[int]:
    """The fragments a worst-case decode must rebuild: m data fragments (all k if m > k)."""
    return list(range(min(coder.params.m, coder.params.k)))


def measure(coder: ErasureCoder, data: Array, *, repeats: int = 5) -> Throughput:
    """Encode, worst-case rebuild and worst-case decode throughput of ``coder`` on ``data``."""
    fragments = coder.encode(data)
    lost = worst_case_lost(coder)
    survivors = {fragment.index: fragment for fragment in fragments if fragment.index not in lost}
    parity = [fragment.payload for fragment in fragments[coder.params.k:]]
    rebuilt = {index: fragments[index].payload.copy() for index in lost}

    def rate(run: Callable[[], object]) -> float:
        return data.size / median_seconds(run, repeats) / 1e6

    return Throughput(
        backend=coder.backend.name, k=coder.params.k, m=coder.params.m, data_bytes=int(data.size),
        encode=rate(lambda: coder.encode(data, parity_out=parity)),
        rebuild=rate(lambda: coder.reconstruct(survivors, lost, out=rebuilt)),
        decode=rate(lambda: coder.decode(survivors)))
