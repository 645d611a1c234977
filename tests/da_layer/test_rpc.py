"""The ``da_*`` RPC reads over the DA pallet's real state: four nodes registered (one then leaving), three
blobs submitted in three blocks (one attested by three of four nodes, one past its deadline, one pending);
then newest-first paging, unknown ids and bad input."""

from __future__ import annotations

import pytest

from da_layer import bls
from da_layer.attestation import bitfield
from da_layer.kzg import CELLS_PER_BLOB
from da_layer.custody import custodians
from da_layer.pallet import DEFINITION, DataAvailability
from runtime.frame.pallet import Origin
from runtime.frame.testing import TestExternalities
from runtime.ss58 import ss58_encode

from .test_pallet import NODES, PARAMS, STAKE, SUBMITTER, aggregate_of, attest, new_ext, register, run_to_block, submit

COMMITMENTS = [bls.public_key(bls.secret_from_seed(bytes([0x70 + i]) * 32)) for i in range(3)]
"""Points of G1, as a commitment must be (the pallet never needs the blob behind one)."""


def rpc(ext: TestExternalities, name: str, *args: object):
    method = next(m for m in DEFINITION.rpc if m.name == name)
    with ext:
        return method.handler(ext.runtime, list(args) + [None] * (len(method.params) - len(args)))


@pytest.fixture(scope="module")
def ext() -> TestExternalities:
    ext = new_ext()
    with ext:
        register(ext)
        ids = []
        for block, commitment in enumerate(COMMITMENTS, start=1):
            run_to_block(ext, block)
            ids.append(submit(ext, commitment, length=1000 * block))
        attest(ext, ids[1], bitfield([0, 1, 2], 4), aggregate_of(ids[1], COMMITMENTS[1], [0, 1, 2]))
        run_to_block(ext, 1 + PARAMS["attestation_deadline"])  # the first blob's deadline passes
        ext.dispatch(Origin.signed(NODES[3]), "DataAvailability", "deregister")
    ext.blob_ids = ids  # type: ignore[attr-defined]
    return ext


def test_da_nodes_lists_every_node_and_who_is_leaving(ext):
    nodes = {n["account"]: n for n in rpc(ext, "da_nodes")}
    assert set(nodes) == {ss58_encode(who) for who in NODES[:4]}
    assert [nodes[ss58_encode(who)]["state"] for who in NODES[:4]] == ["active"] * 3 + ["leaving"]
    first = nodes[ss58_encode(NODES[0])]
    assert first["stake"] == str(STAKE) and first["endpoint"] == "http://da-0" and len(first["blsKey"]) == 2 + 96


def test_da_blobs_pages_newest_first(ext):
    first = rpc(ext, "da_blobs", None, 2)
    rest = rpc(ext, "da_blobs", first["next"], 2)
    assert rest["next"] is None
    listed = first["items"] + rest["items"]
    assert [b["id"] for b in listed] == ["0x" + blob_id.hex() for blob_id in reversed(ext.blob_ids)]
    assert [b["state"] for b in listed] == ["pending", "available", "unavailable"]
    assert [b["submitted"] for b in listed] == [3, 2, 1] and [b["length"] for b in listed] == [3000, 2000, 1000]
    available = listed[1]
    assert available["signers"] == 3 and available["signedStake"] == str(3 * STAKE)
    assert available["totalStake"] == str(4 * STAKE) and available["submitter"] == ss58_encode(SUBMITTER)
    assert available["deadline"] == 2 + PARAMS["attestation_deadline"]
    assert available["expires"] == 2 + PARAMS["retention_period"]
    assert rpc(ext, "da_blobs") == {"items": listed, "next": None}


def test_da_blob_names_signers_and_custodians(ext):
    found = rpc(ext, "da_blob", "0x" + ext.blob_ids[1].hex())
    members = [ss58_encode(who) for who in NODES[:4]]
    assert found["nodeSet"] == members and found["signerAccounts"] == members[:3]
    assert len(found["custodians"]) == CELLS_PER_BLOB
    with ext:
        pallet = ext.pallet(DataAvailability)
        record = pallet.blobs.get(ext.blob_ids[1])
        stakes = pallet.node_sets.get(record.node_set_id).stakes
    assert found["custodians"] == [[members[i] for i in custodians(column, stakes, record.custody_seed,
                                                                   PARAMS["custody_replication"])]
                                   for column in range(CELLS_PER_BLOB)]
    assert rpc(ext, "da_blob", "0x" + ext.blob_ids[0].hex())["signerAccounts"] == []
    assert rpc(ext, "da_blob", "0x" + "cd" * 32) is None


@pytest.mark.parametrize("name, args, message", [
    ("da_blob", ["0x" + "ab" * 31], "blob id"),
    ("da_blob", [None], "blob id"),
    ("da_blob", [b"\x00" * 32], "blob id"),
    ("da_blobs", [None, 0], "limit"),
    ("da_blobs", [None, 501], "limit"),
    ("da_blobs", [None, "50"], "limit"),
    ("da_blobs", ["7"], "cursor"),                      # not <block>.<position>
    ("da_blobs", ["a.b"], "cursor"),
    ("da_blobs", [["1.0"]], "start"),
])
def test_bad_params_are_refused_with_a_message(ext, name, args, message):
    with pytest.raises(ValueError, match=message):
        rpc(ext, name, *args)
