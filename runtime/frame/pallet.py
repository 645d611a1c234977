"""The pallet framework: what a pallet declares, and the vocabulary its calls use.

A pallet is a class with:

- ``NAME`` — the storage prefix and metadata name (wire format: never rename);
- a frozen ``Config`` dataclass — what the runtime injects: constants, other pallets behind ``Protocol``s,
  weights (pallets never import each other, house rule 2);
- storage items (:mod:`runtime.frame.storage`) as class attributes;
- calls — methods decorated with :func:`call`, each with a fixed index, a weight function and docs; the
  argument types come from ``Annotated`` hints, so the same declaration drives decoding, dispatch and
  metadata;
- ``EVENTS`` and ``ERRORS`` — event dataclasses and :class:`DispatchError` subclasses; their position in
  the tuple is their wire index;
- ``CONSTANTS`` — values exposed in metadata;
- ``HOLD_REASONS`` and ``FREEZE_REASONS`` — field-less ``IntEnum`` classes naming why the pallet holds or freezes
  balance (a stake, a deposit, an escrow); the runtime composes them into ``RuntimeHoldReason`` and
  ``RuntimeFreezeReason`` (variant = the pallet, at its index), as FRAME's ``#[pallet::composite_enum]``;
- hooks ``on_initialize``, ``on_finalize``, ``integrity_test``, ``warm_up``.

A call checks everything first, then writes (house rule 4). It raises a :class:`DispatchError` for a user
error; the dispatcher rolls its writes back and the extrinsic still pays its fee.
"""

from __future__ import annotations

import enum
import inspect
import typing
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Generic, Iterator, TypeVar

from runtime.primitives import (
    PHASE,
    ArithmeticError,
    DispatchClass,
    DispatchErrors,
    DispatchInfo,
    Pays,
    PhaseKind,
    TokenError,
    Weight,
)
from runtime.scale import Codec, _annotated_codec

__all__ = [
    "DispatchError",
    "BadOrigin",
    "CannotLookup",
    "Other",
    "ArithmeticOverflow",
    "ArithmeticUnderflow",
    "TokenErrorRaised",
    "Origin",
    "OriginKind",
    "ensure_signed",
    "ensure_root",
    "ensure_none",
    "call",
    "CallSpec",
    "PostDispatchInfo",
    "FEE_WAIVED",
    "refusals_weigh",
    "CallArg",
    "Constant",
    "Pallet",
    "Env",
]

# --- dispatch errors ------------------------------------------------------------------------------


class DispatchError(Exception):
    """A user error raised by a call: its writes roll back, its fee is still paid.

    Subclasses listed in a pallet's ``ERRORS`` become ``DispatchError::Module`` with that pallet's index;
    the framework's own subclasses below map to Substrate's other ``DispatchError`` variants."""

    system_variant: ClassVar[Any] = None
    actual_weight: Weight | None = None
    """The weight the call used before it failed, where it can say (see :meth:`with_actual_weight`)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or (type(self).__doc__ or type(self).__name__).strip().splitlines()[0])

    def with_actual_weight(self, weight: Weight) -> DispatchError:
        """This error, saying the call used ``weight`` before it failed (FRAME's ``DispatchErrorWithPostInfo``):
        a call admitted at the worst its arguments allow that is refused before the costly part (a declaration
        refused before reading the storage nodes) is charged for what it did, as a call that succeeds is
        (:class:`PostDispatchInfo`), and never more than it was admitted for. It cannot waive its fee: a refused
        call pays."""
        self.actual_weight = weight
        return self


@contextmanager
def refusals_weigh(weight: Callable[[], Weight]) -> Iterator[None]:
    """A :class:`DispatchError` raised in the block that does not say its weight says ``weight()`` (computed only
    then)."""
    try:
        yield
    except DispatchError as error:
        if error.actual_weight is None:
            error.with_actual_weight(weight())
        raise


class BadOrigin(DispatchError):
    """The call's origin is not allowed to make it."""

    system_variant = DispatchErrors.BadOrigin()


class CannotLookup(DispatchError):
    """An address could not be resolved to an account."""

    system_variant = DispatchErrors.CannotLookup()


class Other(DispatchError):
    """Some other error."""

    system_variant = DispatchErrors.Other()


class ArithmeticOverflow(DispatchError):
    """An arithmetic operation overflowed."""

    system_variant = DispatchErrors.Arithmetic(ArithmeticError.Overflow)


class ArithmeticUnderflow(DispatchError):
    """An arithmetic operation underflowed."""

    system_variant = DispatchErrors.Arithmetic(ArithmeticError.Underflow)


class TokenErrorRaised(DispatchError):
    """A fungible-token rule was broken (``DispatchError::Token``)."""

    def __init__(self, kind: TokenError) -> None:
        super().__init__(f"token error: {kind.name}")
        self.system_variant = DispatchErrors.Token(kind)


# --- origins --------------------------------------------------------------------------------------


class OriginKind(enum.Enum):
    SIGNED = "signed"
    ROOT = "root"
    NONE = "none"


@dataclass(frozen=True)
class Origin:
    """Who dispatches a call: an account (signed extrinsic), root (sudo, genesis) or none (inherents)."""

    kind: OriginKind
    who: bytes | None = None

    @staticmethod
    def signed(who: bytes) -> "Origin":
        return Origin(OriginKind.SIGNED, who)

    @staticmethod
    def root() -> "Origin":
        return Origin(OriginKind.ROOT)

    @staticmethod
    def none() -> "Origin":
        return Origin(OriginKind.NONE)


def ensure_signed(origin: Origin) -> bytes:
    if origin.kind is not OriginKind.SIGNED:
        raise BadOrigin()
    return origin.who  # type: ignore[return-value]


def ensure_root(origin: Origin) -> None:
    if origin.kind is not OriginKind.ROOT:
        raise BadOrigin()


def ensure_none(origin: Origin) -> None:
    if origin.kind is not OriginKind.NONE:
        raise BadOrigin()


# --- calls ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallArg:
    name: str
    codec: Codec
    type_name: str | None


@dataclass
class CallSpec:
    """One dispatchable call of a pallet, as declared by :func:`call`."""

    index: int
    name: str
    function: Callable[..., Any]
    weight: Callable[..., Weight] | Weight
    dispatch_class: DispatchClass
    pays: Pays
    docs: tuple[str, ...]
    args: tuple[CallArg, ...] = ()
    pallet_index: int = -1
    pallet_name: str = ""

    def resolve_args(self, substitutions: dict[Codec, Codec]) -> None:
        """Read argument codecs from the function's hints, replacing runtime placeholders."""
        hints = typing.get_type_hints(self.function, include_extras=True)
        params = list(inspect.signature(self.function).parameters)[2:]  # skip self, origin
        args = []
        for name in params:
            codec, type_name = _annotated_codec(hints[name], f"{self.name}({name})")
            args.append(CallArg(name, substitutions.get(codec, codec), type_name))
        self.args = tuple(args)


@dataclass(frozen=True)
class PostDispatchInfo:
    """What a call may return to correct its dispatch info once it ran (FRAME's ``DispatchResultWithPostInfo``).

    ``actual_weight``: the weight the call used, when its declared weight had to assume the worst its arguments
    allow before it ran (every registered node read, where there may be up to ``max_nodes``). The executive gives
    the difference back, as Substrate's ``CheckWeight`` and ``ChargeTransactionPayment`` do after dispatch: to the
    block (more transactions fit) and, as the fee it no longer owes, to the signer. It is capped at the declared
    weight: a call can never be charged more than it was admitted for. A call that fails pays its declared
    weight, unless its error says what it used (:meth:`DispatchError.with_actual_weight`).

    ``pays_fee``: ``Pays.No`` waives the fee, all but the tip going back to the signer. For calls that are the
    protocol's own business when they succeed (an audit answer that proved storage), so that doing one's duty
    costs nothing while a failed or spurious call still pays."""

    actual_weight: Weight | None = None
    pays_fee: Pays = Pays.Yes

    def corrected(self, info: DispatchInfo) -> DispatchInfo:
        """``info`` as the call turned out: its weight lowered to the actual one, its fee waived if either side
        waived it (FRAME's ``calc_actual_weight`` and ``pays_fee``)."""
        weight = info.weight if self.actual_weight is None else info.weight.min(self.actual_weight)
        pays = Pays.No if Pays.No in (info.pays_fee, self.pays_fee) else Pays.Yes
        return DispatchInfo(weight, info.class_, pays)


FEE_WAIVED = PostDispatchInfo(pays_fee=Pays.No)


def call(index: int, *, weight: Callable[..., Weight] | Weight, dispatch_class: DispatchClass = DispatchClass.Normal,
         pays: Pays = Pays.Yes) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a dispatchable call. ``weight`` is a ``Weight`` or ``fn(weights, *args) -> Weight`` given the
    pallet's ``WeightInfo`` and the call's arguments. ``index`` is wire format: never reuse or change it."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = inspect.getdoc(fn) or ""
        fn.__call_spec__ = CallSpec(index, fn.__name__, fn, weight, dispatch_class, pays, tuple(doc.splitlines()))  # type: ignore[attr-defined]
        return fn

    return wrap


# --- constants ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constant:
    """A value from the pallet's config published in metadata (e.g. ``Balances.ExistentialDeposit``)."""

    name: str
    codec: Codec
    value: Callable[[Any], Any]
    docs: str = ""


# --- the pallet base ------------------------------------------------------------------------------


_INITIALIZATION = PHASE.encode(PhaseKind.Initialization())


class _NotExecuting:
    """The overlay a thread sees outside any execution: touching storage there is a bug, said plainly."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("the runtime is not executing on this thread: bind it with runtime.executing(overlay)")


NOT_EXECUTING: Any = _NotExecuting()


class Env:
    """What every pallet reaches of the runtime it runs in. Filled by the runtime's construction.

    The wiring (event codecs, ``deposit_event``, ``block_number``) is fixed once the runtime is built and
    shared by every thread. The execution state (the overlay an execution reads and writes, and the encoded
    ``Phase`` System records events with) lives in context variables, so it is per thread: a node's block
    import, pool validation and RPC queries use one runtime instance at once, each bound to its own overlay,
    and none can see another's (DESIGN.md rule 5)."""

    def __init__(self) -> None:
        tag = f"{id(self):x}"
        self._overlay: ContextVar[Any] = ContextVar(f"cairn-overlay-{tag}", default=NOT_EXECUTING)
        self._phase: ContextVar[bytes] = ContextVar(f"cairn-phase-{tag}", default=_INITIALIZATION)
        self.current_overlay = self._overlay.get
        """This thread's overlay; hot paths call it rather than the ``overlay`` property."""
        self.current_phase = self._phase.get
        """This thread's encoded phase (for every event deposited)."""
        self.event_record_codec: Any = None
        self.events_codec: Any = None
        self.deposit_event: Callable[[Any], None] = lambda event: None
        self.block_number: Callable[[], int] = lambda: 0

    @contextmanager
    def executing(self, overlay: Any) -> Iterator[None]:
        """Bind the calling thread to ``overlay`` until the block ends (see ``RuntimeBase.executing``); the
        phase starts at ``Initialization`` and what it was before comes back afterwards."""
        overlay_token = self._overlay.set(overlay)
        phase_token = self._phase.set(_INITIALIZATION)
        try:
            yield
        finally:
            self._phase.reset(phase_token)
            self._overlay.reset(overlay_token)

    @property
    def overlay(self) -> Any:
        """The overlay this thread is executing on."""
        return self._overlay.get()

    @property
    def phase(self) -> bytes:
        """The SCALE-encoded ``Phase`` of this thread's execution, as System last set it."""
        return self._phase.get()

    @phase.setter
    def phase(self, encoded: bytes) -> None:
        if self._overlay.get() is NOT_EXECUTING:
            raise RuntimeError("the runtime is not executing on this thread")
        self._phase.set(encoded)  # (undone when the execution ends, with the rest)


C = TypeVar("C")


class Pallet(Generic[C]):
    NAME: ClassVar[str]
    CRATE: ClassVar[str] = ""
    """Rust crate name used in metadata type paths (``pallet_balances::pallet::Call``)."""
    EVENTS: ClassVar[tuple[type, ...]] = ()
    ERRORS: ClassVar[tuple[type[DispatchError], ...]] = ()
    CONSTANTS: ClassVar[tuple[Constant, ...]] = ()
    HOLD_REASONS: ClassVar[type[enum.IntEnum] | None] = None
    FREEZE_REASONS: ClassVar[type[enum.IntEnum] | None] = None
    DOCS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: C, env: Env) -> None:
        self.config = config
        self.env = env

    @classmethod
    def call_specs(cls) -> list[CallSpec]:
        specs = [member.__call_spec__ for member in vars(cls).values() if hasattr(member, "__call_spec__")]
        indices = [s.index for s in specs]
        if len(set(indices)) != len(indices):
            raise TypeError(f"{cls.NAME}: duplicate call index in {sorted(indices)}")
        return sorted(specs, key=lambda s: s.index)

    @classmethod
    def crate(cls) -> str:
        if cls.CRATE:
            return cls.CRATE
        snake = "".join("_" + c.lower() if c.isupper() else c for c in cls.NAME).lstrip("_")
        return f"pallet_{snake}"

    def deposit_event(self, event: Any) -> None:
        self.env.deposit_event(event)

    def block_number(self) -> int:
        return self.env.block_number()

    # hooks: override as needed
    def on_initialize(self, n: int) -> Weight:
        return Weight.ZERO  # type: ignore[attr-defined]

    def on_finalize(self, n: int) -> None:
        pass

    def integrity_test(self) -> None:
        pass

    def warm_up(self) -> None:
        """Build, once per process, what the pallet's calls need and is slow to make (the DA pallet's KZG
        setup). A node calls it in the background at start, so the first block that needs it does not stall;
        a call that comes first builds it itself."""

