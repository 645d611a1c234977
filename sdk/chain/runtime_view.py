"""The local runtime's declarations, found by the names clients use: no type registry, no dynamic decoding.

The client builds the same pure runtime the node runs (``CairnRuntime(params)``, with the parameters the
chain stores in its genesis state), so every codec it uses is the one the node encodes with: storage
values decode to the runtime's dataclasses, calls encode through ``runtime.call_codec``, events decode
through ``runtime.events_codec``, module errors are named from the pallets' ``ERRORS``. This module turns
``("System", "Account")``-style names into those declarations and checks arguments against them before
anything is sent.

Only the runtime's public surface is used (``by_name``, ``call``, ``call_codec``, ``events_codec``,
``error_index``, the pallets' class attributes), so how the runtime composes its pallets can change freely.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from runtime.cairn import CairnRuntime
from runtime.frame.construct import RUNTIME_CALL, RUNTIME_EVENTS, Call
from runtime.frame.pallet import Constant, Pallet
from runtime.frame.storage import Hasher, StorageItem, StorageValue
from runtime.hashing import twox128
from runtime.primitives import ACCOUNT_ID, ACCOUNT_LOOKUP, DispatchErrors
from runtime.scale import Codec, ScaleDecodeError
from sdk.chain.errors import BadArgument, InvalidResponse, UnknownItem
from sdk.chain.keys import account_id
from sdk.chain.types import ChainEvent, DispatchFailure

__all__ = ["RuntimeView", "StorageEntry"]

_ENCODE_ERRORS = (TypeError, ValueError, AttributeError, OverflowError, KeyError, IndexError, struct.error)
"""What a codec raises when handed a value of the wrong type or range."""


@dataclass(frozen=True)
class StorageEntry:
    """One storage item of one pallet: how its keys are derived and its values decoded.

    ``key = twox128(pallet) ++ twox128(item) ++ hasher_1(SCALE(k_1)) ++ ... ++ hasher_n(SCALE(k_n))``."""

    pallet: str
    name: str
    prefix: bytes
    hashers: tuple[Hasher, ...]
    key_codecs: tuple[Codec, ...]
    value_codec: Codec
    default: Any
    """What reading an absent key gives: the declared default (``ValueQuery``) or ``None`` (``OptionQuery``)."""

    def key(self, params: Sequence[Any]) -> bytes:
        """The full key of the entry at ``params`` (one per hasher)."""
        if len(params) != len(self.hashers):
            raise BadArgument(f"{self.pallet}.{self.name} takes {len(self.hashers)} key(s), got {len(params)}")
        return self.partial_key(params)

    def partial_key(self, params: Sequence[Any]) -> bytes:
        """The prefix shared by every entry whose first keys are ``params`` (for ``query_map``)."""
        if len(params) > len(self.hashers):
            raise BadArgument(f"{self.pallet}.{self.name} takes at most {len(self.hashers)} key(s), got {len(params)}")
        parts = [self.prefix]
        for position, (hasher, codec, value) in enumerate(zip(self.hashers, self.key_codecs, params)):
            parts.append(hasher(_checked(codec, value, f"{self.pallet}.{self.name} key {position + 1}")[1]))
        return b"".join(parts)

    def iterable_after(self, known: int) -> None:
        """Check that the keys after the first ``known`` can be read back out of full keys."""
        if len(self.hashers) == known:
            raise BadArgument(f"{self.pallet}.{self.name}: every key is given, nothing to iterate (use query)")
        if any(h.concat_offset is None for h in self.hashers[known:]):
            raise BadArgument(f"{self.pallet}.{self.name}: its hashers do not keep the keys, so it cannot be iterated")

    def decode_keys(self, key: bytes, skip: int, known: int) -> tuple[Any, ...]:
        """The keys after the first ``known`` in a full ``key`` whose first ``skip`` bytes are the prefix."""
        values = []
        offset = skip
        try:
            for hasher, codec in zip(self.hashers[known:], self.key_codecs[known:]):
                offset += hasher.concat_offset  # type: ignore[operator]
                value, offset = codec.decode_from(key, offset)
                values.append(value)
        except ScaleDecodeError as exc:
            raise InvalidResponse(f"{self.pallet}.{self.name}: undecodable key 0x{key.hex()}: {exc}") from None
        if offset != len(key):
            raise InvalidResponse(f"{self.pallet}.{self.name}: key 0x{key.hex()} has {len(key) - offset} extra bytes")
        return tuple(values)

    def decode_value(self, raw: bytes | None) -> Any:
        if raw is None:
            return self.default
        try:
            return self.value_codec.decode(raw)
        except ScaleDecodeError as exc:
            raise InvalidResponse(f"{self.pallet}.{self.name}: undecodable value: {exc}") from None


class RuntimeView:
    """Name lookups and checked encoding against one runtime instance (immutable once built)."""

    def __init__(self, runtime: CairnRuntime) -> None:
        self.runtime = runtime
        self._substitutions: dict[Codec, Codec] = {RUNTIME_CALL: runtime.call_codec,
                                                   RUNTIME_EVENTS: runtime.events_codec}
        self._event_pallet: dict[type, str] = {}
        self._errors: dict[tuple[int, int], tuple[str, type]] = {}
        for name, pallet in runtime.by_name.items():
            for event in type(pallet).EVENTS:
                self._event_pallet[event] = name
            for error in type(pallet).ERRORS:
                self._errors[runtime.error_index[error]] = (name, error)
        self._entries: dict[tuple[str, str], StorageEntry] = {}

    def pallet(self, name: str) -> Pallet:
        try:
            return self.runtime.by_name[name]
        except KeyError:
            raise UnknownItem(f"no pallet {name!r} (this runtime has {', '.join(sorted(self.runtime.by_name))})") from None

    # --- storage and constants ---------------------------------------------------------------------

    def storage(self, pallet: str, item: str) -> StorageEntry:
        entry = self._entries.get((pallet, item))
        if entry is None:
            entry = self._entries[(pallet, item)] = self._storage_entry(pallet, item)
        return entry

    def _storage_entry(self, pallet_name: str, item_name: str) -> StorageEntry:
        pallet = self.pallet(pallet_name)
        items = {i.name: i for cls in reversed(type(pallet).__mro__) for i in vars(cls).values()
                 if isinstance(i, StorageItem)}  # a subclass's declaration wins
        item = items.get(item_name)
        if item is None:
            raise UnknownItem(f"{pallet_name} has no storage item {item_name!r} (it has {', '.join(sorted(items))})")
        hashers: tuple[Hasher, ...] = () if isinstance(item, StorageValue) else tuple(item.hashers)  # type: ignore[attr-defined]
        key_codecs: tuple[Codec, ...] = () if isinstance(item, StorageValue) else tuple(item.key_codecs)  # type: ignore[attr-defined]
        return StorageEntry(
            pallet=pallet_name, name=item_name, prefix=twox128(pallet.NAME.encode()) + twox128(item.name.encode()),
            hashers=hashers, key_codecs=key_codecs,
            value_codec=self._substitutions.get(item.value_codec, item.value_codec),
            default=item.default if item.has_default else None,
        )

    def constant(self, pallet_name: str, name: str) -> Any:
        pallet = self.pallet(pallet_name)
        if (constant := _named_constant(pallet, name)) is not None:
            return constant.value(pallet.config)
        names = ", ".join(c.name for c in type(pallet).CONSTANTS) or "none"
        raise UnknownItem(f"{pallet_name} has no constant {name!r} (it has {names})")

    # --- calls ---------------------------------------------------------------------------------------

    def compose_call(self, pallet: str, name: str, params: Mapping[str, Any]) -> Call:
        """The runtime's ``Call`` for ``pallet.name(**params)``, every argument checked by encoding it with
        its codec (accounts may be given as SS58 addresses, hex or key pairs)."""
        self.pallet(pallet)
        try:
            call = self.runtime.call(pallet, name, **params)
        except KeyError:
            raise UnknownItem(f"{pallet} has no call {name!r}") from None
        except TypeError as exc:
            raise BadArgument(str(exc)) from None
        args = []
        for arg, value in zip(call.spec.args, call.args):
            args.append(_checked(arg.codec, value, f"{pallet}.{name} argument {arg.name!r}")[0])
        return Call(call.spec, tuple(args))

    # --- events and errors ---------------------------------------------------------------------------

    def decode_events(self, raw: bytes | None) -> tuple[ChainEvent, ...]:
        """``System.Events`` bytes as :class:`ChainEvent` records (``None``: no events)."""
        if not raw:
            return ()
        try:
            records = self.runtime.events_codec.decode(raw)
        except ScaleDecodeError as exc:
            raise InvalidResponse(f"undecodable System.Events: {exc}") from None
        pallet_of = self._event_pallet
        return tuple(ChainEvent(pallet_of[type(r.event)], type(r.event).__name__, r.event, r.phase, r.topics)
                     for r in records)

    def dispatch_failure(self, error: Any) -> DispatchFailure:
        """Name an ``sp_runtime::DispatchError`` value (as ``System.ExtrinsicFailed`` carries it)."""
        if isinstance(error, DispatchErrors.Module):
            module = error.value
            found = self._errors.get((module.index, module.error[0]))
            if found is None:
                return DispatchFailure("Module", None, f"unknown error {module.error[0]} of pallet {module.index}", "")
            pallet, cls = found
            return DispatchFailure("Module", pallet, cls.__name__, self._readable(pallet, _first_line(cls.__doc__)))
        kind = type(error).__name__
        if dataclasses.fields(error):  # Token(kind), Arithmetic(kind), Transactional(kind)
            detail = error.value
            return DispatchFailure(kind, None, f"{kind}.{getattr(detail, 'name', detail)}", "")
        return DispatchFailure(kind, None, kind, "")

    def _readable(self, pallet: str, doc: str) -> str:
        """An error's doc line for people: its double-backtick markup dropped, and each constant it names, of its
        pallet (``MinStake``) or another (``ComputeJobs.MaxRedundancy``), given with its value ("is below MinStake
        (1000000000000000)")."""

        def plain(match: re.Match[str]) -> str:
            name = match.group(1)
            owner, _, constant = name.rpartition(".")
            value = self._constant_or_none(owner or pallet, constant)
            return name if value is None else f"{name} ({value})"

        return _CODE_MARKUP.sub(plain, doc)

    def _constant_or_none(self, pallet_name: str, name: str) -> Any:
        pallet = self.runtime.by_name.get(pallet_name)
        constant = None if pallet is None else _named_constant(pallet, name)
        return None if constant is None else constant.value(pallet.config)


_CODE_MARKUP = re.compile(r"``([^`]+)``")


def _named_constant(pallet: Pallet, name: str) -> Constant | None:
    return next((constant for constant in type(pallet).CONSTANTS if constant.name == name), None)


def _checked(codec: Codec, value: Any, where: str) -> tuple[Any, bytes]:
    """``value`` (an account given as an address or key pair made its id) and its encoding; raises
    :class:`BadArgument` naming ``where`` if the codec cannot encode it."""
    if codec is ACCOUNT_ID or codec is ACCOUNT_LOOKUP:
        try:
            value = account_id(value)
        except ValueError as exc:
            raise BadArgument(f"{where}: {exc}") from None
    try:
        return value, codec.encode(value)
    except _ENCODE_ERRORS as exc:
        raise BadArgument(f"{where}: {value!r:.80} does not fit {codec!r}: {exc}") from None


def _first_line(doc: str | None) -> str:
    """A docstring's first paragraph on one line (a sentence wrapped over lines is not cut mid-way)."""
    paragraph = (doc or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split())
