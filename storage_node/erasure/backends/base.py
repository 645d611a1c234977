"""What a backend is: the one operation that does the heavy lifting, on the memory it runs on.

Encoding, decoding and repair all reduce to applying a small coefficient matrix (``rows x k``) to
``k`` equally long shards: ``target[r] = XOR over j of rows[r, j] * source[j]`` in GF(2^8), byte by
byte. Parity uses the generator's bottom rows; recovery uses rows from :mod:`..matrix`. A backend does
only that, in two steps so the per-matrix set-up (ISA-L's tables, a GPU copy of the rows, the NumPy
bit plan) is paid once per code or erasure pattern:

- ``prepare(rows)`` turns a ``uint8`` matrix into the backend's own form;
- ``apply(prepared, sources, targets)`` codes a batch of segments: for each segment ``s``,
  ``targets[s][r] = rows @ sources[s]``. All vectors are 1-D ``uint8`` of one length, a multiple of
  ``SHARD_ALIGNMENT``; targets are distinct from sources and from each other.

Backends may also bring their own generator and inverse (ISA-L does); all must agree byte for byte.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from storage_node.erasure import matrix
from storage_node.erasure.arrays import Array, to_host
from storage_node.erasure.params import CodeParams

Batch = Sequence[Sequence[Array]]
"""Shards of several segments: ``batch[segment][shard]``."""


class Backend(ABC):
    """One way of doing GF(2^8) matrix-times-shards; stateless apart from what its constructor loads."""

    name: ClassVar[str]

    def generator(self, params: CodeParams) -> np.ndarray:
        """The ``n x k`` generator matrix (identity over ISA-L's cauchy1 rows)."""
        return matrix.cauchy1_generator(params.k, params.m)

    def invert(self, square: np.ndarray) -> np.ndarray:
        """The inverse of a square matrix over GF(2^8)."""
        return matrix.invert(square)

    def accept(self, vector: Array) -> Array:
        """``vector`` in memory this backend codes from: host backends bring GPU arrays to the host."""
        return to_host(vector)

    @abstractmethod
    def prepare(self, rows: np.ndarray) -> Any:
        """The backend's form of a ``uint8`` coefficient matrix, reusable across calls to :meth:`apply`."""

    @abstractmethod
    def apply(self, prepared: Any, sources: Batch, targets: Batch) -> None:
        """``targets[s][r] = rows @ sources[s]`` for every segment ``s`` of the batch."""
