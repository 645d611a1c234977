"""A real dev node process, used by the unmodified substrate-interface over WebSocket and HTTP."""

from __future__ import annotations

import pytest
from substrateinterface import Keypair, SubstrateInterface

from runtime.hashing import twox128
from tests.integration.nodes import NodeProcess, rpc, wait_until


@pytest.fixture(scope="module")
def dev_node(tmp_path_factory):
    base = tmp_path_factory.mktemp("dev-node")
    node = NodeProcess(["--dev"], base / "data", 0, 0, base / "node.log").start()
    wait_until(lambda: node.best() >= 1, 60, "first block")
    yield node
    node.stop()


@pytest.fixture
def substrate(dev_node):
    client = SubstrateInterface(url=f"ws://127.0.0.1:{dev_node.rpc_port}")
    yield client
    client.close()


ALICE, BOB = Keypair.create_from_uri("//Alice"), Keypair.create_from_uri("//Bob")


def test_transfer_waits_for_inclusion_and_finalization(substrate):
    before = substrate.query("System", "Account", [BOB.ss58_address]).value["data"]["free"]
    call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 10**12})
    receipt = substrate.submit_extrinsic(substrate.create_signed_extrinsic(call, ALICE), wait_for_inclusion=True)
    assert receipt.is_success and receipt.total_fee_amount > 0
    events = [(e.value["module_id"], e.value["event_id"]) for e in receipt.triggered_events]
    assert ("Balances", "Transfer") in events and ("System", "ExtrinsicSuccess") in events
    receipt = substrate.submit_extrinsic(substrate.create_signed_extrinsic(call, ALICE), wait_for_finalization=True)
    assert receipt.is_success and receipt.finalized
    after = substrate.query("System", "Account", [BOB.ss58_address]).value["data"]["free"]
    assert after == before + 2 * 10**12


def test_failing_transfer_receipt_names_the_module_error(substrate):
    call = substrate.compose_call("Balances", "transfer_allow_death", {"dest": BOB.ss58_address, "value": 10**30})
    receipt = substrate.submit_extrinsic(substrate.create_signed_extrinsic(call, ALICE), wait_for_inclusion=True)
    assert receipt.is_success is False
    assert receipt.error_message["name"] == "InsufficientBalance"


def test_blocks_events_query_map_and_head_subscription(substrate):
    block = substrate.get_block()
    assert block["header"]["number"] >= 1 and block["extrinsics"]
    assert any(e.value["event_id"] == "ExtrinsicSuccess" for e in substrate.get_events())
    accounts = {k.value for k, _ in substrate.query_map("System", "Account")}
    assert ALICE.ss58_address in accounts
    heads = []

    def handler(header, update_nr, subscription_id):
        heads.append(header["header"]["number"])
        if len(heads) == 2:
            return heads

    assert substrate.subscribe_block_headers(handler) == heads
    assert heads[1] > heads[0]


def test_invalid_transactions_get_substrate_error_codes(dev_node, substrate):
    call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 1})
    xt = substrate.create_signed_extrinsic(call, ALICE, nonce=0)  # long used
    with pytest.raises(RuntimeError) as info:
        rpc(dev_node.rpc_port, "author_submitExtrinsic", [str(xt.data)])
    assert info.value.args[0]["code"] == 1010 and "outdated" in info.value.args[0]["data"]
    with pytest.raises(RuntimeError) as info:
        rpc(dev_node.rpc_port, "author_submitExtrinsic", ["0x1234"])
    assert info.value.args[0]["code"] == 1001


def test_resubmitting_an_included_transaction_is_refused_as_temporarily_banned(dev_node, substrate):
    call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 10**12})
    xt = substrate.create_signed_extrinsic(call, ALICE)
    assert substrate.submit_extrinsic(xt, wait_for_inclusion=True).is_success
    with pytest.raises(RuntimeError) as info:
        rpc(dev_node.rpc_port, "author_submitExtrinsic", [str(xt.data)])
    assert info.value.args[0]["code"] == 1012 and info.value.args[0]["message"] == "Transaction is temporarily banned"


def test_a_transaction_submitted_twice_in_one_batch_is_pooled_once_and_its_watch_survives(dev_node, substrate):
    """The batch's calls are validated together; the copy that loses the race is refused (1013) and must
    not end the winner's watch with a "dropped"."""
    import json

    import websocket

    call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 10**12})
    data = str(substrate.create_signed_extrinsic(call, ALICE).data)
    ws = websocket.create_connection(f"ws://127.0.0.1:{dev_node.rpc_port}", timeout=30)
    try:
        ws.send(json.dumps([{"jsonrpc": "2.0", "id": i, "method": "author_submitAndWatchExtrinsic", "params": [data]}
                            for i in (1, 2)]))
        replies = sorted(json.loads(ws.recv()), key=lambda r: r["id"])
        watching = [r["result"] for r in replies if "result" in r]
        refused = [r["error"]["code"] for r in replies if "error" in r]
        assert len(watching) == 1 and refused == [1013]
        statuses = []
        while not any(isinstance(s, dict) and "inBlock" in s for s in statuses):
            message = json.loads(ws.recv())
            assert message["params"]["subscription"] == watching[0]
            statuses.append(message["params"]["result"])
            assert "dropped" not in statuses
    finally:
        ws.close()


def test_http_client_and_payment_info(dev_node):
    http = SubstrateInterface(url=f"http://127.0.0.1:{dev_node.rpc_port}")
    call = http.compose_call("Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 10**12})
    info = http.get_payment_info(call, ALICE)
    assert info["partialFee"] > 0
    start = http.get_block_number(None)  # the best block before the transfer: it is in one after this
    tx_hash = http.submit_extrinsic(http.create_signed_extrinsic(call, ALICE)).extrinsic_hash
    scanned = [start - 1]
    wait_until(lambda: _included(http, tx_hash, scanned), 60, "HTTP-submitted transfer included")


def _included(client: SubstrateInterface, tx_hash: str, scanned: list[int]) -> bool:
    """Whether a block after ``scanned[0]`` up to the best one holds ``tx_hash``; every block is looked at once
    (``scanned[0]`` advances), so a block that was best only between two polls is not missed."""
    from runtime.hashing import blake2_256

    tip = client.get_block_number(None)
    while scanned[0] < tip:
        block = client.get_block(block_number=scanned[0] + 1)
        scanned[0] += 1
        if any("0x" + blake2_256(bytes(x.data.data)).hex() == tx_hash for x in block["extrinsics"]):
            return True
    return False


def test_prometheus_metrics(tmp_path):
    import urllib.request

    node = NodeProcess(["--dev", "--prometheus-port", "0"], tmp_path / "data", 0, 0, tmp_path / "node.log").start()
    try:
        wait_until(lambda: node.best() >= 1, 60, "first block")
        with urllib.request.urlopen(f"http://127.0.0.1:{node.ports['prometheus']}/metrics", timeout=5) as response:
            text = response.read().decode()
            assert response.headers["content-type"].startswith("text/plain")
        assert 'substrate_block_height{status="best"}' in text
        assert "substrate_sub_libp2p_peers_count 0" in text
        assert "cairn_finality_lag_blocks" in text
    finally:
        node.stop()


def test_wallet_and_node_info_views_with_substrate_interface(dev_node, substrate):
    """The Balances items an account view reads decode (zero-valued: nothing sets balance aside yet), and the
    node-info, dry-run, fee and listing methods answer as Substrate's do (unsafe ones: loopback is allowed)."""
    for item in ("Locks", "Reserves", "Holds", "Freezes"):
        assert substrate.query("Balances", item, [ALICE.ss58_address]).value == [], item
    assert substrate.rpc_request("system_nodeRoles", [])["result"] == ["Authority"]
    peer_id = substrate.rpc_request("system_localPeerId", [])["result"]
    assert substrate.rpc_request("system_localListenAddresses", [])["result"] == [
        f"/ip4/127.0.0.1/tcp/{dev_node.p2p_port}/p2p/{peer_id}"]

    call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 10**12})
    xt = str(substrate.create_signed_extrinsic(call, ALICE).data)
    assert substrate.rpc_request("system_dryRun", [xt])["result"] == "0x0000"  # Ok(Ok(()))
    details = substrate.rpc_request("payment_queryFeeDetails", [xt])["result"]
    fee = sum(int(v, 16) for v in details["inclusionFee"].values())
    assert fee == int(substrate.rpc_request("payment_queryInfo", [xt])["result"]["partialFee"])

    code = substrate.rpc_request("state_getStorage", ["0x" + b":code".hex()])["result"]
    assert bytes.fromhex(code[2:]).startswith(b"cairn-runtime/v1\x00")
    prefix = "0x" + (twox128(b"Balances") + twox128(b"TotalIssuance")).hex()
    pairs = substrate.rpc_request("state_getPairs", [prefix])["result"]
    assert pairs == [[prefix, substrate.rpc_request("state_getStorage", [prefix])["result"]]]
