"""Metadata V14, generated from the pallets' declarations (never written by hand per pallet).

Every type reachable from a call argument, event field, storage entry, constant or signed extension gets an
entry in a portable type registry with dense ids equal to its position (``@polkadot/api`` indexes the list
by id). The dictionaries are then encoded with ``scalecodec``'s own ``MetadataVersioned`` class, i.e. with
exactly the code ``substrate-interface`` decodes them with (``shared/reference/substrate-rpc.md`` §2).

The result is ``RuntimeMetadataPrefixed``: ``b"meta"`` then ``0x0e`` (V14) then the body, with no length
prefix (``state_getMetadata``); the runtime APIs wrap it as ``OpaqueMetadata``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from runtime.frame.construct import RuntimeBase
from runtime.frame.storage import StorageDoubleMap, StorageItem, StorageMap
from runtime.scale import BYTES, U8, Codec, Tuple, _field

__all__ = ["TypeRegistry", "SignedExtensionInfo", "build_metadata", "METADATA_MAGIC"]

METADATA_MAGIC = b"meta"
METADATA_VERSION = 14


class TypeRegistry:
    """A portable type registry: codecs in, dense ids out. Ids are reserved before a type's definition is
    computed, so recursive types (a ``RuntimeCall`` inside ``Sudo::sudo``) terminate."""

    def __init__(self) -> None:
        self.types: list[dict | None] = []
        self._ids: dict[Any, int] = {}

    def id_of(self, codec: Codec) -> int:
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
    registry = TypeRegistry()
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
    from scalecodec.base import RuntimeConfigurationObject
    from scalecodec.type_registry import load_type_registry_preset

    body = build_metadata_dict(runtime, address, signature, extensions)
    config = RuntimeConfigurationObject()  # never the process-global RuntimeConfiguration()
    config.update_type_registry(load_type_registry_preset("core"))
    encoded = config.create_scale_object("MetadataVersioned").encode(["0x" + METADATA_MAGIC.hex(), {"V14": body}])
    return bytes(encoded.data)
