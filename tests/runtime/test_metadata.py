"""Metadata: byte-identical to scalecodec's encoding, decodable by the client, and pinned by a snapshot.

Pallet names and indices, calls, events, errors, storage layouts, constants and the fields of every named
type are wire format. The snapshot below pins them; when it no longer matches, either the change was a mistake, or ``spec_version``
must be bumped and the snapshot regenerated with ``CAIRN_UPDATE_METADATA_SNAPSHOT=1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset

from node.chain_spec import preset
from runtime.cairn import CairnRuntime, runtime_params
from runtime.extrinsic import SIGNED_EXTENSIONS
from runtime.frame.metadata import build_metadata_dict
from runtime.genesis import CODE_FORMAT, CODE_KEY, runtime_code
from runtime.hashing import blake2_256
from runtime.primitives import ACCOUNT_LOOKUP, MULTI_SIGNATURE

SNAPSHOT = Path(__file__).with_name("metadata_snapshot.json")


@pytest.fixture(scope="module")
def runtime() -> CairnRuntime:
    return CairnRuntime()


@pytest.fixture(scope="module")
def body(runtime) -> dict:
    return build_metadata_dict(runtime, ACCOUNT_LOOKUP, MULTI_SIGNATURE, SIGNED_EXTENSIONS)


def _config() -> RuntimeConfigurationObject:
    config = RuntimeConfigurationObject()
    config.update_type_registry(load_type_registry_preset("core"))
    return config


def test_bytes_equal_scalecodec_encoding_and_decode_round_trip(runtime, body):
    encoded = _config().create_scale_object("MetadataVersioned").encode(["0x6d657461", {"V14": body}])
    assert bytes(encoded.data) == runtime.metadata
    config = _config()
    decoded = config.create_scale_object("MetadataVersioned", data=ScaleBytes(runtime.metadata))
    decoded.decode()
    config.add_portable_registry(decoded)
    reencoded = _config().create_scale_object("MetadataVersioned").encode(decoded.value)
    assert bytes(reencoded.data) == runtime.metadata


def test_registry_ids_are_dense(body):
    assert [t["id"] for t in body["types"]["types"]] == list(range(len(body["types"]["types"])))


def test_client_critical_type_paths(body):
    paths = {"::".join(t["type"]["path"]) for t in body["types"]["types"]}
    for required in ("sp_core::crypto::AccountId32", "sp_runtime::multiaddress::MultiAddress",
                     "sp_runtime::MultiSignature", "sp_runtime::generic::era::Era", "sp_weights::weight_v2::Weight",
                     "sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic", "frame_system::EventRecord",
                     "cairn_runtime::RuntimeEvent", "cairn_runtime::RuntimeCall", "sp_runtime::DispatchError",
                     "sp_runtime::generic::digest::DigestItem"):
        assert required in paths, required
    extrinsic = body["types"]["types"][body["extrinsic"]["ty"]]["type"]
    assert [p["name"] for p in extrinsic["params"]] == ["Address", "Call", "Signature", "Extra"]
    assert [e["identifier"] for e in body["extrinsic"]["signed_extensions"]] == [
        "CheckNonZeroSender", "CheckSpecVersion", "CheckTxVersion", "CheckGenesis", "CheckMortality",
        "CheckNonce", "CheckWeight", "ChargeTransactionPayment"]


def _describe(types: list, type_id: int, depth: int = 0) -> str:
    t = types[type_id]["type"]
    if t["path"]:
        return "::".join(t["path"])
    (kind, inner), = t["def"].items()
    if depth > 3:
        return kind
    if kind in ("sequence", "compact"):
        return f"{kind}<{_describe(types, inner['type'], depth + 1)}>"
    if kind == "array":
        return f"[{_describe(types, inner['type'], depth + 1)}; {inner['len']}]"
    if kind == "tuple":
        return "(" + ", ".join(_describe(types, i, depth + 1) for i in inner) + ")"
    return str(inner)


def _variants(types: list, type_id: int) -> list:
    return [[v["index"], v["name"], [[f["name"], _describe(types, f["type"])] for f in v["fields"]]]
            for v in types[type_id]["type"]["def"]["variant"]["variants"]]


def _fields(types: list, fields: list) -> list:
    return [[f.get("name"), _describe(types, f["type"])] for f in fields]


def named_types(types: list) -> dict:
    """Every named type's shape (a struct's fields, an enum's variants and their fields), by its path and
    parameters: storage values and event fields name these types by path only, so a struct gaining a field
    changes nothing in :func:`layout` and only this shows it."""
    shapes: dict[str, list] = {}
    for entry in types:
        t = entry["type"]
        if not t["path"]:
            continue
        params = [_describe(types, p["type"]) if p["type"] is not None else "_" for p in t["params"]]
        name = "::".join(t["path"]) + (f"<{', '.join(params)}>" if params else "")
        (kind, inner), = t["def"].items()
        assert kind in ("composite", "variant"), f"{name}: a named {kind}, which this snapshot does not describe"
        shape = ([kind, _fields(types, inner["fields"])] if kind == "composite" else
                 [kind, [[v["index"], v["name"], _fields(types, v["fields"])] for v in inner["variants"]]])
        shapes.setdefault(name, [])
        if shape not in shapes[name]:
            shapes[name].append(shape)
    return {name: sorted(found, key=json.dumps) for name, found in shapes.items()}


def layout(body: dict) -> dict:
    types = body["types"]["types"]
    pallets = {}
    for p in body["pallets"]:
        storage = []
        for e in (p["storage"] or {}).get("entries", []):
            if "Plain" in e["type"]:
                shape = ["Plain", _describe(types, e["type"]["Plain"])]
            else:
                m = e["type"]["Map"]
                shape = ["Map", m["hashers"], _describe(types, m["key"]), _describe(types, m["value"])]
            storage.append([e["name"], e["modifier"], shape, e["default"]])
        pallets[p["name"]] = {
            "index": p["index"],
            "calls": _variants(types, p["calls"]["ty"]) if p["calls"] else [],
            "events": _variants(types, p["event"]["ty"]) if p["event"] else [],
            "errors": [v[1] for v in _variants(types, p["error"]["ty"])] if p["error"] else [],
            "storage": storage,
            "constants": [[c["name"], _describe(types, c["type"]), c["value"]] for c in p["constants"]],
        }
    return pallets


def test_snapshot_pins_the_wire_format(runtime, body):
    current = {"spec_version": runtime.VERSION.spec_version, "pallets": layout(body),
               "types": named_types(body["types"]["types"])}
    current = json.loads(json.dumps(current))
    wire = ("pallets", "types")
    if os.environ.get("CAIRN_UPDATE_METADATA_SNAPSHOT") == "1" or not SNAPSHOT.exists():
        if SNAPSHOT.exists():
            pinned = json.loads(SNAPSHOT.read_text())
            assert all(pinned.get(part, current[part]) == current[part] for part in wire) \
                or current["spec_version"] > pinned["spec_version"], \
                "the metadata changed: bump spec_version before regenerating the snapshot"
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(SNAPSHOT.read_text())
    for part in wire:
        assert current[part] == pinned[part], (
            f"wire format changed ({part}: a pallet's call, event, error or storage, or a type's fields): if "
            "intended, bump spec_version and regenerate with CAIRN_UPDATE_METADATA_SNAPSHOT=1")
    assert current["spec_version"] == pinned["spec_version"]


def test_code_identifies_the_runtime_and_changes_with_it(runtime):
    code = runtime_code(runtime)
    assert code == CODE_FORMAT + runtime.VERSION.encode() + blake2_256(runtime.metadata)
    dev_runtime, _, state = preset("dev").build()
    assert state.get(CODE_KEY) == runtime_code(dev_runtime)  # (the dev preset's constants differ from the defaults)
    other_constants = CairnRuntime(runtime_params({"Balances": {"existential_deposit": 1}}))
    assert runtime_code(other_constants) != code
