"""Metadata V14, generated from the pallets' declarations (never written by hand per pallet).

Every type reachable from a call argument, event field, storage entry, constant or signed extension gets an
entry in a portable type registry with dense ids equal to its position (``@polkadot/api`` indexes the list
by id). The registry and pallets are built as the dictionaries ``scalecodec`` uses for V14, then encoded
here; the tests encode the same dictionaries with ``scalecodec``'s own ``MetadataVersioned`` class (the code
``substrate-interface`` decodes with) and require identical bytes.

The result is ``RuntimeMetadataPrefixed``: ``b"meta"`` then ``0x0e`` (V14) then the body, with no length
prefix (``state_getMetadata``); the runtime APIs wrap it as ``OpaqueMetadata``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from runtime.frame.construct import RuntimeBase
from runtime.frame.storage import StorageDoubleMap, StorageItem, StorageMap
from runtime.scale import BYTES, U8, Codec, Tuple, _field, encode_compact

__all__ = ["TypeRegistry", "SignedExtensionInfo", "build_metadata", "METADATA_MAGIC"]

METADATA_MAGIC = b"meta"
METADATA_VERSION = 14


class TypeRegistry:
    """A portable type registry: codecs in, dense ids out. Ids are reserved before a type's definition is
    computed, so recursive types (a ``RuntimeCall`` inside ``Sudo::sudo``) terminate. ``substitutions``
    replace the codecs that only the runtime's composition defines (``RuntimeCall``, ``RuntimeHoldReason``,
    ...) wherever they occur, however deeply nested."""

    def __init__(self, substitutions: dict[Codec, Codec] | None = None) -> None:
        self.types: list[dict | None] = []
        self._ids: dict[Any, int] = {}
        self._substitutions = substitutions or {}

    def id_of(self, codec: Codec) -> int:
        codec = self._substitutions.get(codec, codec)
        key = codec.registry_key()
        type_id = self._ids.get(key)
        if type_id is not None:
            return type_id
        type_id = self._ids[key] = len(self.types)
        self.types.append(None)
        params = codec.type_params(self)
        definition = codec.type_def(self)
        self.types[type_id] = {
            "id": type_id,
            "type": {"path": list(codec.path), "params": params, "def": definition, "docs": list(codec.docs)},
        }
        return type_id

    def portable(self) -> dict:
        assert all(t is not None for t in self.types)
        return {"types": list(self.types)}


@dataclass(frozen=True)
class SignedExtensionInfo:
    identifier: str
    ty: Codec
    additional_signed: Codec


class _UncheckedExtrinsic(Codec):
    """``sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic`` (type params named and ordered
    ``Address, Call, Signature, Extra``: scalecodec reads them by name, polkadot.js by position)."""

    path = ("sp_runtime", "generic", "unchecked_extrinsic", "UncheckedExtrinsic")

    def __init__(self, address: Codec, call: Codec, signature: Codec, extra: Codec) -> None:
        self.params = (("Address", address), ("Call", call), ("Signature", signature), ("Extra", extra))

    def type_params(self, registry: Any) -> list[dict]:
        return [{"name": n, "type": registry.id_of(c)} for n, c in self.params]

    def type_def(self, registry: Any) -> dict:
        return {"composite": {"fields": [_field(None, registry.id_of(BYTES))]}}


class _RuntimeType(Codec):
    def __init__(self, crate: str) -> None:
        self.path = (crate, "Runtime")

    def type_def(self, registry: Any) -> dict:
        return {"composite": {"fields": []}}


def _storage_entry(item: StorageItem, registry: TypeRegistry, substitutions: dict[Codec, Codec]) -> dict:
    value_codec = substitutions.get(item.value_codec, item.value_codec)
    if isinstance(item, (StorageMap, StorageDoubleMap)):
        codecs = item.key_codecs
        key_type = registry.id_of(codecs[0] if len(codecs) == 1 else Tuple(*codecs))
        entry_type: dict = {"Map": {
            "hashers": [h.name for h in item.hashers],
            "key": key_type,
            "value": registry.id_of(value_codec),
        }}
    else:
        entry_type = {"Plain": registry.id_of(value_codec)}
    return {
        "name": item.name,
        "modifier": "Default" if item.has_default else "Optional",
        "type": entry_type,
        "default": "0x" + (value_codec.encode(item.default) if item.has_default else b"\x00").hex(),
        "documentation": list(item.docs),
    }


def _storage_items(pallet_cls: type) -> list[StorageItem]:
    return [v for v in vars(pallet_cls).values() if isinstance(v, StorageItem)]


def build_metadata_dict(runtime: RuntimeBase, address: Codec, signature: Codec,
                        extensions: Sequence[SignedExtensionInfo]) -> dict:
    registry = TypeRegistry(runtime.substitutions)
    pallets = []
    for index, pallet in sorted(runtime.pallets.items()):
        cls = type(pallet)
        items = _storage_items(cls)
        calls = runtime.call_codec.pallet_types.get(index)
        events = runtime.event_codec.pallet_enums.get(index)
        errors = runtime.error_types.get(index)
        pallets.append({
            "name": pallet.NAME,
            "storage": {"prefix": pallet.NAME, "entries": [_storage_entry(i, registry, runtime.substitutions) for i in items]} if items else None,
            "calls": {"ty": registry.id_of(calls)} if calls is not None else None,
            "event": {"ty": registry.id_of(events)} if events is not None else None,
            "constants": [
                {
                    "name": c.name,
                    "type": registry.id_of(c.codec),
                    "value": "0x" + c.codec.encode(c.value(pallet.config)).hex(),
                    "documentation": [line.strip() for line in c.docs.strip().splitlines()] if c.docs else [],
                }
                for c in cls.CONSTANTS
            ],
            "error": {"ty": registry.id_of(errors)} if errors is not None else None,
            "index": index,
        })
    # The aggregate types are registered even where no pallet field mentions them: clients look them up.
    registry.id_of(runtime.event_record_codec)
    registry.id_of(runtime.events_codec)
    extra = Tuple(*(e.ty for e in extensions))
    extrinsic_type = registry.id_of(_UncheckedExtrinsic(address, runtime.call_codec, signature, extra))
    signed_extensions = [
        {"identifier": e.identifier, "ty": registry.id_of(e.ty), "additional_signed": registry.id_of(e.additional_signed)}
        for e in extensions
    ]
    runtime_type = registry.id_of(_RuntimeType(runtime.CRATE))
    registry.id_of(U8)
    return {
        "types": registry.portable(),
        "pallets": pallets,
        "extrinsic": {"ty": extrinsic_type, "version": 4, "signed_extensions": signed_extensions},
        "runtime_type": runtime_type,
    }


def build_metadata(runtime: RuntimeBase, address: Codec, signature: Codec,
                   extensions: Sequence[SignedExtensionInfo]) -> bytes:
    """``RuntimeMetadataPrefixed`` bytes for ``runtime``."""
    body = build_metadata_dict(runtime, address, signature, extensions)
    return METADATA_MAGIC + bytes((METADATA_VERSION,)) + _encode_v14(body)


# --- V14 encoding ---------------------------------------------------------------------------------
# Hand-written so the runtime does not import scalecodec (whose preset loader pulls in an HTTP client,
# house rule 1); tests check the bytes against scalecodec's own encoder of the same dictionaries.

_HASHERS = ("Blake2_128", "Blake2_256", "Blake2_128Concat", "Twox128", "Twox256", "Twox64Concat", "Identity")
_PRIMITIVES = ("bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "u256", "i8", "i16", "i32", "i64", "i128", "i256")
_TYPE_DEFS = ("composite", "variant", "sequence", "array", "tuple", "primitive", "compact", "bitsequence")


def _text(value: str) -> bytes:
    raw = value.encode()
    return encode_compact(len(raw)) + raw


def _vec(items: Sequence[Any], encode: Any) -> bytes:
    return encode_compact(len(items)) + b"".join(encode(i) for i in items)


def _option(value: Any, encode: Any) -> bytes:
    return b"\x00" if value is None else b"\x01" + encode(value)


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _field_bytes(f: dict) -> bytes:
    return (_option(f["name"], _text) + encode_compact(f["type"]) + _option(f["typeName"], _text)
            + _vec(f["docs"], _text))


def _variant_bytes(v: dict) -> bytes:
    return _text(v["name"]) + _vec(v["fields"], _field_bytes) + bytes((v["index"],)) + _vec(v["docs"], _text)


def _type_def_bytes(definition: dict) -> bytes:
    (kind, body), = definition.items()
    tag = bytes((_TYPE_DEFS.index(kind),))
    if kind == "composite":
        return tag + _vec(body["fields"], _field_bytes)
    if kind == "variant":
        return tag + _vec(body["variants"], _variant_bytes)
    if kind in ("sequence", "compact"):
        return tag + encode_compact(body["type"])
    if kind == "array":
        return tag + body["len"].to_bytes(4, "little") + encode_compact(body["type"])
    if kind == "tuple":
        return tag + _vec(body, encode_compact)
    if kind == "primitive":
        return tag + bytes((_PRIMITIVES.index(body),))
    raise ValueError(f"unsupported type definition {kind}")


def _portable_type(entry: dict) -> bytes:
    t = entry["type"]
    params = _vec(t["params"], lambda p: _text(p["name"]) + _option(p["type"], encode_compact))
    return (encode_compact(entry["id"]) + _vec(t["path"], _text) + params + _type_def_bytes(t["def"])
            + _vec(t["docs"], _text))


def _storage_entry_bytes(e: dict) -> bytes:
    modifier = b"\x00" if e["modifier"] == "Optional" else b"\x01"
    if "Plain" in e["type"]:
        entry_type = b"\x00" + encode_compact(e["type"]["Plain"])
    else:
        m = e["type"]["Map"]
        entry_type = (b"\x01" + _vec(m["hashers"], lambda h: bytes((_HASHERS.index(h),)))
                      + encode_compact(m["key"]) + encode_compact(m["value"]))
    return _text(e["name"]) + modifier + entry_type + BYTES.encode(_hex(e["default"])) + _vec(e["documentation"], _text)


def _pallet_bytes(p: dict) -> bytes:
    storage = _option(p["storage"], lambda s: _text(s["prefix"]) + _vec(s["entries"], _storage_entry_bytes))
    ty = lambda x: encode_compact(x["ty"])  # noqa: E731
    constants = _vec(p["constants"], lambda c: _text(c["name"]) + encode_compact(c["type"])
                     + BYTES.encode(_hex(c["value"])) + _vec(c["documentation"], _text))
    return (_text(p["name"]) + storage + _option(p["calls"], ty) + _option(p["event"], ty) + constants
            + _option(p["error"], ty) + bytes((p["index"],)))


def _encode_v14(body: dict) -> bytes:
    extrinsic = body["extrinsic"]
    extensions = _vec(extrinsic["signed_extensions"], lambda e: _text(e["identifier"]) + encode_compact(e["ty"])
                      + encode_compact(e["additional_signed"]))
    return (_vec(body["types"]["types"], _portable_type) + _vec(body["pallets"], _pallet_bytes)
            + encode_compact(extrinsic["ty"]) + bytes((extrinsic["version"],)) + extensions
            + encode_compact(body["runtime_type"]))
