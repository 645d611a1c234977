"""Weights of Cairn's calls: reference execution time in picoseconds (``ref_time``).

Measured on the 2-core reference VM with ``benchmarks/runtime_transfers.py`` (a transfer including its
signature check, fees and events takes ~150 µs of CPython time); other calls are scaled from the storage
reads and writes they do. One implementation serves every pallet's ``WeightInfo`` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from runtime.primitives import Weight

__all__ = ["CairnWeights", "US", "READ", "WRITE"]

US = 1_000_000
"""One microsecond of reference time."""
READ = 8 * US
WRITE = 12 * US


@dataclass(frozen=True)
class CairnWeights:
    """``inner_weight`` gives the weight of a nested call (sudo); the runtime wires it in."""

    inner_weight: Callable[[Any], Weight]

    # System
    def remark(self, length: int) -> Weight:
        return Weight(10 * US + length * 2_000, length)

    def set_storage(self, items: int) -> Weight:
        return Weight(10 * US + items * WRITE, 0)

    # Timestamp
    def set(self) -> Weight:
        return Weight(20 * US, 0)

    # Balances
    def transfer_allow_death(self) -> Weight:
        return Weight(100 * US + 2 * READ + 2 * WRITE, 200)

    def transfer_keep_alive(self) -> Weight:
        return self.transfer_allow_death()

    def transfer_all(self) -> Weight:
        return self.transfer_allow_death()

    def force_transfer(self) -> Weight:
        return self.transfer_allow_death()

    def force_set_balance(self) -> Weight:
        return Weight(40 * US + READ + 2 * WRITE, 100)

    # Sudo
    def sudo(self, inner: Any) -> Weight:
        return Weight(15 * US + READ, 40) + self.inner_weight(inner)

    def set_key(self) -> Weight:
        return Weight(15 * US + READ + WRITE, 40)

    # ValidatorSet
    def set_validators(self, count: int) -> Weight:
        return Weight(20 * US + WRITE + count * US, 32 * count)

    def rotate(self, count: int) -> Weight:
        return Weight(20 * US + 2 * READ + 2 * WRITE + count * US, 32 * count)
