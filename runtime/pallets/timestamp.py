"""Timestamp: the block's wall-clock time, set once per block by an inherent.

The runtime has no clock (house rule 1): the block author puts its time in a mandatory unsigned
``Timestamp.set`` extrinsic; the runtime checks it is monotonic with at least ``MinimumPeriod`` between
blocks, and the node checks the drift against its own clock (``BlockBuilder_check_inherents``) before
importing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Protocol

from runtime.frame.composition import PalletDefinition
from runtime.frame.pallet import Constant, DispatchError, Origin, Pallet, call, ensure_none
from runtime.frame.storage import StorageValue
from runtime.primitives import DispatchClass, Weight
from runtime.scale import BOOL, U64, Compact
from runtime.weights import US

__all__ = ["Timestamp", "TimestampConfig", "TimestampParams", "DEFINITION", "MissingTimestamp", "MAX_TIMESTAMP_DRIFT_MS"]

MAX_TIMESTAMP_DRIFT_MS = 30_000
"""How far in the future of the importing node's clock a block's timestamp may be."""


class TimestampWeightInfo(Protocol):
    def set(self) -> Weight: ...


class TimestampWeights:
    def set(self) -> Weight:
        return Weight(20 * US, 0)


@dataclass(frozen=True)
class TimestampParams:
    minimum_period: int = 1000
    """Milliseconds between blocks at least: half the 2 s slot of the presets, as Substrate sets it."""


@dataclass(frozen=True)
class TimestampConfig:
    weights: TimestampWeightInfo
    minimum_period: int
    """Milliseconds; half the slot duration, as in Substrate."""


class AlreadySet(DispatchError):
    """The timestamp was already set in this block."""


class TooEarly(DispatchError):
    """The timestamp is less than ``MinimumPeriod`` after the previous block's."""


class MissingTimestamp(Exception):
    """A block was finalized without a ``Timestamp.set`` inherent: the block is invalid."""


class Timestamp(Pallet[TimestampConfig]):
    NAME = "Timestamp"
    ERRORS = (AlreadySet, TooEarly)
    CONSTANTS = (
        Constant("MinimumPeriod", U64, lambda c: c.minimum_period,
                 "The minimum period between blocks (milliseconds)."),
    )

    now = StorageValue(U64, default=0, docs="The current time for the current block.")
    did_update = StorageValue(BOOL, default=False, docs="Whether the timestamp has been updated in this block.")

    @call(0, weight=lambda w, now: w.set(), dispatch_class=DispatchClass.Mandatory)
    def set(self, origin: Origin, now: Annotated[int, Compact(U64), "T::Moment"]) -> None:
        """Set the current time (an inherent: unsigned, once per block)."""
        ensure_none(origin)
        if self.did_update.get():
            raise AlreadySet()
        previous = self.now.get()
        if previous != 0 and now < previous + self.config.minimum_period:
            raise TooEarly()
        self.now.put(now)
        self.did_update.put(True)

    def block_time_ms(self) -> int:
        """The chain's block time: Aura's slot, twice ``MinimumPeriod`` (as Substrate sets ``MinimumPeriod`` to
        half the slot, so that a block's timestamp may fall anywhere in its slot)."""
        return 2 * self.config.minimum_period

    def on_finalize(self, n: int) -> None:
        if not self.did_update.take():
            raise MissingTimestamp(f"block {n} has no timestamp inherent")

    def integrity_test(self) -> None:
        assert self.config.minimum_period > 0, "MinimumPeriod must be positive"


DEFINITION = PalletDefinition(pallet=Timestamp, config=TimestampConfig, weights=TimestampWeights(),
                              params=TimestampParams)
