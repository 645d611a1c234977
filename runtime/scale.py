"""SCALE codec: the wire format of every call, event, storage value and header.

Each codec is a small immutable object with three jobs:

- ``encode(value) -> bytes`` and ``decode_from(data, offset) -> (value, offset)`` (``decode`` is the
  strict whole-buffer form: trailing bytes are an error, as in the Substrate clients);
- ``type_info(registry)``: its entry in the V14 metadata's portable type registry, so metadata is
  generated from the same objects that encode the bytes and can never drift from them.

Python values are plain: ``int`` for integers, ``bytes`` for byte vectors and byte arrays, ``tuple`` for
sequences, frozen dataclasses for structs (see :func:`scale_struct`) and for enum variants (see
:class:`Enum`), ``None``/value for ``Option``. Decoding malformed input raises :class:`ScaleDecodeError`
and nothing else, whatever the bytes.

Hand-written, not ``scalecodec``: the hot paths (extrinsic decode, account encode) run thousands of times
per block. Tests check these codecs byte for byte against ``scalecodec``.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import typing
from typing import Any, Callable, Iterable, Sequence

__all__ = [
    "ScaleDecodeError",
    "Codec",
    "UInt",
    "U8",
    "U16",
    "U32",
    "U64",
    "U128",
    "U256",
    "BOOL",
    "Compact",
    "COMPACT_U32",
    "COMPACT_U128",
    "BYTES",
    "STR",
    "FixedBytes",
    "H256",
    "Vec",
    "Tuple",
    "UNIT",
    "Option",
    "Struct",
    "Enum",
    "CEnum",
    "Result",
    "Placeholder",
    "Newtype",
    "Ok",
    "Err",
    "scale_struct",
    "codec_of",
    "encode_compact",
    "decode_compact",
    "MAX_DECODE_LENGTH",
]

MAX_DECODE_LENGTH = 1 << 24
"""Largest element count any sequence may declare. A compact length is attacker-controlled: without this
bound a 5-byte prefix could make the decoder try to build a multi-gigabyte list."""


class ScaleDecodeError(ValueError):
    """The bytes are not a valid SCALE encoding of the expected type."""


# --- compact integers ------------------------------------------------------------------------------


def encode_compact(n: int) -> bytes:
    """SCALE ``Compact<uN>``: 1, 2 or 4 bytes for small values (low 2 bits = mode), else a length byte."""
    if n < 0:
        raise ValueError(f"compact integers are unsigned, got {n}")
    if n < 1 << 6:
        return bytes((n << 2,))
    if n < 1 << 14:
        return ((n << 2) | 1).to_bytes(2, "little")
    if n < 1 << 30:
        return ((n << 2) | 2).to_bytes(4, "little")
    size = (n.bit_length() + 7) // 8
    if size > 67:
        raise ValueError(f"integer too large for a compact encoding: {n}")
    return bytes((((size - 4) << 2) | 3,)) + n.to_bytes(size, "little")


def decode_compact(data: bytes, offset: int = 0) -> tuple[int, int]:
    """Decode a compact integer at ``offset``; reject non-canonical (over-long) encodings."""
    try:
        first = data[offset]
    except IndexError:
        raise ScaleDecodeError("truncated compact integer") from None
    mode = first & 3
    if mode == 0:
        return first >> 2, offset + 1
    if mode == 1:
        end = offset + 2
        if end > len(data):
            raise ScaleDecodeError("truncated compact integer")
        value = int.from_bytes(data[offset:end], "little") >> 2
        if value < 1 << 6:
            raise ScaleDecodeError("non-canonical compact integer")
        return value, end
    if mode == 2:
        end = offset + 4
        if end > len(data):
            raise ScaleDecodeError("truncated compact integer")
        value = int.from_bytes(data[offset:end], "little") >> 2
        if value < 1 << 14:
            raise ScaleDecodeError("non-canonical compact integer")
        return value, end
    size = (first >> 2) + 4
    end = offset + 1 + size
    if end > len(data):
        raise ScaleDecodeError("truncated compact integer")
    value = int.from_bytes(data[offset + 1 : end], "little")
    if value < 1 << 30 or value.bit_length() <= (size - 1) * 8:
        raise ScaleDecodeError("non-canonical compact integer")
    return value, end


def _decode_length(data: bytes, offset: int) -> tuple[int, int]:
    length, offset = decode_compact(data, offset)
    if length > MAX_DECODE_LENGTH:
        raise ScaleDecodeError(f"declared length {length} exceeds the limit of {MAX_DECODE_LENGTH}")
    return length, offset


# --- the codec interface ---------------------------------------------------------------------------


class Codec:
    """Base of all codecs. Subclasses implement ``encode``, ``decode_from`` and ``type_def``."""

    path: tuple[str, ...] = ()
    docs: tuple[str, ...] = ()

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        """Decode all of ``data``; leftover bytes are an error (as in the clients' strict decoding)."""
        try:
            value, end = self.decode_from(data, 0)
        except ScaleDecodeError:
            raise
        except (IndexError, ValueError, TypeError, OverflowError) as exc:  # defensive: any slip is bad input
            raise ScaleDecodeError(str(exc)) from exc
        if end != len(data):
            raise ScaleDecodeError(f"{len(data) - end} trailing bytes after {self!r}")
        return value

    # metadata
    def type_params(self, registry: "TypeRegistryLike") -> list[dict]:
        return []

    def type_def(self, registry: "TypeRegistryLike") -> dict:
        raise NotImplementedError

    def registry_key(self) -> Any:
        """Two codecs with equal keys share one entry in the metadata type registry."""
        return self


class TypeRegistryLike(typing.Protocol):
    def id_of(self, codec: Codec) -> int: ...


class UInt(Codec):
    """Fixed-width little-endian unsigned integer."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.size = bits // 8
        self.limit = 1 << bits

    def encode(self, value: int) -> bytes:
        if not 0 <= value < self.limit:
            raise ValueError(f"{value} does not fit in u{self.bits}")
        return value.to_bytes(self.size, "little")

    def decode_from(self, data: bytes, offset: int) -> tuple[int, int]:
        end = offset + self.size
        if end > len(data):
            raise ScaleDecodeError(f"truncated u{self.bits}")
        return int.from_bytes(data[offset:end], "little"), end

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {"primitive": f"u{self.bits}"}

    def registry_key(self) -> Any:
        return ("uint", self.bits)

    def __repr__(self) -> str:
        return f"u{self.bits}"


U8, U16, U32, U64, U128, U256 = (UInt(b) for b in (8, 16, 32, 64, 128, 256))


class _Bool(Codec):
    def encode(self, value: bool) -> bytes:
        return b"\x01" if value else b"\x00"

    def decode_from(self, data: bytes, offset: int) -> tuple[bool, int]:
        if offset >= len(data):
            raise ScaleDecodeError("truncated bool")
        byte = data[offset]
        if byte > 1:
            raise ScaleDecodeError(f"invalid bool byte {byte}")
        return byte == 1, offset + 1

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {"primitive": "bool"}

    def registry_key(self) -> Any:
        return "bool"

    def __repr__(self) -> str:
        return "bool"


BOOL = _Bool()


class Compact(Codec):
    """``Compact<inner>`` for an unsigned integer codec."""

    def __init__(self, inner: UInt) -> None:
        self.inner = inner

    def encode(self, value: int) -> bytes:
        if value >= self.inner.limit:
            raise ValueError(f"{value} does not fit in Compact<u{self.inner.bits}>")
        return encode_compact(value)

    def decode_from(self, data: bytes, offset: int) -> tuple[int, int]:
        value, end = decode_compact(data, offset)
        if value >= self.inner.limit:
            raise ScaleDecodeError(f"compact value too large for u{self.inner.bits}")
        return value, end

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {"compact": {"type": registry.id_of(self.inner)}}

    def registry_key(self) -> Any:
        return ("compact", self.inner.bits)

    def __repr__(self) -> str:
        return f"Compact<{self.inner!r}>"


COMPACT_U32 = Compact(U32)
COMPACT_U128 = Compact(U128)


class _Bytes(Codec):
    """``Vec<u8>``: compact length then the bytes."""

    def encode(self, value: bytes) -> bytes:
        return encode_compact(len(value)) + bytes(value)

    def decode_from(self, data: bytes, offset: int) -> tuple[bytes, int]:
        length, offset = _decode_length(data, offset)
        end = offset + length
        if end > len(data):
            raise ScaleDecodeError("truncated byte vector")
        return bytes(data[offset:end]), end

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {"sequence": {"type": registry.id_of(U8)}}

    def registry_key(self) -> Any:
        return ("vec", U8.registry_key())

    def __repr__(self) -> str:
        return "Vec<u8>"


BYTES = _Bytes()


class _Str(Codec):
    """``String`` (UTF-8, compact length prefixed)."""

    def encode(self, value: str) -> bytes:
        raw = value.encode()
        return encode_compact(len(raw)) + raw

    def decode_from(self, data: bytes, offset: int) -> tuple[str, int]:
        raw, end = BYTES.decode_from(data, offset)
        try:
            return raw.decode(), end
        except UnicodeDecodeError as exc:
            raise ScaleDecodeError(f"invalid UTF-8 string: {exc}") from None

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {"primitive": "str"}

    def registry_key(self) -> Any:
        return "str"


STR = _Str()


class FixedBytes(Codec):
    """``[u8; n]`` (no length prefix), optionally a named composite such as ``AccountId32``."""

    def __init__(self, n: int, path: Sequence[str] = ()) -> None:
        self.n = n
        self.path = tuple(path)

    def encode(self, value: bytes) -> bytes:
        if len(value) != self.n:
            raise ValueError(f"expected {self.n} bytes, got {len(value)}")
        return bytes(value)

    def decode_from(self, data: bytes, offset: int) -> tuple[bytes, int]:
        end = offset + self.n
        if end > len(data):
            raise ScaleDecodeError(f"truncated [u8; {self.n}]")
        return bytes(data[offset:end]), end

    def type_def(self, registry: TypeRegistryLike) -> dict:
        array = {"array": {"len": self.n, "type": registry.id_of(U8)}}
        if not self.path:
            return array
        return {"composite": {"fields": [_field(None, registry.id_of(FixedBytes(self.n)), f"[u8; {self.n}]")]}}

    def registry_key(self) -> Any:
        return ("bytes", self.n, self.path)

    def __repr__(self) -> str:
        return "::".join(self.path) or f"[u8; {self.n}]"


H256 = FixedBytes(32, ("primitive_types", "H256"))


class Vec(Codec):
    def __init__(self, item: Codec) -> None:
        self.item = item

    def encode(self, value: Iterable[Any]) -> bytes:
        items = list(value)
        encode = self.item.encode
        return encode_compact(len(items)) + b"".join(encode(v) for v in items)

    def decode_from(self, data: bytes, offset: int) -> tuple[tuple, int]:
        length, offset = _decode_length(data, offset)
        if length > len(data) - offset and _min_size(self.item) > 0:
            raise ScaleDecodeError("sequence longer than the remaining input")
        out = []
        decode = self.item.decode_from
        for _ in range(length):
            value, offset = decode(data, offset)
            out.append(value)
        return tuple(out), offset

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {"sequence": {"type": registry.id_of(self.item)}}

    def registry_key(self) -> Any:
        return ("vec", self.item.registry_key())

    def __repr__(self) -> str:
        return f"Vec<{self.item!r}>"


class Tuple(Codec):
    def __init__(self, *items: Codec) -> None:
        self.items = items

    def encode(self, value: Sequence[Any]) -> bytes:
        if len(value) != len(self.items):
            raise ValueError(f"expected a {len(self.items)}-tuple")
        return b"".join(c.encode(v) for c, v in zip(self.items, value))

    def decode_from(self, data: bytes, offset: int) -> tuple[tuple, int]:
        out = []
        for codec in self.items:
            value, offset = codec.decode_from(data, offset)
            out.append(value)
        return tuple(out), offset

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {"tuple": [registry.id_of(c) for c in self.items]}

    def registry_key(self) -> Any:
        return ("tuple", tuple(c.registry_key() for c in self.items))

    def __repr__(self) -> str:
        return f"({', '.join(map(repr, self.items))})"


UNIT = Tuple()


class Option(Codec):
    """``Option<T>``: 0x00 for ``None``, 0x01 then the value. (``Option<bool>`` is not special-cased
    in Substrate's V14 type registry encoding, and we never use it.)"""

    path = ("Option",)

    def __init__(self, item: Codec) -> None:
        self.item = item

    def encode(self, value: Any) -> bytes:
        return b"\x00" if value is None else b"\x01" + self.item.encode(value)

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        if offset >= len(data):
            raise ScaleDecodeError("truncated Option")
        tag = data[offset]
        if tag == 0:
            return None, offset + 1
        if tag == 1:
            return self.item.decode_from(data, offset + 1)
        raise ScaleDecodeError(f"invalid Option tag {tag}")

    def type_params(self, registry: TypeRegistryLike) -> list[dict]:
        return [{"name": "T", "type": registry.id_of(self.item)}]

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {
            "variant": {
                "variants": [
                    _variant("None", 0, []),
                    _variant("Some", 1, [_field(None, registry.id_of(self.item))]),
                ]
            }
        }

    def registry_key(self) -> Any:
        return ("option", self.item.registry_key())

    def __repr__(self) -> str:
        return f"Option<{self.item!r}>"


@dataclasses.dataclass(frozen=True)
class Ok:
    value: Any = None


@dataclasses.dataclass(frozen=True)
class Err:
    error: Any = None


class Result(Codec):
    """``Result<T, E>``: 0x00 then ``T`` (as :class:`Ok`), 0x01 then ``E`` (as :class:`Err`)."""

    path = ("Result",)

    def __init__(self, ok: Codec, err: Codec) -> None:
        self.ok, self.err = ok, err

    def encode(self, value: Ok | Err) -> bytes:
        if isinstance(value, Ok):
            return b"\x00" + self.ok.encode(value.value)
        return b"\x01" + self.err.encode(value.error)

    def decode_from(self, data: bytes, offset: int) -> tuple[Ok | Err, int]:
        if offset >= len(data):
            raise ScaleDecodeError("truncated Result")
        tag = data[offset]
        if tag == 0:
            value, end = self.ok.decode_from(data, offset + 1)
            return Ok(value), end
        if tag == 1:
            error, end = self.err.decode_from(data, offset + 1)
            return Err(error), end
        raise ScaleDecodeError(f"invalid Result tag {tag}")

    def type_params(self, registry: TypeRegistryLike) -> list[dict]:
        return [{"name": "T", "type": registry.id_of(self.ok)}, {"name": "E", "type": registry.id_of(self.err)}]

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {
            "variant": {
                "variants": [
                    _variant("Ok", 0, [_field(None, registry.id_of(self.ok))]),
                    _variant("Err", 1, [_field(None, registry.id_of(self.err))]),
                ]
            }
        }

    def registry_key(self) -> Any:
        return ("result", self.ok.registry_key(), self.err.registry_key())


# --- structs and enums built from dataclasses -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    codec: Codec
    type_name: str | None
    docs: tuple[str, ...]
    wire_name: str
    """The name in the metadata (differs from ``name`` only where Rust's is a Python keyword)."""


def _annotated_codec(hint: Any, where: str) -> tuple[Codec, str | None]:
    """The codec carried by an ``Annotated[python_type, codec, "type name"?]`` hint."""
    if typing.get_origin(hint) is typing.Annotated:
        extras = [a for a in typing.get_args(hint)[1:]]
        codecs = [a for a in extras if isinstance(a, Codec) or _is_scale_class(a)]
        names = [a for a in extras if isinstance(a, str)]
        if codecs:
            return codec_of(codecs[0]), (names[0] if names else None)
    if _is_scale_class(hint):
        return codec_of(hint), hint.__name__
    raise TypeError(f"{where}: annotate with Annotated[..., <codec>] or a SCALE class, got {hint!r}")


def _is_scale_class(obj: Any) -> bool:
    return isinstance(obj, type) and isinstance(obj.__dict__.get("SCALE"), Codec)


def codec_of(obj: Any) -> Codec:
    """The codec of a codec (itself) or of a class decorated with :func:`scale_struct` / an enum base."""
    if isinstance(obj, Codec):
        return obj
    if _is_scale_class(obj):
        return obj.SCALE
    raise TypeError(f"{obj!r} has no SCALE codec")


@functools.cache
def dataclass_fields(cls: type) -> tuple[FieldSpec, ...]:
    """The SCALE fields of a dataclass, from its ``Annotated`` hints; docs from ``#:``-less docstrings are
    not recoverable at runtime, so field docs come from ``cls.FIELD_DOCS`` when present, and metadata
    names that are Python keywords from ``cls.WIRE_NAMES`` (``{"class_": "class"}``).

    Kept per class for the process: resolving the hints costs ~50 µs a class (``typing.get_type_hints``
    compiles every string annotation), which each new runtime's codecs and every SDK event's ``attributes``
    paid again. A class whose hints name one not defined yet raises and is resolved on a later call."""
    hints = typing.get_type_hints(cls, include_extras=True)
    docs = getattr(cls, "FIELD_DOCS", {})
    wire_names = getattr(cls, "WIRE_NAMES", {})
    out = []
    for f in dataclasses.fields(cls):
        codec, type_name = _annotated_codec(hints[f.name], f"{cls.__name__}.{f.name}")
        out.append(FieldSpec(f.name, codec, type_name, tuple(docs.get(f.name, ())), wire_names.get(f.name, f.name)))
    return tuple(out)


def _docs_of(obj: Any) -> tuple[str, ...]:
    doc = obj.__doc__ or ""
    if doc.startswith(obj.__name__ + "(") if isinstance(obj, type) else False:
        return ()  # dataclass's generated signature docstring: not documentation
    lines = [line.strip() for line in doc.strip().splitlines()]
    return tuple(lines) if any(lines) else ()


def _params(registry: TypeRegistryLike, params: Sequence[tuple[str, Codec | None]]) -> list[dict]:
    """Metadata type parameters; a ``None`` codec is a parameter the metadata leaves unresolved (``T``)."""
    return [{"name": n, "type": None if c is None else registry.id_of(c)} for n, c in params]


def _field(name: str | None, type_id: int, type_name: str | None = None, docs: Sequence[str] = ()) -> dict:
    return {"name": name, "type": type_id, "typeName": type_name, "docs": list(docs)}


def _variant(name: str, index: int, fields: list[dict], docs: Sequence[str] = ()) -> dict:
    return {"name": name, "fields": fields, "index": index, "docs": list(docs)}


class _Layout:
    """The field codecs of one dataclass, bound once: encoding and decoding run on every event, account
    and weight, so the per-field lookups are done here rather than per call."""

    __slots__ = ("getters", "encoders", "decoders")

    def __init__(self, fields: Sequence[FieldSpec]) -> None:
        self.getters = tuple(operator.attrgetter(f.name) for f in fields)
        self.encoders = tuple(f.codec.encode for f in fields)
        self.decoders = tuple(f.codec.decode_from for f in fields)

    def encode(self, value: Any) -> bytes:
        return b"".join([encode(get(value)) for get, encode in zip(self.getters, self.encoders)])

    def decode_from(self, data: bytes, offset: int) -> tuple[list, int]:
        values = []
        for decode in self.decoders:
            value, offset = decode(data, offset)
            values.append(value)
        return values, offset


class Struct(Codec):
    """A composite whose Python value is an instance of a frozen dataclass."""

    def __init__(self, cls: type, path: Sequence[str], *, unnamed: bool = False, params: Sequence[tuple[str, Codec | None]] = ()) -> None:
        self.cls = cls
        self.path = tuple(path)
        self.unnamed = unnamed
        self.params = tuple(params)
        self.docs = _docs_of(cls)
        self._layout: _Layout | None = None

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        return dataclass_fields(self.cls)  # resolved lazily: hints may name classes defined later

    @property
    def layout(self) -> _Layout:
        if self._layout is None:
            self._layout = _Layout(self.fields)
        return self._layout

    def encode(self, value: Any) -> bytes:
        return self.layout.encode(value)

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        values, offset = self.layout.decode_from(data, offset)
        return self.cls(*values), offset

    def type_params(self, registry: TypeRegistryLike) -> list[dict]:
        return _params(registry, self.params)

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {"composite": {"fields": self.metadata_fields(registry)}}

    def metadata_fields(self, registry: TypeRegistryLike) -> list[dict]:
        return [
            _field(None if self.unnamed else f.wire_name, registry.id_of(f.codec), f.type_name, f.docs)
            for f in self.fields
        ]

    def __repr__(self) -> str:
        return "::".join(self.path) or self.cls.__name__


def scale_struct(path: str | Sequence[str] = (), *, unnamed: bool = False,
                 params: Sequence[tuple[str, Codec | None]] = ()) -> Callable[[type], type]:
    """Make a frozen dataclass a SCALE struct. ``path`` is its Rust type path in the metadata
    (``"frame_system::AccountInfo"``); ``unnamed`` marks a tuple struct (fields without names); ``params``
    are the Rust generic parameters shown in metadata."""

    def wrap(cls: type) -> type:
        if not dataclasses.is_dataclass(cls):
            cls = dataclasses.dataclass(frozen=True)(cls)
        parts = tuple(path.split("::")) if isinstance(path, str) and path else tuple(path)
        cls.SCALE = Struct(cls, parts, unnamed=unnamed, params=params)
        return cls

    return wrap


class Newtype(Codec):
    """A Rust tuple struct around one value (``struct ExtraFlags(u128)``): same bytes as the inner codec,
    its own path in metadata, and the plain inner value in Python."""

    def __init__(self, inner: Codec, path: str, type_name: str | None = None) -> None:
        self.inner = inner
        self.path = tuple(path.split("::"))
        self.type_name = type_name
        self.encode = inner.encode  # type: ignore[method-assign]
        self.decode_from = inner.decode_from  # type: ignore[method-assign]

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {"composite": {"fields": [_field(None, registry.id_of(self.inner), self.type_name)]}}

    def __repr__(self) -> str:
        return "::".join(self.path)


class Enum(Codec):
    """A tagged union. Each variant is a frozen dataclass; the value is an instance of one of them.

    Variant indices are explicit and wire format: a variant keeps its index forever.
    """

    def __init__(self, path: Sequence[str], variants: Sequence[tuple[int, type]], *, docs: Sequence[str] = (),
                 params: Sequence[tuple[str, Codec | None]] = ()) -> None:
        self.path = tuple(path)
        self.docs = tuple(docs)
        self.params = tuple(params)
        self.by_index: dict[int, type] = {}
        self.index_of: dict[type, int] = {}
        for index, cls in variants:
            if index in self.by_index or not 0 <= index < 256:
                raise ValueError(f"{self!r}: bad or duplicate variant index {index}")
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls!r} must be a dataclass")
            self.by_index[index] = cls
            self.index_of[cls] = index
        self._layouts: dict[type, tuple[bytes, _Layout]] = {}

    def fields_of(self, cls: type) -> tuple[FieldSpec, ...]:
        return dataclass_fields(cls)

    def _layout(self, cls: type) -> tuple[bytes, _Layout]:
        """(index byte, field layout) of a variant class, built on first use."""
        entry = self._layouts.get(cls)
        if entry is None:
            if cls not in self.index_of:
                raise ValueError(f"{cls.__name__} is not a variant of {self!r}")
            entry = self._layouts[cls] = (bytes((self.index_of[cls],)), _Layout(self.fields_of(cls)))
        return entry

    def encode(self, value: Any) -> bytes:
        tag, layout = self._layout(type(value))
        return tag + layout.encode(value)

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        if offset >= len(data):
            raise ScaleDecodeError(f"truncated {self!r}")
        cls = self.by_index.get(data[offset])
        if cls is None:
            raise ScaleDecodeError(f"unknown variant index {data[offset]} of {self!r}")
        values, offset = self._layout(cls)[1].decode_from(data, offset + 1)
        return cls(*values), offset

    def type_params(self, registry: TypeRegistryLike) -> list[dict]:
        return _params(registry, self.params)

    def type_def(self, registry: TypeRegistryLike) -> dict:
        variants = []
        for index in sorted(self.by_index):
            cls = self.by_index[index]
            unnamed = getattr(cls, "UNNAMED_FIELDS", False)
            fields = [
                _field(None if unnamed else f.wire_name, registry.id_of(f.codec), f.type_name, f.docs)
                for f in self.fields_of(cls)
            ]
            variants.append(_variant(cls.__name__, index, fields, _docs_of(cls)))
        return {"variant": {"variants": variants}}

    def __repr__(self) -> str:
        return "::".join(self.path) or "Enum"


class CEnum(Codec):
    """A field-less enum whose Python value is a member of an ``enum.IntEnum`` (value = index)."""

    def __init__(self, enum_cls: type, path: Sequence[str]) -> None:
        self.enum_cls = enum_cls
        self.path = tuple(path)
        self.docs = _docs_of(enum_cls)

    def encode(self, value: Any) -> bytes:
        return bytes((self.enum_cls(value).value,))

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        if offset >= len(data):
            raise ScaleDecodeError(f"truncated {self!r}")
        try:
            return self.enum_cls(data[offset]), offset + 1
        except ValueError:
            raise ScaleDecodeError(f"unknown variant index {data[offset]} of {self!r}") from None

    def type_def(self, registry: TypeRegistryLike) -> dict:
        return {"variant": {"variants": [_variant(m.name, m.value, []) for m in self.enum_cls]}}

    def __repr__(self) -> str:
        return "::".join(self.path)


def _min_size(codec: Codec) -> int:
    """A lower bound on the encoded size, used to reject absurd sequence lengths early."""
    if isinstance(codec, (UInt,)):
        return codec.size
    if isinstance(codec, FixedBytes):
        return codec.n
    return 1 if not (isinstance(codec, Tuple) and not codec.items) else 0


class Placeholder(Codec):
    """Stands for a codec that only the runtime's construction knows, such as ``RuntimeCall`` inside
    ``Sudo::sudo``. The runtime replaces it when it builds its call codecs; using it directly is a bug."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _unbound(self, *_: Any) -> Any:
        raise TypeError(f"placeholder codec {self.name} used before the runtime replaced it")

    encode = decode_from = type_def = _unbound

    def __repr__(self) -> str:
        return self.name
