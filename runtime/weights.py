"""Units of weight: reference execution time in picoseconds (``ref_time``).

Measured on the 2-core reference VM with ``benchmarks/runtime_transfers.py`` (a transfer including its
signature check, fees and events takes ~150 µs of CPython time); other calls are scaled from the storage
reads and writes they do. Each pallet's own weights class (``BalancesWeights``, ...) is written in these
units beside the pallet.
"""

from __future__ import annotations

__all__ = ["US", "READ", "WRITE"]

US = 1_000_000
"""One microsecond of reference time."""
READ = 8 * US
WRITE = 12 * US
