"""What every job kind shares: its output, its resource declaration, its input errors and its shape.

A kind is a module with ``FIELDS`` (its params schema), ``run`` and ``resources``; the registry in
``compute_pallet.kinds`` names them. ``run`` is a pure function of bytes, so the provider worker can run
it in a subprocess under CPU, memory and time limits and honest providers get identical digests.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from compute_pallet.kinds.params import Field

__all__ = ["KindOutput", "Resources", "InvalidInputs", "Kind", "expect_inputs", "BASE_MEMORY_BYTES",
           "MACS_PER_SECOND", "ceil_div"]

BASE_MEMORY_BYTES = 256 << 20
"""A worker process with numpy loaded, before any data."""

MACS_PER_SECOND = 200_000_000
"""Multiply-adds per second the fixed-order kernels sustain on one core, whole training loop included:
~5e8 measured training on digits on a 2-core EPYC, taken at under half for slower or busy cores."""


@dataclass(frozen=True)
class KindOutput:
    outputs: dict[str, bytes]
    """Output files by name (uploaded to the storage network by the worker)."""
    result: dict[str, object]
    """A JSON-able record of the run (metrics, scores); hashed into the digest canonically."""


@dataclass(frozen=True)
class Resources:
    """What a run needs, estimated from its params and input sizes (the worker's limits start here)."""

    cpu_cores: int
    memory_bytes: int
    seconds: int
    """Wall time on one core at ``MACS_PER_SECOND``, rounded up, at least 1."""

    @classmethod
    def for_work(cls, macs: int, memory_bytes: int) -> Resources:
        """Integers only: the chain sizes a job's memory and commit window from this (no floats in consensus)."""
        return cls(cpu_cores=1, memory_bytes=BASE_MEMORY_BYTES + memory_bytes,
                   seconds=max(1, ceil_div(macs, MACS_PER_SECOND)))

    def blocks(self, block_ms: int) -> int:
        """The run's ``seconds`` in blocks of ``block_ms`` milliseconds, rounded up."""
        return ceil_div(self.seconds * 1000, block_ms)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class InvalidInputs(ValueError):
    """Well-formed input files that do not fit together or this kind (missing, extra, mismatched sizes)."""


class Kind(Protocol):
    FIELDS: Mapping[str, Field]

    def parse(self, params: bytes) -> object:
        """The params, checked; raises ``InvalidParams``."""

    def run(self, inputs: Mapping[str, bytes], params: bytes, seed: bytes, *, xp: ModuleType = ...) -> KindOutput:
        """The kind's outputs; ``xp`` (``numpy`` by default, or ``cupy``) is the array module it computes with,
        to the same bits (see ``kernels``)."""

    def resources(self, params: bytes, input_sizes: Mapping[str, int]) -> Resources: ...


def expect_inputs(names: Collection[str], required: Collection[str], optional: Collection[str] = ()) -> None:
    """Raise ``InvalidInputs`` unless ``names`` holds every required name and nothing unknown."""
    missing = sorted(set(required) - set(names))
    unknown = sorted(set(names) - set(required) - set(optional))
    if missing or unknown:
        raise InvalidInputs(f"missing inputs {missing}, unknown inputs {unknown}")
