"""The node's Substrate methods that node-info and wallet views need, against a real in-process dev node: its
real chain, pool, runtime and network, served by two real RPC servers on loopback, one allowing unsafe
methods and one (``--rpc-methods safe``) refusing them. Each method's bad inputs get a clear typed error."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import requests
import trio

from node.chain_spec import preset
from node.network import NetworkService
from node.network.config import NetworkConfig
from node.network.identity import NodeKey
from node.rpc import RpcConfig, RpcModule, RpcServer
from node.service import Node, NodeConfig
from runtime.extrinsic import encode_signed, signing_payload
from runtime.frame.construct import RuntimeBase
from runtime.genesis import CODE_KEY, runtime_code
from runtime.hashing import blake2_128_concat, blake2_256, twox128
from runtime.keyring import Keypair
from runtime.primitives import Era
from tests.node.rpc.conftest import CLIENT_TIMEOUT, in_thread, wait_until

SPEC = dataclasses.replace(preset("dev"), slot_duration_ms=300,
                           runtime=preset("dev").runtime.replace(Timestamp={"minimum_period": 150}))
ALICE, BOB = Keypair.from_uri("//Alice"), Keypair.from_uri("//Bob")
ACCOUNT_PREFIX = twox128(b"System") + twox128(b"Account")
NUMBER_KEY = twox128(b"System") + twox128(b"Number")
UNSAFE_REFUSED = {"code": -32601, "message": "RPC call is unsafe to be called externally"}


class _Servers:
    """Both RPC servers of the test node, started and stopped together."""

    def __init__(self, module: RpcModule) -> None:
        self.open = RpcServer(module, RpcConfig(port=0, rpc_methods="unsafe"))
        self.safe = RpcServer(module, RpcConfig(port=0, rpc_methods="safe"))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.open.run)
            await nursery.start(self.safe.run)
            task_status.started()


@dataclasses.dataclass
class DevNode:
    node: Node
    servers: _Servers

    async def call(self, method: str, params: list | None = None, *, safe: bool = False) -> dict[str, Any]:
        """The whole JSON-RPC response (``result`` or ``error``) of one call over HTTP."""
        port = (self.servers.safe if safe else self.servers.open).port
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        response = await in_thread(requests.post, f"http://127.0.0.1:{port}/", data=body,
                                   headers={"content-type": "application/json"}, timeout=CLIENT_TIMEOUT)
        return response.json()

    async def result(self, method: str, params: list | None = None) -> Any:
        answer = await self.call(method, params)
        assert "result" in answer, answer
        return answer["result"]

    async def error(self, method: str, params: list | None = None, *, safe: bool = False) -> dict[str, Any]:
        answer = await self.call(method, params, safe=safe)
        assert "error" in answer, answer
        return answer["error"]

    @property
    def runtime(self) -> RuntimeBase:
        return self.node.services.chain.runtime

    def transfer(self, nonce: int, value: int = 10**12, *, tip: int = 0) -> str:
        """A signed, immortal ``transfer_keep_alive`` from Alice to Bob."""
        runtime = self.runtime
        call = runtime.call_codec.encode(runtime.call("Balances", "transfer_keep_alive", dest=BOB.public, value=value))
        version, genesis = runtime.VERSION, self.node.tree.genesis_hash
        payload = signing_payload(call, Era(), nonce, tip, version.spec_version, version.transaction_version,
                                  genesis, genesis)
        return "0x" + encode_signed(call, ALICE.public, ALICE.scheme, ALICE.sign(payload), Era(), nonce, tip).hex()


@pytest.fixture
async def dev(nursery: trio.Nursery, tmp_path: Path) -> DevNode:
    network = NetworkService(NodeKey.generate(), NetworkConfig(listen_port=0))
    servers: list[_Servers] = []

    def rpc_factory(module: RpcModule) -> _Servers:
        servers.append(_Servers(module))
        return servers[0]

    node = Node(NodeConfig(spec=SPEC, base_path=tmp_path, validator=True, session_key_uri="//Alice"), network,
                rpc_factory)
    await nursery.start(node.run)
    await wait_until(lambda: node.tree.best.number >= 2, deadline=30)
    return DevNode(node, servers[0])


# --- node information --------------------------------------------------------------------------------------


async def test_node_info_view(dev):
    peer_id = await dev.result("system_localPeerId")
    port = dev.node.network.listen_port
    assert await dev.result("system_localListenAddresses") == [f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id}"]
    assert await dev.result("system_nodeRoles") == ["Authority"]
    state = await dev.result("system_unstable_networkState")
    assert state["peerId"] == peer_id and state["connectedPeers"] == {} and "statistics" in state
    assert await dev.error("system_unstable_networkState", safe=True) == UNSAFE_REFUSED
    methods = (await dev.result("rpc_methods"))["methods"]
    for name in ("system_nodeRoles", "system_localListenAddresses", "system_dryRun", "system_dryRunAt",
                 "payment_queryFeeDetails", "state_getPairs", "state_getKeys", "state_queryStorage",
                 "state_traceBlock", "author_removeExtrinsic", "system_addLogFilter", "system_resetLogFilter",
                 "system_unstable_networkState"):
        assert name in methods, name


async def test_code_is_in_the_state(dev):
    code = await dev.result("state_getStorage", ["0x" + CODE_KEY.hex()])
    assert code == "0x" + runtime_code(dev.runtime).hex()


# --- system_dryRun -------------------------------------------------------------------------------------------


async def test_dry_run_applies_in_a_throwaway_block(dev):
    assert await dev.result("system_dryRun", [dev.transfer(0)]) == "0x0000"  # Ok(Ok(()))
    failing = await dev.result("system_dryRunAt", [dev.transfer(0, value=10**30)])
    # Ok(Err(DispatchError::Module { index: 5 (Balances), error: InsufficientBalance }))
    assert failing == "0x000103" + "05" + "02000000"
    assert await dev.result("system_dryRun", [dev.transfer(7)]) == "0x010002"  # Err(Invalid(Future))
    assert await dev.result("system_accountNextIndex", [ALICE.ss58_address()]) == 0  # nothing was applied
    genesis = "0x" + dev.node.tree.genesis_hash.hex()
    assert await dev.result("system_dryRun", [dev.transfer(0), genesis]) == "0x0000"


async def test_dry_run_bad_inputs(dev):
    assert await dev.error("system_dryRun", [dev.transfer(0)], safe=True) == UNSAFE_REFUSED
    undecodable = await dev.error("system_dryRun", ["0x1234"])
    assert undecodable["code"] == 2 and undecodable["message"] == "Unable to dry run extrinsic"
    garbage = await dev.error("system_dryRun", ["0x08abcd"])  # a well-formed opaque extrinsic, not a Cairn one
    assert garbage["code"] == 1 and garbage["message"] == "Unable to dry run extrinsic."
    assert (await dev.error("system_dryRun", []))["code"] == -32602
    assert (await dev.error("system_dryRun", ["0x" + "00" * (6 * 1024 * 1024)]))["code"] == -32602
    unknown = await dev.error("system_dryRun", [dev.transfer(0), "0x" + "11" * 32])
    assert unknown["code"] == 4003


# --- payment_queryFeeDetails ---------------------------------------------------------------------------------


async def test_fee_details_add_up_to_the_partial_fee(dev):
    xt = dev.transfer(0, tip=5)
    details = await dev.result("payment_queryFeeDetails", [xt])
    fee = details["inclusionFee"]
    assert set(fee) == {"baseFee", "lenFee", "adjustedWeightFee"} and details["tip"] == "0x5"
    params = SPEC.runtime["TransactionPayment"]
    assert int(fee["baseFee"], 16) == params.base_fee
    assert int(fee["lenFee"], 16) == params.length_fee * (len(xt) // 2 - 1)
    info = await dev.result("payment_queryInfo", [xt])
    assert sum(int(v, 16) for v in fee.values()) == int(info["partialFee"])


async def test_fee_details_bad_inputs(dev):
    undecodable = await dev.error("payment_queryFeeDetails", ["0x0c01"])
    assert undecodable == {"code": 2, "message": "Unable to query fee details.", "data": undecodable["data"]}
    assert (await dev.error("payment_queryFeeDetails", ["0x08abcd"]))["code"] == 1
    assert (await dev.error("payment_queryInfo", ["0x0c01"]))["message"] == "Unable to query dispatch info."
    assert (await dev.error("payment_queryFeeDetails", ["abcd"]))["code"] == -32602


# --- state listings --------------------------------------------------------------------------------------------


async def test_get_pairs_and_get_keys_list_a_prefix(dev):
    prefix = "0x" + ACCOUNT_PREFIX.hex()
    pairs = await dev.result("state_getPairs", [prefix])
    keys = await dev.result("state_getKeys", [prefix])
    assert [k for k, _ in pairs] == keys and len(keys) >= 2
    alice_key = "0x" + (ACCOUNT_PREFIX + blake2_128_concat(ALICE.public)).hex()
    assert alice_key in keys
    for key, value in pairs:
        assert await dev.result("state_getStorage", [key]) == value
    genesis = "0x" + dev.node.tree.genesis_hash.hex()
    assert len(await dev.result("state_getPairs", [prefix, genesis])) >= 2


async def test_state_listing_bad_inputs(dev):
    assert await dev.error("state_getPairs", ["0x"], safe=True) == UNSAFE_REFUSED
    assert await dev.call("state_getKeys", ["0x" + ACCOUNT_PREFIX.hex()], safe=True) != {}  # safe in Substrate
    assert (await dev.error("state_getPairs", ["0x" + "00" * 40_000]))["code"] == -32602  # longer than any key
    assert (await dev.error("state_getKeys", ["nothex"]))["code"] == -32602
    assert (await dev.error("state_getPairs", ["0x", "0x" + "22" * 32]))["code"] == 4003


async def test_query_storage_walks_a_block_range(dev):
    genesis, best = dev.node.tree.genesis_hash, dev.node.tree.best
    sets = await dev.result("state_queryStorage", [["0x" + NUMBER_KEY.hex()], "0x" + genesis.hex(),
                                                   "0x" + best.block.hash.hex()])
    assert len(sets) == best.number + 1  # System.Number changes in every block
    assert sets[0]["block"] == "0x" + genesis.hex()
    assert [int.from_bytes(bytes.fromhex(s["changes"][0][1][2:]), "little") for s in sets[1:]] == \
        list(range(1, best.number + 1))
    backwards = await dev.error("state_queryStorage", [["0x" + NUMBER_KEY.hex()], "0x" + best.block.hash.hex(),
                                                       "0x" + genesis.hex()])
    assert backwards["code"] == 4001 and backwards["message"].startswith("Cannot resolve a block range")
    assert (await dev.error("state_queryStorage", [[], "0x" + "33" * 32]))["code"] == 4001
    assert (await dev.error("state_queryStorage", [["0x"] * 1001, "0x" + genesis.hex()]))["code"] == -32602
    assert (await dev.error("state_queryStorage", [["0x"]]))["code"] == -32602
    assert await dev.error("state_queryStorage", [[], "0x" + genesis.hex()], safe=True) == UNSAFE_REFUSED


async def test_trace_block_says_tracing_is_not_supported(dev):
    best = "0x" + dev.node.tree.best_hash.hex()
    answer = await dev.result("state_traceBlock", [best, "state", "", ""])
    assert "not supported" in answer["traceError"]["error"]
    assert (await dev.error("state_traceBlock", ["0x" + "44" * 32]))["code"] == 4001
    assert (await dev.error("state_traceBlock", [best, "x" * 5000]))["code"] == -32602
    assert await dev.error("state_traceBlock", [best], safe=True) == UNSAFE_REFUSED


# --- author_removeExtrinsic ------------------------------------------------------------------------------------


async def test_remove_extrinsic_takes_it_out_and_bans_it(dev):
    future = dev.transfer(50)  # a nonce far ahead: it waits in the pool
    tx_hash = await dev.result("author_submitExtrinsic", [future])
    assert future in await dev.result("author_pendingExtrinsics")
    assert await dev.result("author_removeExtrinsic", [[{"hash": tx_hash}, {"hash": "0x" + "55" * 32}]]) == [tx_hash]
    assert future not in await dev.result("author_pendingExtrinsics")
    assert (await dev.error("author_submitExtrinsic", [future]))["code"] == 1012  # temporarily banned
    other = dev.transfer(51)
    await dev.result("author_submitExtrinsic", [other])
    assert await dev.result("author_removeExtrinsic", [[{"extrinsic": other}]]) == \
        ["0x" + blake2_256(bytes.fromhex(other[2:])).hex()]


async def test_remove_extrinsic_bad_inputs(dev):
    assert await dev.error("author_removeExtrinsic", [[]], safe=True) == UNSAFE_REFUSED
    for bad in ([{"hash": "0x12"}], [{"both": 1}], [{"hash": "0x" + "00" * 32, "extrinsic": "0x"}], "0x00",
                [{"hash": "0x" + "00" * 32}] * 1001):
        assert (await dev.error("author_removeExtrinsic", [bad]))["code"] == -32602, bad


# --- log filter -------------------------------------------------------------------------------------------------


async def test_log_filter_changes_and_resets_levels(dev):
    target = logging.getLogger("cairn.test.filter")
    target.setLevel(logging.WARNING)
    assert await dev.result("system_addLogFilter", ["cairn.test.filter=trace,cairn.test.other=off"]) is None
    assert target.level == 5 and logging.getLogger("cairn.test.other").level > logging.CRITICAL
    assert await dev.result("system_resetLogFilter") is None
    assert target.level == logging.WARNING and logging.getLogger("cairn.test.other").level == logging.NOTSET
    for bad in ["cairn.test.filter=loud", "bad target=info", "x" * 5000, 7]:
        assert (await dev.error("system_addLogFilter", [bad]))["code"] == -32602, bad
    assert target.level == logging.WARNING  # a malformed directive changes nothing
    assert await dev.error("system_addLogFilter", ["info"], safe=True) == UNSAFE_REFUSED
    assert await dev.error("system_resetLogFilter", [], safe=True) == UNSAFE_REFUSED


async def test_a_connection_watches_a_bounded_number_of_storage_keys(dev):
    """Each new best block re-reads every key a connection's storage subscriptions watch: 1,024 subscriptions of
    1,000 keys that never change cost seconds of CPU a block, for a client that receives nothing."""
    import websocket

    limit = RpcConfig().max_watched_keys_per_connection

    def client() -> list[Any]:
        ws = websocket.create_connection(f"ws://127.0.0.1:{dev.servers.open.port}", timeout=CLIENT_TIMEOUT)
        try:
            answers = []
            for index in range(limit // 500 + 1):
                keys = ["0x" + f"{index:04x}{key:060x}" for key in range(500)]
                ws.send(json.dumps({"jsonrpc": "2.0", "id": index, "method": "state_subscribeStorage",
                                    "params": [keys + keys]}))  # (a key named twice is watched once)
                answers.append(json.loads(ws.recv()))
                if "result" in answers[-1]:
                    ws.recv()  # its first notification: the keys' values now
            return answers
        finally:
            ws.close()

    answers = await in_thread(client, deadline=60)
    assert all("result" in answer for answer in answers[:-1])
    assert answers[-1]["error"]["code"] == -32006 and str(limit) in answers[-1]["error"]["data"]


async def test_a_head_subscription_delivers_the_heads_made_after_it(dev):
    import websocket

    def client() -> list[Any]:
        ws = websocket.create_connection(f"ws://127.0.0.1:{dev.servers.open.port}", timeout=CLIENT_TIMEOUT)
        try:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "chain_subscribeNewHeads", "params": []}))
            return [json.loads(ws.recv()) for _ in range(4)]  # the answer, the head now, then the next two
        finally:
            ws.close()

    answer, *heads = await in_thread(client, deadline=60)
    numbers = [int(message["params"]["result"]["number"], 16) for message in heads]
    assert isinstance(answer["result"], str) and numbers == list(range(numbers[0], numbers[0] + 3))


async def test_a_head_subscription_whose_answer_never_goes_out_leaves_no_listener(dev):
    """A batch whose responses are too big together is answered -32011: its subscriptions never start, and the
    heads they listened to from the start must not stay listened to (with finality stalled, for ever)."""
    import websocket

    finalized = dev.node.services.chain.finalized_heads
    before = len(finalized)
    metadata = len((await dev.call("state_getMetadata"))["result"])  # the batch's answers add up past 15 MiB

    def client() -> dict[str, Any]:
        ws = websocket.create_connection(f"ws://127.0.0.1:{dev.servers.open.port}", timeout=CLIENT_TIMEOUT)
        try:
            batch = [{"jsonrpc": "2.0", "id": i, "method": "chain_subscribeFinalizedHeads"} for i in range(50)]
            batch += [{"jsonrpc": "2.0", "id": 1000 + i, "method": "state_getMetadata"}
                      for i in range(15 * 2**20 // metadata + 2)]
            ws.send(json.dumps(batch))
            return json.loads(ws.recv())
        finally:
            ws.close()

    answer = await in_thread(client, deadline=60)
    assert answer["error"]["code"] == -32011, answer
    assert len(finalized) <= before  # dropped at once (fewer: one gone before was dropped by a publish)
