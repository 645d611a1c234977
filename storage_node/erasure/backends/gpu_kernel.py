"""The GPU kernel's source and launch plan, without CuPy: shared by the CuPy backend and the CPU tests.

``gf_kernel.cu`` (beside this file) holds the kernel; its docstring describes the thread layout. This
module says how to launch it: one thread per 16-byte column, :data:`THREADS_PER_BLOCK` threads per block,
grid ``(ceil(columns / THREADS_PER_BLOCK), segments)``, and the tables of shard addresses it reads. The
CuPy backend uploads those tables and launches on the GPU; the tests compile the same source with g++
and run :class:`KernelLaunch` plans on the CPU, so CI checks the kernel's arithmetic without a GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from storage_node.erasure.arrays import Array

KERNEL_NAME = "gf_apply_matrix"
COLUMN_BYTES = 16
THREADS_PER_BLOCK = 256
MAX_SEGMENTS_PER_LAUNCH = 65535
"""CUDA's limit on gridDim.y."""


def kernel_source() -> str:
    """The CUDA C++ source of the kernel."""
    return resources.files(__package__).joinpath("gf_kernel.cu").read_text()


@dataclass(frozen=True)
class KernelLaunch:
    """Everything one launch needs; ``source_table``/``target_table`` hold addresses, segment-major."""

    grid: tuple[int, int]
    block: tuple[int]
    source_table: np.ndarray
    target_table: np.ndarray
    k: int
    rows: int
    columns: int


def plan_launches(sources: Sequence[Sequence[Array]], targets: Sequence[Sequence[Array]],
                  address: Callable[[Array], int]) -> list[KernelLaunch]:
    """Launches coding the batch ``targets[s] = rows @ sources[s]`` (all shards of one length).

    ``address`` gives a vector's address in the kernel's memory. Raises ``ValueError`` for a shard whose
    address or length is not a multiple of :data:`COLUMN_BYTES`.
    """
    k, rows = len(sources[0]), len(targets[0])
    length = targets[0][0].size
    if length % COLUMN_BYTES:
        raise ValueError(f"shard length {length} is not a multiple of {COLUMN_BYTES}")
    columns = length // COLUMN_BYTES
    launches = []
    for first in range(0, len(sources), MAX_SEGMENTS_PER_LAUNCH):
        chunk = range(first, min(first + MAX_SEGMENTS_PER_LAUNCH, len(sources)))
        source_table = np.array([address(v) for s in chunk for v in sources[s]], dtype=np.uint64)
        target_table = np.array([address(v) for s in chunk for v in targets[s]], dtype=np.uint64)
        if np.any(source_table % COLUMN_BYTES) or np.any(target_table % COLUMN_BYTES):
            raise ValueError(f"shard addresses must be multiples of {COLUMN_BYTES}")
        grid = (-(-columns // THREADS_PER_BLOCK), len(chunk))
        launches.append(KernelLaunch(grid, (THREADS_PER_BLOCK,), source_table, target_table, k, rows, columns))
    return launches
