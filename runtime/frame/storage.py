"""Storage items a pallet declares: values, maps and double maps, with Substrate's key derivation.

    key(value)      = twox128(pallet prefix) ++ twox128(item name)
    key(map, k)     = twox128(pallet prefix) ++ twox128(item name) ++ hasher(SCALE(k))
    key(dmap, a, b) = ... ++ hasher1(SCALE(a)) ++ hasher2(SCALE(b))

Declared as class attributes of a pallet; reading the attribute on a pallet instance gives a handle bound to
the runtime's current overlay (``self.account.get(who)``). An item either has a default (``ValueQuery``:
reads of absent keys return the default) or none (``OptionQuery``: absent reads return ``None``). Writing
``None`` (directly or as the result of ``mutate``) deletes the key.
"""

from __future__ import annotations

import enum
from typing import Any, Callable, Generic, Iterator, TypeVar

from runtime import hashing
from runtime.scale import Codec, ScaleDecodeError, Vec, codec_of

__all__ = ["Hasher", "StorageValue", "StorageMap", "StorageDoubleMap", "StorageItem"]

V = TypeVar("V")
_NO_DEFAULT = object()


class Hasher(enum.Enum):
    """Substrate's map hashers, in metadata order (the enum index is wire format)."""

    Blake2_128 = 0
    Blake2_256 = 1
    Blake2_128Concat = 2
    Twox128 = 3
    Twox256 = 4
    Twox64Concat = 5
    Identity = 6

    def __call__(self, data: bytes) -> bytes:
        return _HASH_FUNCTIONS[self](data)

    @property
    def concat_offset(self) -> int | None:
        """How many hash bytes precede the plain key (``None`` for hashers that do not keep the key)."""
        return {Hasher.Blake2_128Concat: 16, Hasher.Twox64Concat: 8, Hasher.Identity: 0}.get(self)


_HASH_FUNCTIONS: dict[Hasher, Callable[[bytes], bytes]] = {
    Hasher.Blake2_128: hashing.blake2_128,
    Hasher.Blake2_256: hashing.blake2_256,
    Hasher.Blake2_128Concat: hashing.blake2_128_concat,
    Hasher.Twox128: hashing.twox128,
    Hasher.Twox64Concat: hashing.twox64_concat,
    Hasher.Identity: hashing.identity,
}


class StorageItem(Generic[V]):
    """Common part of the three kinds: name, value codec, default, docs, binding to a pallet."""

    kind = ""

    def __init__(self, value: Any, *, default: Any = _NO_DEFAULT, docs: str = "") -> None:
        self.value_codec: Codec = codec_of(value)
        self.default = default
        self.docs = tuple(line.strip() for line in docs.strip().splitlines()) if docs else ()
        self.name = ""  # set by __set_name__: the metadata name is the attribute name in CamelCase
        self.attr = ""

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr
        self.name = "".join(part[:1].upper() + part[1:] for part in attr.split("_"))

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        bound = self.bind(instance.env, hashing.twox128(instance.NAME.encode()))
        instance.__dict__[self.attr] = bound  # cache: later reads skip the descriptor
        return bound

    def bind(self, env: Any, pallet_prefix: bytes) -> Any:
        raise NotImplementedError


class _Bound:
    """Shared machinery of bound handles: overlay access and value (de)coding."""

    __slots__ = ("current_overlay", "prefix", "item", "_decode", "_encode", "_default")

    def __init__(self, env: Any, prefix: bytes, item: StorageItem) -> None:
        self.current_overlay = env.current_overlay  # (one C call per access, no property)
        self.prefix = prefix
        self.item = item
        self._decode = item.value_codec.decode
        self._encode = item.value_codec.encode
        self._default = item.default if item.has_default else None

    def _read(self, key: bytes) -> Any:
        overlay = self.current_overlay()
        raw = overlay.get(key)
        if raw is None:
            return self._default
        cached = overlay.decoded.get(key)
        if cached is not None and cached[0] is raw:  # same bytes object: its decoding cannot differ
            return cached[1]
        try:
            value = self._decode(raw)
        except ScaleDecodeError as exc:  # state written by this runtime always decodes
            raise CorruptStorage(f"{self.item.name} at {key.hex()}: {exc}") from exc
        overlay.decoded[key] = (raw, value)
        return value

    def _write(self, key: bytes, value: Any) -> None:
        overlay = self.current_overlay()
        if value is None:
            overlay.delete(key)
        else:
            raw = self._encode(value)
            overlay.set(key, raw)
            overlay.decoded[key] = (raw, value)


class CorruptStorage(Exception):
    """A stored value does not decode with its declared type: a bug, never a user error."""


class StorageValue(StorageItem[V]):
    kind = "Plain"

    def bind(self, env: Any, pallet_prefix: bytes) -> "BoundValue":
        return BoundValue(env, pallet_prefix + hashing.twox128(self.name.encode()), self)


class BoundValue(_Bound):
    __slots__ = ()

    def get(self) -> Any:
        return self._read(self.prefix)

    def put(self, value: Any) -> None:
        self._write(self.prefix, value)

    def kill(self) -> None:
        self.current_overlay().delete(self.prefix)

    def take(self) -> Any:
        value = self._read(self.prefix)
        self.current_overlay().delete(self.prefix)
        return value

    def mutate(self, fn: Callable[[Any], Any]) -> Any:
        value = fn(self._read(self.prefix))
        self._write(self.prefix, value)
        return value

    def exists(self) -> bool:
        return self.current_overlay().get(self.prefix) is not None

    def append(self, item_codec: Codec, item: Any) -> None:
        """Append to a ``Vec`` value without decoding it (Substrate's ``StorageAppend``)."""
        self.current_overlay().append(self.prefix, item_codec.encode(item))

    @property
    def key(self) -> bytes:
        return self.prefix


class StorageMap(StorageItem[V]):
    kind = "Map"

    def __init__(self, key: Any, value: Any, *, hasher: Hasher = Hasher.Blake2_128Concat, **kwargs: Any) -> None:
        super().__init__(value, **kwargs)
        self.key_codec: Codec = codec_of(key)
        self.hasher = hasher

    @property
    def hashers(self) -> tuple[Hasher, ...]:
        return (self.hasher,)

    @property
    def key_codecs(self) -> tuple[Codec, ...]:
        return (self.key_codec,)

    def bind(self, env: Any, pallet_prefix: bytes) -> "BoundMap":
        return BoundMap(env, pallet_prefix + hashing.twox128(self.name.encode()), self)


class BoundMap(_Bound):
    __slots__ = ("_hash", "_encode_key", "_decode_key", "_offset")

    def __init__(self, env: Any, prefix: bytes, item: StorageMap) -> None:
        super().__init__(env, prefix, item)
        self._hash = item.hasher
        self._encode_key = item.key_codec.encode
        self._decode_key = item.key_codec.decode
        self._offset = item.hasher.concat_offset

    def key(self, k: Any) -> bytes:
        return self.prefix + self._hash(self._encode_key(k))

    def get(self, k: Any) -> Any:
        return self._read(self.prefix + self._hash(self._encode_key(k)))

    def insert(self, k: Any, value: Any) -> None:
        self._write(self.prefix + self._hash(self._encode_key(k)), value)

    def remove(self, k: Any) -> None:
        self.current_overlay().delete(self.prefix + self._hash(self._encode_key(k)))

    def take(self, k: Any) -> Any:
        key = self.prefix + self._hash(self._encode_key(k))
        value = self._read(key)
        self.current_overlay().delete(key)
        return value

    def contains(self, k: Any) -> bool:
        return self.current_overlay().get(self.prefix + self._hash(self._encode_key(k))) is not None

    def append(self, k: Any, item: Any) -> None:
        """Append ``item`` to the ``Vec`` under ``k`` without decoding it (Substrate's ``StorageAppend``)."""
        codec = self.item.value_codec
        if not isinstance(codec, Vec):
            raise TypeError(f"{self.item.name}: append needs a map of Vec values")
        self.current_overlay().append(self.prefix + self._hash(self._encode_key(k)), codec.item.encode(item))

    def mutate(self, k: Any, fn: Callable[[Any], Any]) -> Any:
        key = self.prefix + self._hash(self._encode_key(k))
        value = fn(self._read(key))
        self._write(key, value)
        return value

    def items(self) -> Iterator[tuple[Any, Any]]:
        """All entries in key order (only for hashers that keep the key: ``*Concat`` and ``Identity``)."""
        if self._offset is None:
            raise TypeError(f"{self.item.name}: cannot iterate a map whose hasher does not keep keys")
        skip = len(self.prefix) + self._offset
        for key, raw in self.current_overlay().items(self.prefix):
            yield self._decode_key(key[skip:]), self._decode(raw)

    def clear(self) -> int:
        return self.current_overlay().clear_prefix(self.prefix)


class StorageDoubleMap(StorageItem[V]):
    kind = "Map"

    def __init__(self, key1: Any, key2: Any, value: Any, *, hasher1: Hasher = Hasher.Blake2_128Concat,
                 hasher2: Hasher = Hasher.Blake2_128Concat, **kwargs: Any) -> None:
        super().__init__(value, **kwargs)
        self.key_codecs = (codec_of(key1), codec_of(key2))
        self.hashers = (hasher1, hasher2)

    def bind(self, env: Any, pallet_prefix: bytes) -> "BoundDoubleMap":
        return BoundDoubleMap(env, pallet_prefix + hashing.twox128(self.name.encode()), self)


class BoundDoubleMap(_Bound):
    __slots__ = ()

    def key(self, k1: Any, k2: Any) -> bytes:
        (c1, c2), (h1, h2) = self.item.key_codecs, self.item.hashers
        return self.prefix + h1(c1.encode(k1)) + h2(c2.encode(k2))

    def prefix_of(self, k1: Any) -> bytes:
        c1, h1 = self.item.key_codecs[0], self.item.hashers[0]
        return self.prefix + h1(c1.encode(k1))

    def get(self, k1: Any, k2: Any) -> Any:
        return self._read(self.key(k1, k2))

    def insert(self, k1: Any, k2: Any, value: Any) -> None:
        self._write(self.key(k1, k2), value)

    def remove(self, k1: Any, k2: Any) -> None:
        self.current_overlay().delete(self.key(k1, k2))

    def contains(self, k1: Any, k2: Any) -> bool:
        return self.current_overlay().get(self.key(k1, k2)) is not None

    def mutate(self, k1: Any, k2: Any, fn: Callable[[Any], Any]) -> Any:
        key = self.key(k1, k2)
        value = fn(self._read(key))
        self._write(key, value)
        return value

    def iter_prefix(self, k1: Any) -> Iterator[tuple[Any, Any]]:
        """Entries ``(k2, value)`` under ``k1``, in key order (``hasher2`` must keep the key)."""
        offset = self.item.hashers[1].concat_offset
        if offset is None:
            raise TypeError(f"{self.item.name}: cannot iterate a hasher that does not keep keys")
        prefix = self.prefix_of(k1)
        decode_key = self.item.key_codecs[1].decode
        for key, raw in self.current_overlay().items(prefix):
            yield decode_key(key[len(prefix) + offset :]), self._decode(raw)

    def clear_prefix(self, k1: Any) -> int:
        return self.current_overlay().clear_prefix(self.prefix_of(k1))
