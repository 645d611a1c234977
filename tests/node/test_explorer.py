"""``explorer_block``, ``explorer_validators`` and ``explorer_account`` over a block tree of the dev chain: real
blocks built by the executive with an Aura slot in their digest and real signed extrinsics (a transfer, a
transfer that fails, a long remark, a storage node's registration and its stake), decoded through the runtime's
own types; then bounds, unknown blocks and bad params."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from devnet.local_chain import LocalChain
from node.api import explorer
from node.api.explorer import explorer_module
from node.blocktree import BlockTree
from node.chain_spec import preset
from node.consensus import aura
from node.rpc.jsonrpc import RpcError
from node.rpc.subscriptions import CallContext
from runtime.cairn import CairnRuntime
from runtime.executive import Block, BlockBuilder, timestamp_inherent
from runtime.frame.overlay import Overlay
from runtime.keyring import Keypair
from runtime.ss58 import ss58_encode
from tests.runtime.helpers import sign

ALICE, BOB = Keypair.from_uri("//Alice"), Keypair.from_uri("//Bob")
REMARK = bytes(range(100))
CTX = CallContext(transport="http", peer=None, allow_unsafe=False, method="explorer_block")


@dataclass
class ChainView:
    runtime: CairnRuntime
    tree: BlockTree


def build(chain: LocalChain, tree: BlockTree, extrinsics: list[bytes], slot: int) -> Block:
    """The next block on the best one, in Aura slot ``slot``, holding ``extrinsics`` (all must apply)."""
    parent = tree.best
    builder = BlockBuilder(chain.runtime, parent.state, parent.block.hash, parent.number + 1, aura.pre_digest(slot))
    builder.apply_extrinsic(timestamp_inherent(chain.runtime, slot * chain.spec.slot_duration_ms))
    for raw in extrinsics:
        builder.apply_extrinsic(raw)
    header, state = builder.finalize()
    block = Block(header, tuple(builder.extrinsics))
    tree.insert(block, state, slot)
    return block


@pytest.fixture(scope="module")
def chain() -> ChainView:
    local = LocalChain(preset("dev"))
    tree = BlockTree(local.blocks[local.genesis_hash], local.best_state)
    build(local, tree, [
        sign(local, ALICE, "Balances", "transfer_keep_alive", nonce=0, dest=BOB.public, value=10**12),
        sign(local, BOB, "Balances", "transfer_keep_alive", nonce=0, dest=ALICE.public, value=10**30),
        sign(local, ALICE, "System", "remark", nonce=1, remark=REMARK),
    ], slot=7)
    return ChainView(local.runtime, tree)


async def call(chain: ChainView, name: str, *params: object):
    return await explorer_module(chain).lookup(name).handler(list(params), CTX)


async def test_a_block_shows_its_extrinsics_and_events_decoded(chain):
    block = await call(chain, "explorer_block")
    assert block["number"] == 1 and block["hash"] == "0x" + chain.tree.best_hash.hex() and not block["truncated"]
    assert block["parentHash"] == "0x" + chain.tree.genesis_hash.hex()
    validators = await call(chain, "explorer_validators")
    assert block["author"] == validators[7 % len(validators)]["account"]
    inherent, transfer, failed, remark = block["extrinsics"]
    assert (inherent["pallet"], inherent["call"], inherent["signer"], inherent["nonce"]) == (
        "Timestamp", "set", None, None)
    assert inherent["args"] == {"now": 7 * 2000} and inherent["success"]
    assert transfer | {"hash": None} == {
        "index": 1, "hash": None, "pallet": "Balances", "call": "transfer_keep_alive",
        "signer": ss58_encode(ALICE.public), "nonce": 0, "args": {"dest": ss58_encode(BOB.public), "value": str(10**12)},
        "success": True, "error": None}
    assert (failed["success"], failed["error"], failed["signer"]) == (
        False, "Balances.InsufficientBalance", ss58_encode(BOB.public))
    assert remark["args"] == {"remark": f"0x{REMARK[:32].hex()}…(100 bytes)"}
    events = block["events"]
    assert [e["index"] for e in events] == list(range(len(events)))
    transferred = next(e for e in events if e["pallet"] == "Balances" and e["name"] == "Transfer")
    assert transferred["phase"] == "apply:1" and transferred["fields"] == {
        "from": ss58_encode(ALICE.public), "to": ss58_encode(BOB.public), "amount": str(10**12)}
    outcomes = [(e["phase"], e["name"]) for e in events if e["pallet"] == "System"]
    assert ("apply:2", "ExtrinsicFailed") in outcomes and ("apply:3", "ExtrinsicSuccess") in outcomes
    failure = next(e for e in events if e["name"] == "ExtrinsicFailed")
    assert "Module" in failure["fields"]["dispatch_error"]


async def test_genesis_has_no_author_and_a_block_is_found_by_hash(chain):
    genesis = await call(chain, "explorer_block", "0x" + chain.tree.genesis_hash.hex())
    assert genesis["number"] == 0 and genesis["author"] is None and genesis["extrinsics"] == []


async def test_validators_are_the_authority_set(chain):
    with chain.runtime.executing(Overlay(chain.tree.best.state)):
        keys = chain.runtime.validator_set.authorities()
    assert await call(chain, "explorer_validators") == [
        {"account": ss58_encode(key), "aura": "0x" + key.hex(), "grandpa": "0x" + key.hex()} for key in keys]
    assert await call(chain, "explorer_validators", "0x" + chain.tree.genesis_hash.hex()) == \
        await call(chain, "explorer_validators")


async def test_a_big_block_is_cut_at_the_bound(chain, monkeypatch):
    monkeypatch.setattr(explorer, "MAX_ITEMS", 2)
    block = await call(chain, "explorer_block")
    assert block["truncated"] and len(block["extrinsics"]) == 2 and len(block["events"]) == 2


async def test_an_unknown_block_is_null(chain):
    assert await call(chain, "explorer_block", "0x" + "ab" * 32) is None


@pytest.mark.parametrize("name, params, code", [
    ("explorer_block", ["0x1234"], -32602),                 # not a block hash
    ("explorer_block", [12], -32602),
    ("explorer_block", [None, "extra"], -32602),            # too many params
    ("explorer_validators", ["0xzz" + "00" * 31], -32602),
    ("explorer_validators", ["0x" + "ab" * 32], 4003),      # an unknown block: no state to read
])
async def test_bad_params_are_answered_with_an_error(chain, name, params, code):
    with pytest.raises(RpcError) as refused:
        await call(chain, name, *params)
    assert refused.value.code == code


@pytest.fixture(scope="module")
def staked() -> tuple[ChainView, int]:
    """A chain whose first block registers Bob as a storage node: a hold on his balance."""
    local = LocalChain(preset("dev"))
    tree = BlockTree(local.blocks[local.genesis_hash], local.best_state)
    stake = local.runtime.by_name["StorageNodes"].config.min_stake
    build(local, tree, [sign(local, BOB, "StorageNodes", "register", nonce=0, endpoint=b"http://127.0.0.1:9",
                             capacity=1 << 30, stake=stake)], slot=3)
    return ChainView(local.runtime, tree), stake


async def test_an_account_shows_what_holds_its_reserved_balance(staked):
    chain, stake = staked
    bob = await call(chain, "explorer_account", ss58_encode(BOB.public))
    with chain.runtime.executing(Overlay(chain.tree.best.state)):
        info = chain.runtime.system.get_account(BOB.public)
    assert bob == {"account": ss58_encode(BOB.public), "nonce": 1, "consumers": info.consumers,
                   "free": str(info.data.free), "reserved": str(stake), "frozen": "0",
                   "existentialDeposit": str(chain.runtime.by_name["Balances"].config.existential_deposit),
                   "holds": [{"pallet": "StorageNodes", "reason": "NodeStake", "amount": str(stake)}]}
    before = await call(chain, "explorer_account", "0x" + BOB.public.hex(), "0x" + chain.tree.genesis_hash.hex())
    assert (before["nonce"], before["reserved"], before["holds"]) == (0, "0", [])  # at genesis: nothing held yet
    nobody = await call(chain, "explorer_account", ss58_encode(bytes(32)))
    assert (nobody["free"], nobody["nonce"], nobody["holds"]) == ("0", 0, [])  # an account the chain never saw


@pytest.mark.parametrize("params, code", [
    ([], -32602), (["5Foo"], -32602), (["0x1234"], -32602), ([7], -32602),
    ([ss58_encode(ALICE.public), None, "extra"], -32602),
    ([ss58_encode(ALICE.public), "0x" + "ab" * 32], 4003),  # an unknown block: no state to read
])
async def test_an_account_request_that_names_none_is_refused(staked, params, code):
    with pytest.raises(RpcError) as refused:
        await call(staked[0], "explorer_account", *params)
    assert refused.value.code == code
