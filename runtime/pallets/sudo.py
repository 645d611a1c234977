"""Sudo: one key that may dispatch any call as root (dev and test networks, and bootstrapping)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from runtime.frame.composition import PalletDefinition
from runtime.frame.construct import RUNTIME_CALL, Call
from runtime.frame.pallet import DispatchError, Origin, Pallet, call, ensure_signed
from runtime.frame.storage import StorageValue
from runtime.primitives import ACCOUNT_ID, DISPATCH_ERROR, AccountId, AccountIdLookup, DispatchClass, DispatchInfo, Weight
from runtime.scale import UNIT, Err, Ok, Option, Result
from runtime.ss58 import ss58_decode, ss58_encode
from runtime.weights import READ, US, WRITE

__all__ = ["Sudo", "SudoConfig", "SudoGenesis", "DEFINITION"]

SudoCall = Annotated[Call, RUNTIME_CALL, "Box<<T as Config>::RuntimeCall>"]
DISPATCH_RESULT = Result(UNIT, DISPATCH_ERROR)


class Dispatcher(Protocol):
    """The runtime itself: dispatch a nested call and describe its errors."""

    def dispatch(self, call: Call, origin: Origin) -> None: ...
    def dispatch_info(self, call: Call) -> DispatchInfo: ...
    def dispatch_error(self, error: DispatchError) -> Any: ...


class SudoWeightInfo(Protocol):
    def sudo(self, inner: Call) -> Weight:
        """The sudo overhead plus the inner call's own weight."""
    def set_key(self) -> Weight: ...


@dataclass(frozen=True)
class SudoWeights:
    dispatcher: Dispatcher
    """Gives the nested call's own weight."""

    def sudo(self, inner: Call) -> Weight:
        return Weight(15 * US + READ, 40) + self.dispatcher.dispatch_info(inner).weight

    def set_key(self) -> Weight:
        return Weight(15 * US + READ + WRITE, 40)


@dataclass(frozen=True)
class SudoConfig:
    dispatcher: Dispatcher
    weights: SudoWeightInfo


@dataclass(frozen=True)
class SudoGenesis:
    """The sudo key, if the chain has one."""

    key: bytes | None = None

    def to_json(self) -> dict:
        return {"key": ss58_encode(self.key) if self.key is not None else None}

    @classmethod
    def from_json(cls, doc: dict) -> "SudoGenesis":
        key = doc.get("key")
        return cls(ss58_decode(key) if key is not None else None)

    def build(self, pallet: "Sudo") -> None:
        if self.key is not None:
            pallet.key.put(self.key)


@dataclass(frozen=True)
class Sudid:
    """A sudo call just took place."""

    sudo_result: Annotated[Any, DISPATCH_RESULT, "DispatchResult"]


@dataclass(frozen=True)
class KeyChanged:
    """The sudo key has been updated."""

    old: Annotated[bytes | None, Option(ACCOUNT_ID), "Option<T::AccountId>"]
    new: AccountId


@dataclass(frozen=True)
class KeyRemoved:
    """The key was permanently removed."""


@dataclass(frozen=True)
class SudoAsDone:
    """A [sudo_as](Pallet::sudo_as) call just took place."""

    sudo_result: Annotated[Any, DISPATCH_RESULT, "DispatchResult"]


class RequireSudo(DispatchError):
    """Sender must be the Sudo account."""


class Sudo(Pallet[SudoConfig]):
    """Every sudo call pays its fee up front like any other: anyone may submit one, and without a
    post-dispatch refund a free call would be a free way to fill blocks."""

    NAME = "Sudo"
    EVENTS = (Sudid, KeyChanged, KeyRemoved, SudoAsDone)
    ERRORS = (RequireSudo,)

    key = StorageValue(ACCOUNT_ID, docs="The `AccountId` of the sudo key.")

    def _ensure_sudo(self, origin: Origin) -> bytes:
        who = ensure_signed(origin)
        if who != self.key.get():
            raise RequireSudo()
        return who

    def _run(self, call_: Call, origin: Origin) -> Any:
        try:
            self.config.dispatcher.dispatch(call_, origin)
        except DispatchError as error:
            return Err(self.config.dispatcher.dispatch_error(error))
        return Ok(())

    @call(0, weight=lambda w, call: w.sudo(call))
    def sudo(self, origin: Origin, call: SudoCall) -> None:
        """Dispatch ``call`` with root origin. The inner call's outcome is reported in ``Sudid``."""
        self._ensure_sudo(origin)
        self.deposit_event(Sudid(self._run(call, Origin.root())))

    @call(1, weight=lambda w, call, weight: weight, dispatch_class=DispatchClass.Operational)
    def sudo_unchecked_weight(self, origin: Origin, call: SudoCall, weight: Weight) -> None:
        """Dispatch ``call`` with root origin, declaring its weight explicitly."""
        self._ensure_sudo(origin)
        self.deposit_event(Sudid(self._run(call, Origin.root())))

    @call(2, weight=lambda w, new: w.set_key())
    def set_key(self, origin: Origin, new: AccountIdLookup) -> None:
        """Authenticates the current sudo key and sets the given account as the new sudo key."""
        old = self._ensure_sudo(origin)
        self.key.put(new)
        self.deposit_event(KeyChanged(old, new))

    @call(3, weight=lambda w, who, call: w.sudo(call))
    def sudo_as(self, origin: Origin, who: AccountIdLookup, call: SudoCall) -> None:
        """Dispatch ``call`` as if signed by ``who``."""
        self._ensure_sudo(origin)
        self.deposit_event(SudoAsDone(self._run(call, Origin.signed(who))))

    @call(4, weight=lambda w: w.set_key())
    def remove_key(self, origin: Origin) -> None:
        """Permanently removes the sudo key. **This cannot be un-done.**"""
        self._ensure_sudo(origin)
        self.key.kill()
        self.deposit_event(KeyRemoved())


def _sudo_config(config_type: type, params: object, weights: None, wired: dict) -> SudoConfig:
    return SudoConfig(dispatcher=wired["dispatcher"], weights=SudoWeights(wired["dispatcher"]))


DEFINITION = PalletDefinition(pallet=Sudo, config=SudoConfig, weights=None, genesis=SudoGenesis,
                              build_config=_sudo_config)
