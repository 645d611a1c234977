"""The layer RPC namespaces (``storage_*``, ``da_*``, ``compute_*``, ``explorer_*``) on a real dev node process,
called over WebSocket by the unmodified substrate-interface: Alice registers a storage node, and each namespace
answers about the block that holds it."""

from __future__ import annotations

import pytest
from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException

from tests.integration.nodes import NodeProcess, wait_until

ALICE = Keypair.create_from_uri("//Alice")


@pytest.fixture(scope="module")
def substrate(tmp_path_factory):
    base = tmp_path_factory.mktemp("layer-rpc")
    node = NodeProcess(["--dev"], base / "data", 0, 0, base / "node.log").start()
    try:
        wait_until(lambda: node.best() >= 1, 60, "first block")
        client = SubstrateInterface(url=f"ws://127.0.0.1:{node.rpc_port}")
        yield client
        client.close()
    finally:
        node.stop()


def result(substrate: SubstrateInterface, method: str, params: list):
    return substrate.rpc_request(method, params)["result"]


def test_each_namespace_answers_over_websocket(substrate):
    stake = substrate.get_constant("StorageNodes", "MinStake").value
    call = substrate.compose_call("StorageNodes", "register", {
        "endpoint": "0x" + b"http://127.0.0.1:9".hex(), "capacity": 1 << 30, "stake": stake})
    receipt = substrate.submit_extrinsic(substrate.create_signed_extrinsic(call, ALICE), wait_for_inclusion=True)
    assert receipt.is_success
    at = receipt.block_hash

    block = result(substrate, "explorer_block", [at])
    registered = [x for x in block["extrinsics"] if (x["pallet"], x["call"]) == ("StorageNodes", "register")]
    assert [(x["signer"], x["success"], x["args"]["stake"]) for x in registered] == [
        (ALICE.ss58_address, True, str(stake))]
    assert block["author"] in [v["account"] for v in result(substrate, "explorer_validators", [at])]

    nodes = result(substrate, "storage_nodes", [at])
    assert [(n["account"], n["endpoint"], n["state"]) for n in nodes] == [
        (ALICE.ss58_address, "http://127.0.0.1:9", "active")]
    assert result(substrate, "da_blobs", [None, 10, at]) == {"items": [], "next": None}
    assert result(substrate, "compute_jobs", []) == {"items": [], "next": None}
    unknown = "0x" + "ab" * 32
    assert result(substrate, "compute_lineage", [unknown])["nodes"] == [
        {"id": unknown, "type": "file", "label": "file", "detail": {}}]


def test_bad_params_are_invalid_params_over_the_wire(substrate):
    with pytest.raises(SubstrateRequestException) as refused:
        substrate.rpc_request("storage_files", [None, 501])
    error = refused.value.args[0]
    assert error["code"] == -32602 and "limit must be an integer from 1 to 500" in error["data"]
    assert result(substrate, "storage_file", ["0x" + "cd" * 32]) is None
