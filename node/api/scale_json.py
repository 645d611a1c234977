"""Any decoded SCALE value as JSON, led by its codec: how the explorer shows call arguments and event fields.

The runtime's own codecs (the ones its metadata is built from) say what each value is, so one walk shows
every pallet's calls and events, today's and tomorrow's, without a table per pallet: an account id is an
SS58 address, a ``u128`` a decimal string (JavaScript numbers are exact only below 2**53), a struct an
object of its fields, an enum variant its name (with its fields, if any), a nested call ``{pallet, call,
args}``. What one value may cost is bounded by its encoded size (a value comes from a block, which the chain
bounds), and cut further: byte strings longer than :data:`MAX_SHOWN_BYTES` show their first 32 bytes and their
length, each list its first :data:`MAX_SHOWN_ITEMS` items then a count of the rest (per level: a list of lists
may show up to 100 × 100 items, which the block's own bytes paid for).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Union

from runtime.frame.construct import Call, RuntimeBase, RuntimeReason
from runtime.primitives import ACCOUNT_ID, ACCOUNT_LOOKUP, MULTI_ADDRESS, LookupFailed
from runtime.scale import (
    BOOL,
    BYTES,
    STR,
    Codec,
    Compact,
    Enum,
    Err,
    FieldSpec,
    FixedBytes,
    Newtype,
    Option,
    Result,
    Struct,
    Tuple,
    UInt,
    Vec,
)
from runtime.ss58 import ss58_encode

__all__ = ["ScaleJson", "Json", "MAX_SHOWN_BYTES", "MAX_SHOWN_ITEMS", "short_hex"]

Json = Union[None, bool, int, str, list["Json"], dict[str, "Json"]]

MAX_SHOWN_BYTES = 64
MAX_SHOWN_ITEMS = 100
MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer a JavaScript number holds exactly."""


def short_hex(data: bytes) -> str:
    """``0x`` hex, or for more than :data:`MAX_SHOWN_BYTES` bytes ``0x<first 32 bytes>…(<n> bytes)``."""
    if len(data) > MAX_SHOWN_BYTES:
        return f"0x{data[:32].hex()}…({len(data)} bytes)"
    return "0x" + data.hex()


class ScaleJson:
    """JSON of values decoded with ``runtime``'s codecs (its calls, events, hold and freeze reasons)."""

    def __init__(self, runtime: RuntimeBase) -> None:
        self.runtime = runtime

    def call(self, call: Call) -> dict[str, Json]:
        return {"pallet": call.pallet, "call": call.name, "args": self.call_args(call)}

    def call_args(self, call: Call) -> dict[str, Json]:
        return {arg.name: self.value(arg.codec, value) for arg, value in zip(call.spec.args, call.args)}

    def event(self, event: Any) -> tuple[str, str, dict[str, Json]]:
        """(pallet, event name, fields) of a pallet event as ``System.Events`` holds it."""
        codec = self.runtime.event_codec
        index = codec.pallet_of[type(event)]
        return codec.names[index], type(event).__name__, self._fields(codec.pallet_enums[index].fields_of(type(event)),
                                                                      event)

    def value(self, codec: Codec, value: Any) -> Json:
        if codec is ACCOUNT_ID or codec is ACCOUNT_LOOKUP:
            if isinstance(value, LookupFailed):  # an address kind this chain does not look up
                return self.value(MULTI_ADDRESS, value.address)
            return ss58_encode(value)
        if isinstance(codec, (UInt, Compact)):
            bits = codec.bits if isinstance(codec, UInt) else codec.inner.bits
            return str(value) if bits >= 128 or value > MAX_SAFE_INTEGER else value
        if codec is BOOL or codec is STR:
            return value
        if codec is BYTES or isinstance(codec, FixedBytes):
            return short_hex(value)
        if isinstance(codec, (Vec, Tuple)):
            return self._items(codec, value)
        if isinstance(codec, Option):
            return None if value is None else self.value(codec.item, value)
        if isinstance(codec, Newtype):
            return self.value(codec.inner, value)
        if isinstance(codec, Struct):
            return self._fields(codec.fields, value)
        if isinstance(codec, Enum):
            return self._variant(codec, value)
        if isinstance(value, enum.Enum):  # a CEnum, or a pallet's own field-less enum
            return value.name
        if isinstance(codec, Result):
            return {"Err": self.value(codec.err, value.error)} if isinstance(value, Err) \
                else {"Ok": self.value(codec.ok, value.value)}
        if isinstance(value, Call):
            return self.call(value)
        if isinstance(value, RuntimeReason):
            return self.reason(value)
        return short_hex(codec.encode(value))  # a codec this walk does not know: its bytes say what it is

    def reason(self, reason: RuntimeReason) -> str:
        """A hold or freeze reason as ``Pallet.Reason``."""
        pallet = self.runtime.pallets.get(reason.pallet_index)
        name = reason.reason.name if isinstance(reason.reason, enum.Enum) else str(reason.reason)
        return f"{pallet.NAME if pallet is not None else reason.pallet_index}.{name}"

    def _fields(self, specs: Sequence[FieldSpec], instance: Any) -> dict[str, Json]:
        return {f.wire_name: self.value(f.codec, getattr(instance, f.name)) for f in specs}

    def _items(self, codec: Vec | Tuple, values: tuple) -> list[Json]:
        codecs = codec.items if isinstance(codec, Tuple) else (codec.item,) * min(len(values), MAX_SHOWN_ITEMS)
        shown: list[Json] = [self.value(c, v) for c, v in zip(codecs, values[:MAX_SHOWN_ITEMS])]
        if len(values) > MAX_SHOWN_ITEMS:
            shown.append(f"…({len(values) - MAX_SHOWN_ITEMS} more)")
        return shown

    def _variant(self, codec: Enum, value: Any) -> Json:
        """A field-less variant is its name; one with fields ``{name: fields}`` (a tuple variant of one field,
        ``{name: value}``)."""
        name = type(value).__name__
        fields = codec.fields_of(type(value))
        if not fields:
            return name
        if getattr(type(value), "UNNAMED_FIELDS", False):
            values = [self.value(f.codec, getattr(value, f.name)) for f in fields]
            return {name: values[0] if len(values) == 1 else values}
        return {name: self._fields(fields, value)}
