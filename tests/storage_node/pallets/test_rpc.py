"""The ``storage_*`` RPC reads over the storage pallets' real state: nodes registered, files declared and
confirmed, a node leaving (so repairs are ordered), reads recorded; then paging, unknown ids and bad input."""

from __future__ import annotations

import pytest

from runtime.frame.composition import RpcMethod
from runtime.frame.pallet import Origin
from runtime.frame.rpc_json import MAX_LIMIT
from runtime.frame.testing import TestExternalities
from runtime.ss58 import ss58_encode
from storage_node.pallets import access, file_bank, nodes
from storage_node.pallets.file_bank import FileBank

from .mock import ALICE, BOB, NODES, STAKE, confirm_all, declare, new_ext, next_block

KEY = b"\x42" * 32
SEALED = b"\x07" * 80
UNKNOWN = "0x" + "ab" * 32


def rpc(ext: TestExternalities, name: str, *args: object):
    """Call a method the way the node does: by its declared params, absent ones ``None``."""
    method = next(m for d in (nodes.DEFINITION, file_bank.DEFINITION, access.DEFINITION) for m in d.rpc
                  if m.name == name)
    assert isinstance(method, RpcMethod)
    padded = list(args) + [None] * (len(method.params) - len(args))
    with ext:
        return method.handler(ext.runtime, padded)


@pytest.fixture(scope="module")
def ext() -> TestExternalities:
    """Three files of ALICE's (two confirmed, one pending), BOB reading one of them twice (the first read recorded
    by ALICE with the grant, the second by BOB), and the node holding
    the first fragment of the first file leaving, so its fragments are being repaired."""
    ext = new_ext(nodes=7)
    with ext:
        files = [declare(ext, ALICE, 3000, seed=seed, encrypted=seed == 0) for seed in range(3)]
        for stored in files[:2]:
            confirm_all(ext, stored)
        for who in (ALICE, BOB):
            ext.dispatch(Origin.signed(who), "StorageAccess", "register_key", key=KEY)
        fid = files[0].file_id
        ext.dispatch(Origin.signed(ALICE), "StorageAccess", "grant", file_id=fid, grantee=BOB, sealed_key=SEALED)
        ext.dispatch(Origin.signed(ALICE), "StorageAccess", "grant_and_record", file_id=fid, grantee=BOB,
                     sealed_key=SEALED)
        ext.dispatch(Origin.signed(BOB), "StorageAccess", "record_access", file_id=fid)
        leaver = ext.pallet(FileBank).placements.get(fid, 0)[0]
        ext.dispatch(Origin.signed(leaver), "StorageNodes", "exit")
        next_block(ext)
    ext.files = files  # type: ignore[attr-defined]
    ext.leaver = leaver  # type: ignore[attr-defined]
    return ext


def test_storage_nodes_lists_every_node_with_its_record(ext):
    listed = {n["account"]: n for n in rpc(ext, "storage_nodes")}
    assert set(listed) == {ss58_encode(who) for who in NODES[:7]}
    leaver = listed[ss58_encode(ext.leaver)]
    assert leaver["state"] == "exiting" and leaver["stake"] == str(STAKE) and leaver["endpoint"].startswith("http://")
    assert leaver["audits"] == {"passed": 0, "missed": 0} and leaver["repairs"]["done"] == 0
    assert sum(n["fragments"] for n in listed.values()) == 3 * 2 * 5  # three files of two segments of k + m = 5
    owed = sum(n["repairs"]["owed"] for n in listed.values())
    assert owed == len(rpc(ext, "storage_repairs")) > 0


def test_storage_files_pages_through_every_file(ext):
    first = rpc(ext, "storage_files", None, 2)
    assert len(first["items"]) == 2 and first["next"] is not None
    rest = rpc(ext, "storage_files", first["next"], 2)
    assert len(rest["items"]) == 1 and rest["next"] is None
    listed = {f["id"]: f for f in first["items"] + rest["items"]}
    assert set(listed) == {"0x" + stored.file_id.hex() for stored in ext.files}
    private = listed["0x" + ext.files[0].file_id.hex()]
    assert private["private"] and private["owner"] == ss58_encode(ALICE) and private["state"] == "degraded"
    assert private["fragments"]["total"] == 10 and private["fragments"]["healthy"] < 10
    assert listed["0x" + ext.files[2].file_id.hex()]["state"] == "pending"
    assert rpc(ext, "storage_files") == {"items": first["items"] + rest["items"], "next": None}


def test_storage_file_shows_each_fragment_and_the_access_count(ext):
    fid = ext.files[0].file_id
    found = rpc(ext, "storage_file", "0x" + fid.hex())
    assert found["accessCount"] == 2 and len(found["placements"]) == 10
    first = found["placements"][0]
    assert first == {"segment": 0, "fragment": 0, "node": ss58_encode(ext.leaver), "confirmed": False,
                     "repairing": True}
    assert rpc(ext, "storage_file", UNKNOWN) is None


def test_storage_repairs_names_the_orders_of_the_leaving_nodes_fragments(ext):
    repairs = rpc(ext, "storage_repairs")
    assert {r["reason"] for r in repairs} == {"node_exit"}
    assert {"file": "0x" + ext.files[0].file_id.hex(), "segment": 0, "fragment": 0} in [
        {k: r[k] for k in ("file", "segment", "fragment")} for r in repairs]
    assert all(r["deadline"] > r["created"] and r["assignee"] != ss58_encode(ext.leaver) for r in repairs)


def test_storage_access_log_pages_oldest_first(ext):
    fid = "0x" + ext.files[0].file_id.hex()
    first = rpc(ext, "storage_accessLog", fid, None, 1)
    assert first["items"] == [{"index": 0, "account": ss58_encode(BOB), "block": 1, "recorder": ss58_encode(ALICE)}]
    assert first["next"] == "1"
    rest = rpc(ext, "storage_accessLog", fid, first["next"])
    assert [(r["index"], r["recorder"]) for r in rest["items"]] == [(1, ss58_encode(BOB))] and rest["next"] is None
    assert rpc(ext, "storage_accessLog", "0x" + ext.files[1].file_id.hex()) == {"items": [], "next": None}
    assert rpc(ext, "storage_accessLog", UNKNOWN) is None


@pytest.mark.parametrize("name, args, message", [
    ("storage_file", ["0x1234"], "file id"),                      # a short id
    ("storage_file", ["0x" + "zz" * 32], "not valid hex"),
    ("storage_file", [42], "file id"),
    ("storage_file", [None], "file id"),                          # required
    ("storage_files", [None, 0], "limit"),                        # limit bounds
    ("storage_files", [None, MAX_LIMIT + 1], "limit"),
    ("storage_files", [None, True], "limit"),
    ("storage_files", [7], "start"),                              # a cursor is a string
    ("storage_files", ["x" * 300], "start"),
    ("storage_files", ["0xnothex"], "cursor"),
    ("storage_accessLog", [UNKNOWN, "-1"], "cursor"),
    ("storage_accessLog", [UNKNOWN, "1" * 11], "cursor"),
])
def test_bad_params_are_refused_with_a_message(ext, name, args, message):
    with pytest.raises(ValueError, match=message):
        rpc(ext, name, *args)
