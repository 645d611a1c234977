"""Runtime construction: pallets at fixed indices, and the aggregate types built from them.

This is the Python counterpart of FRAME's ``construct_runtime!``: given pallet instances at their indices it
builds the ``RuntimeCall`` and ``RuntimeEvent`` codecs (variant index = pallet index, variant name = pallet
name, one field: the pallet's own ``Call``/``Event`` enum), the ``RuntimeHoldReason`` and
``RuntimeFreezeReason`` enums (the same shape, from the pallets' ``HOLD_REASONS``/``FREEZE_REASONS``), the map
from error classes to module error indices, and dispatch with transactional rollback.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
from dataclasses import dataclass
from typing import Any, ContextManager, Sequence, TypeVar

from runtime.frame.composition import PalletSlot, RuntimeParams
from runtime.frame.pallet import (
    CallSpec,
    CannotLookup,
    DispatchError,
    Env,
    Origin,
    Pallet,
    PostDispatchInfo,
)
from runtime.primitives import (
    ACCOUNT_LOOKUP,
    PHASE,
    DispatchErrors,
    DispatchInfo,
    LookupFailed,
    ModuleError,
    Weight,
)
from runtime.scale import (
    H256,
    Codec,
    Enum,
    Placeholder,
    ScaleDecodeError,
    CEnum,
    Vec,
    _docs_of,
    _field,
    _variant,
)

__all__ = ["RUNTIME_CALL", "RUNTIME_EVENTS", "RUNTIME_HOLD_REASON", "RUNTIME_FREEZE_REASON", "Call", "RuntimeBase",
           "EventRecord", "UnknownCall", "MAX_CALL_DEPTH", "RuntimeReason", "ComposedReasons"]

P = TypeVar("P", bound=Pallet)

RUNTIME_CALL = Placeholder("RuntimeCall")
"""Annotate a call argument with this to take a nested runtime call (``Sudo::sudo``)."""
RUNTIME_EVENTS = Placeholder("Vec<EventRecord>")
"""The type of ``System.Events``: known only once every pallet's events are."""


class UnknownCall(ScaleDecodeError):
    """The pallet or call index names no call of this runtime."""


MAX_CALL_DEPTH = 32
"""Calls nested in calls (``Sudo.sudo(Utility.batch([...]))``) a decoded call may hold, itself included. Real
nesting is a handful deep; without a bound, a few hundred 2-byte ``Sudo.sudo`` headers (decoded before any
signature check) exhaust Python's stack in the decoder or in the weight functions that recurse the same way.
(Substrate bounds it too, at 256 — its frames are far smaller than Python's.)"""


@dataclass(frozen=True, eq=False)
class Call:
    """A decoded call: which one, and its arguments in declaration order."""

    spec: CallSpec
    args: tuple

    @property
    def pallet(self) -> str:
        return self.spec.pallet_name

    @property
    def name(self) -> str:
        return self.spec.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Call) and other.spec is self.spec and other.args == self.args

    def __hash__(self) -> int:
        return hash((self.spec.pallet_index, self.spec.index, self.args))

    def __repr__(self) -> str:
        args = ", ".join(f"{a.name}={v!r}" for a, v in zip(self.spec.args, self.args))
        return f"{self.pallet}.{self.name}({args})"


@dataclass(frozen=True)
class EventRecord:
    """``frame_system::EventRecord``: when (phase), what (a pallet event instance), and topics."""

    phase: Any
    event: Any
    topics: tuple = ()


@dataclass(frozen=True)
class RuntimeReason:
    """A value of ``RuntimeHoldReason`` or ``RuntimeFreezeReason``: which pallet gave the reason (its index)
    and which of that pallet's reasons it is (a member of its ``HOLD_REASONS``/``FREEZE_REASONS``; decoded
    from state without the runtime at hand it is the plain index, which compares equal to the member)."""

    pallet_index: int
    reason: int


class _RuntimeReasonCodec(Codec):
    """The bytes of a composed reason: the pallet index, then the reason's index. Reasons are field-less, so
    every value is these two bytes whatever the composition, and Balances' storage and events can use this
    one codec in every runtime; the metadata shows that runtime's :class:`ComposedReasons` in its place."""

    def __init__(self, name: str) -> None:
        self.name = name

    def encode(self, value: RuntimeReason) -> bytes:
        return bytes((value.pallet_index, int(value.reason)))

    def decode_from(self, data: bytes, offset: int) -> tuple[RuntimeReason, int]:
        if offset + 2 > len(data):
            raise ScaleDecodeError(f"truncated {self.name}")
        return RuntimeReason(data[offset], data[offset + 1]), offset + 2

    def type_def(self, registry: Any) -> dict:
        raise TypeError(f"{self.name} is described in metadata by the runtime's composed enum")

    def __repr__(self) -> str:
        return self.name


RUNTIME_HOLD_REASON = _RuntimeReasonCodec("RuntimeHoldReason")
"""Annotate a field with this to hold a ``RuntimeHoldReason`` (``Balances.Holds``, ``Balances::Held``)."""
RUNTIME_FREEZE_REASON = _RuntimeReasonCodec("RuntimeFreezeReason")
"""Annotate a field with this to hold a ``RuntimeFreezeReason`` (``Balances.Freezes``)."""


class ComposedReasons(Codec):
    """``<runtime>::RuntimeHoldReason`` (or ``RuntimeFreezeReason``) of one runtime: a variant per pallet that
    declares reasons (index = pallet index, name = pallet name, one field: the pallet's own field-less
    ``HoldReason`` enum). Its bytes are :data:`RUNTIME_HOLD_REASON`'s; decoding also checks the reason exists.

    Balances turns a pallet's reason into the value it stores with :meth:`of`, so a pallet holds balance
    with its own enum (``currency.hold(HoldReason.StorageDeposit, who, amount)``) and never needs its index.
    """

    def __init__(self, runtime_crate: str, name: str, declared: Sequence[tuple[int, type[Pallet], type[enum.IntEnum]]],
                 kind: str) -> None:
        self.path = (runtime_crate, name)
        self.variants: dict[int, tuple[str, CEnum]] = {}
        self._index_of: dict[type, int] = {}
        for index, pallet, reasons in declared:
            if reasons in self._index_of:
                raise TypeError(f"{reasons.__name__} is declared by two pallets")
            self._index_of[reasons] = index
            self.variants[index] = (pallet.NAME, CEnum(reasons, (pallet.crate(), "pallet", kind)))

    def of(self, reason: enum.IntEnum) -> RuntimeReason:
        """The runtime-level value of a pallet's reason; ``ValueError`` if no pallet here declares it."""
        index = self._index_of.get(type(reason))
        if index is None:
            raise ValueError(f"{type(reason).__name__} is not a {self.path[-1]} of any pallet in this runtime")
        return RuntimeReason(index, reason)

    def names(self, reason: RuntimeReason) -> tuple[str, str]:
        """The pallet and the reason a value names, as people read them (``("StorageNodes", "NodeStake")``); their
        indices where this runtime names none (a state written by a later runtime)."""
        variant = self.variants.get(reason.pallet_index)
        if variant is None:
            return f"pallet {reason.pallet_index}", f"reason {int(reason.reason)}"
        try:
            return variant[0], variant[1].enum_cls(reason.reason).name
        except ValueError:
            return variant[0], f"reason {int(reason.reason)}"

    @property
    def variant_count(self) -> int:
        """How many reasons there are in all (FRAME's ``VariantCount``)."""
        return sum(len(reasons.enum_cls) for _, reasons in self.variants.values())

    def encode(self, value: RuntimeReason) -> bytes:
        return bytes((value.pallet_index, int(value.reason)))

    def decode_from(self, data: bytes, offset: int) -> tuple[RuntimeReason, int]:
        variant = self.variants.get(data[offset]) if offset < len(data) else None
        if variant is None:
            raise ScaleDecodeError(f"no pallet with a {self.path[-1]} at this index")
        reason, end = variant[1].decode_from(data, offset + 1)
        return RuntimeReason(data[offset], reason), end

    def type_def(self, registry: Any) -> dict:
        return {"variant": {"variants": [
            _variant(name, index, [_field(None, registry.id_of(reasons), f"{reasons.path[0]}::{reasons.path[-1]}")])
            for index, (name, reasons) in sorted(self.variants.items())
        ]}}


class _PalletCalls(Codec):
    """``<crate>::pallet::Call``: metadata only; the bytes are handled by :class:`_RuntimeCallCodec`."""

    def __init__(self, pallet: Pallet, specs: Sequence[CallSpec]) -> None:
        self.path = (type(pallet).crate(), "pallet", "Call")
        self.docs = ("Contains a variant per dispatchable extrinsic that this pallet has.",)
        self.specs = specs

    def type_params(self, registry: Any) -> list[dict]:
        return [{"name": "T", "type": None}]

    def type_def(self, registry: Any) -> dict:
        return {"variant": {"variants": [
            _variant(s.name, s.index, [_field(a.name, registry.id_of(a.codec), a.type_name) for a in s.args], s.docs)
            for s in self.specs
        ]}}


class _PalletErrors(Codec):
    """``<crate>::pallet::Error``: a field-less enum of the pallet's ``ERRORS`` (metadata only)."""

    def __init__(self, pallet: Pallet) -> None:
        self.path = (type(pallet).crate(), "pallet", "Error")
        self.docs = ("The `Error` enum of this pallet.",)
        self.errors = type(pallet).ERRORS

    def type_params(self, registry: Any) -> list[dict]:
        return [{"name": "T", "type": None}]

    def type_def(self, registry: Any) -> dict:
        return {"variant": {"variants": [
            _variant(e.__name__, i, [], _docs_of(e)) for i, e in enumerate(self.errors)
        ]}}


class _RuntimeCallCodec(Codec):
    """``<runtime>::RuntimeCall``: pallet index byte, call index byte, then the arguments."""

    def __init__(self, runtime_crate: str, pallets: dict[int, Pallet], specs: dict[int, dict[int, CallSpec]]) -> None:
        self.path = (runtime_crate, "RuntimeCall")
        self.pallets = pallets
        self.specs = specs
        self.pallet_types = {i: _PalletCalls(p, list(specs[i].values())) for i, p in pallets.items() if specs[i]}
        self._nesting = threading.local()
        """How deep the decoder of the current thread is (blocks and transactions are decoded in threads)."""

    def encode(self, call: Call) -> bytes:
        spec = call.spec
        if len(call.args) != len(spec.args):
            raise ValueError(f"{spec.pallet_name}.{spec.name} takes {len(spec.args)} arguments")
        return bytes((spec.pallet_index, spec.index)) + b"".join(
            a.codec.encode(v) for a, v in zip(spec.args, call.args)
        )

    def decode_from(self, data: bytes, offset: int) -> tuple[Call, int]:
        if offset + 2 > len(data):
            raise ScaleDecodeError("truncated call")
        calls = self.specs.get(data[offset])
        if calls is None:
            raise UnknownCall(f"no pallet at index {data[offset]}")
        spec = calls.get(data[offset + 1])
        if spec is None:
            raise UnknownCall(f"pallet {self.pallets[data[offset]].NAME} has no call at index {data[offset + 1]}")
        offset += 2
        depth = getattr(self._nesting, "depth", 0)
        if depth >= MAX_CALL_DEPTH:
            raise ScaleDecodeError(f"calls nested more than {MAX_CALL_DEPTH} deep")
        self._nesting.depth = depth + 1
        try:
            args = []
            for arg in spec.args:
                value, offset = arg.codec.decode_from(data, offset)
                args.append(value)
        finally:
            self._nesting.depth = depth
        return Call(spec, tuple(args)), offset

    def type_def(self, registry: Any) -> dict:
        return {"variant": {"variants": [
            _variant(self.pallets[i].NAME, i, [_field(None, registry.id_of(t), f"self::sp_api_hidden_includes_construct_runtime::hidden_include::dispatch::CallableCallFor<{self.pallets[i].NAME}, Runtime>")])
            for i, t in sorted(self.pallet_types.items())
        ]}}


class _RuntimeEventCodec(Codec):
    """``<runtime>::RuntimeEvent``: pallet index byte, then the pallet's ``Event`` enum."""

    def __init__(self, runtime_crate: str, pallets: dict[int, Pallet]) -> None:
        self.path = (runtime_crate, "RuntimeEvent")
        self.pallet_enums: dict[int, Enum] = {}
        self.pallet_of: dict[type, int] = {}
        self.names: dict[int, str] = {}
        for index, pallet in pallets.items():
            events = type(pallet).EVENTS
            if not events:
                continue
            self.pallet_enums[index] = Enum(
                (type(pallet).crate(), "pallet", "Event"), list(enumerate(events)),
                docs=("The `Event` enum of this pallet",), params=[("T", None)],
            )
            self.names[index] = pallet.NAME
            for cls in events:
                if cls in self.pallet_of:
                    raise TypeError(f"event {cls.__name__} belongs to two pallets")
                self.pallet_of[cls] = index

    def encode(self, event: Any) -> bytes:
        try:
            index = self.pallet_of[type(event)]
        except KeyError:
            raise ValueError(f"{type(event).__name__} is not an event of any pallet in this runtime") from None
        return bytes((index,)) + self.pallet_enums[index].encode(event)

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        if offset >= len(data):
            raise ScaleDecodeError("truncated event")
        enum = self.pallet_enums.get(data[offset])
        if enum is None:
            raise ScaleDecodeError(f"no pallet with events at index {data[offset]}")
        return enum.decode_from(data, offset + 1)

    def pallet_name_of(self, event: Any) -> str:
        return self.names[self.pallet_of[type(event)]]

    def type_def(self, registry: Any) -> dict:
        return {"variant": {"variants": [
            _variant(self.names[i], i, [_field(None, registry.id_of(e), f"{self.names[i].lower()}::Event")])
            for i, e in sorted(self.pallet_enums.items())
        ]}}


class _EventRecordCodec(Codec):
    path = ("frame_system", "EventRecord")

    def __init__(self, event: _RuntimeEventCodec) -> None:
        self.event = event
        self.topics = Vec(H256)

    def encode(self, record: EventRecord) -> bytes:
        return self.encode_with_phase(PHASE.encode(record.phase), record.event, record.topics)

    def encode_with_phase(self, phase: bytes, event: Any, topics: tuple = ()) -> bytes:
        """The record for an already-encoded phase: System deposits several events per phase."""
        return phase + self.event.encode(event) + (self.topics.encode(topics) if topics else b"\x00")

    def decode_from(self, data: bytes, offset: int) -> tuple[EventRecord, int]:
        phase, offset = PHASE.decode_from(data, offset)
        event, offset = self.event.decode_from(data, offset)
        topics, offset = self.topics.decode_from(data, offset)
        return EventRecord(phase, event, topics), offset

    def type_params(self, registry: Any) -> list[dict]:
        return [{"name": "E", "type": registry.id_of(self.event)}, {"name": "T", "type": registry.id_of(H256)}]

    def type_def(self, registry: Any) -> dict:
        return {"composite": {"fields": [
            _field("phase", registry.id_of(PHASE), "Phase"),
            _field("event", registry.id_of(self.event), "E"),
            _field("topics", registry.id_of(self.topics), "Vec<T>"),
        ]}}


class RuntimeBase:
    """The pallets of one runtime, built from a composition list and wired together, with call dispatch.

    The pallets and codecs are fixed at construction; what an execution changes (the overlay, the phase)
    lives per thread in :class:`~runtime.frame.pallet.Env`, so one instance serves any number of threads:
    bind the calling thread to a state overlay with :meth:`executing` before using the pallets.

    The pallet at index 0 is System, as in every FRAME runtime: events and the block number go through it.
    """

    CRATE = "runtime"

    def __init__(self, composition: Sequence[PalletSlot], params: RuntimeParams) -> None:
        self.env = env = Env()
        self.composition = tuple(composition)
        self.params = params
        self.pallets: dict[int, Pallet] = {}
        self.by_name: dict[str, Pallet] = {}
        self._by_type: dict[type, Pallet] = {}
        # Known before any pallet is built, so a slot's wiring can hand them to Balances.
        classes = [(slot.index, slot.definition.pallet) for slot in self.composition]
        self.hold_reasons = ComposedReasons(self.CRATE, "RuntimeHoldReason", [
            (index, cls, cls.HOLD_REASONS) for index, cls in classes if cls.HOLD_REASONS is not None], "HoldReason")
        self.freeze_reasons = ComposedReasons(self.CRATE, "RuntimeFreezeReason", [
            (index, cls, cls.FREEZE_REASONS) for index, cls in classes if cls.FREEZE_REASONS is not None], "FreezeReason")
        for slot in self.composition:  # in order: a slot's wiring may use the pallets placed before it
            definition = slot.definition
            if slot.index in self.pallets or definition.name in self.by_name:
                raise TypeError(f"duplicate pallet index {slot.index} or name {definition.name}")
            config = definition.build_config(definition.config, params[definition.name], definition.weights,
                                             slot.wiring(self))
            pallet = definition.pallet(config, env)
            self.pallets[slot.index] = self.by_name[pallet.NAME] = self._by_type[type(pallet)] = pallet
        self.index_of = {p.NAME: i for i, p in self.pallets.items()}
        system = self.pallets.get(0)
        if system is None:
            raise TypeError("the pallet at index 0 must be System")
        env.deposit_event = system.deposit_event  # type: ignore[attr-defined]
        env.block_number = system.number.get  # type: ignore[attr-defined]

        specs: dict[int, dict[int, CallSpec]] = {}
        for index, pallet in self.pallets.items():
            table = {}
            for declared in type(pallet).call_specs():
                spec = dataclasses.replace(declared, pallet_index=index, pallet_name=pallet.NAME)
                table[spec.index] = spec
            specs[index] = table
        self.call_codec = _RuntimeCallCodec(self.CRATE, self.pallets, specs)
        for table in specs.values():
            for spec in table.values():
                spec.resolve_args({RUNTIME_CALL: self.call_codec})
        self._lookups = {
            id(s): tuple(i for i, a in enumerate(s.args) if a.codec is ACCOUNT_LOOKUP)
            for t in specs.values() for s in t.values()
        }
        self.event_codec = _RuntimeEventCodec(self.CRATE, self.pallets)
        self.event_record_codec = _EventRecordCodec(self.event_codec)
        self.events_codec = Vec(self.event_record_codec)
        env.event_record_codec, env.events_codec = self.event_record_codec, self.events_codec
        self.substitutions: dict[Codec, Codec] = {
            RUNTIME_CALL: self.call_codec, RUNTIME_EVENTS: self.events_codec,
            RUNTIME_HOLD_REASON: self.hold_reasons, RUNTIME_FREEZE_REASON: self.freeze_reasons,
        }
        self.error_index: dict[type, tuple[int, int]] = {}
        self.error_types: dict[int, _PalletErrors] = {}
        for index, pallet in self.pallets.items():
            if type(pallet).ERRORS:
                self.error_types[index] = _PalletErrors(pallet)
            for position, error in enumerate(type(pallet).ERRORS):
                if error in self.error_index:
                    raise TypeError(f"error {error.__name__} declared by two pallets")
                self.error_index[error] = (index, position)
        for pallet in self.pallets.values():
            pallet.integrity_test()

    def warm_up(self) -> None:
        """Every pallet's :meth:`~runtime.frame.pallet.Pallet.warm_up`."""
        for pallet in self.pallets.values():
            pallet.warm_up()

    def pallet(self, cls: type[P]) -> P:
        """This runtime's instance of pallet class ``cls`` (``KeyError`` if it has none)."""
        return self._by_type[cls]  # type: ignore[return-value]

    # --- calls ----------------------------------------------------------------------------------

    def call(self, pallet: str, name: str, **kwargs: Any) -> Call:
        """Build a call by name: ``runtime.call("Balances", "transfer_keep_alive", dest=bob, value=10)``."""
        try:
            table = self.call_codec.specs[self.index_of[pallet]]
            spec = next(s for s in table.values() if s.name == name)
        except (KeyError, StopIteration):
            raise KeyError(f"no call {pallet}.{name}") from None
        missing = {a.name for a in spec.args} ^ set(kwargs)
        if missing:
            raise TypeError(f"{pallet}.{name}: wrong arguments {sorted(missing)}")
        return Call(spec, tuple(kwargs[a.name] for a in spec.args))

    def decode_call(self, data: bytes) -> Call:
        return self.call_codec.decode(data)

    def dispatch_info(self, call: Call) -> DispatchInfo:
        spec = call.spec
        weight = spec.weight
        if not isinstance(weight, Weight):
            weight = weight(self.pallets[spec.pallet_index].config.weights, *call.args)
        return DispatchInfo(weight, spec.dispatch_class, spec.pays)

    def dispatch(self, call: Call, origin: Origin) -> PostDispatchInfo | None:
        """Run ``call`` as ``origin`` in its own transactional layer: on any exception its writes are
        rolled back and the exception propagates (a :class:`DispatchError` is the user's; anything else
        is a bug for the caller to reject the block over). Returns the call's :class:`PostDispatchInfo`, if
        it gave one."""
        spec = call.spec
        for position in self._lookups[id(spec)]:
            if type(call.args[position]) is LookupFailed:
                raise CannotLookup()
        overlay = self.env.current_overlay()
        overlay.start_transaction()
        try:
            post = spec.function(self.pallets[spec.pallet_index], origin, *call.args)
        except BaseException:
            overlay.rollback_transaction()
            raise
        overlay.commit_transaction()
        return post if isinstance(post, PostDispatchInfo) else None

    def dispatch_error(self, error: DispatchError) -> Any:
        """The ``sp_runtime::DispatchError`` value for a raised error."""
        if error.system_variant is not None:
            return error.system_variant
        location = self.error_index.get(type(error))
        if location is None:
            return DispatchErrors.Other()
        index, position = location
        return DispatchErrors.Module(ModuleError(index, bytes((position, 0, 0, 0))))

    # --- execution context ----------------------------------------------------------------------

    def executing(self, overlay: Any) -> ContextManager[Any]:
        """Bind the pallets to ``overlay`` for the duration of the block, on the calling thread only: other
        threads may execute on this runtime at the same time, each on its own overlay."""
        return self.env.executing(overlay)
