"""A pallet's RPC methods (``PalletDefinition.rpc``) served by the node's RPC module: params, the optional block
hash, invalid params, unknown blocks, and the unsafe policy."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from node.api.pallet_rpc import pallet_rpc_module
from node.blocktree import BlockTree
from node.rpc.jsonrpc import RpcError
from node.rpc.subscriptions import CallContext
from runtime.frame.composition import PalletDefinition, PalletSlot, RpcMethod, RuntimeParams
from runtime.frame.construct import RuntimeBase
from runtime.frame.overlay import Overlay
from runtime.frame.pallet import Pallet
from runtime.frame.storage import StorageValue
from runtime.pallets import system
from runtime.primitives import Header
from runtime.scale import U32
from runtime.executive import Block
from runtime.trie import TrieState


@dataclass(frozen=True)
class CounterConfig:
    pass


class Counter(Pallet[CounterConfig]):
    NAME = "Counter"
    value = StorageValue(U32, default=0)


def _counter_value(runtime: RuntimeBase, args: list) -> dict:
    (times,) = args
    if times is not None and (not isinstance(times, int) or not 0 <= times <= 10):
        raise ValueError("times must be an integer from 0 to 10")
    return {"value": runtime.pallet(Counter).value.get() * (times if times is not None else 1)}


COUNTER = PalletDefinition(pallet=Counter, config=CounterConfig, weights=None, rpc=(
    RpcMethod("counter_value", _counter_value, params=("times",)),
    RpcMethod("counter_reset", lambda runtime, args: None, unsafe=True),
))


@dataclass
class ChainView:
    runtime: RuntimeBase
    tree: BlockTree


@pytest.fixture
def chain() -> ChainView:
    slots = (PalletSlot(0, system.DEFINITION), PalletSlot(9, COUNTER))
    runtime = RuntimeBase(slots, RuntimeParams([s.definition for s in slots]))
    overlay = Overlay(TrieState())
    with runtime.executing(overlay):
        runtime.pallet(Counter).value.put(7)
    state = TrieState().apply(overlay.changes())
    genesis = Block(Header(bytes(32), 0, state.root, bytes(32)), ())
    return ChainView(runtime, BlockTree(genesis, state))


CTX = CallContext(transport="http", peer=None, allow_unsafe=True, method="counter_value")


async def call(module, name: str, params: list):
    return await module.lookup(name).handler(params, CTX)


async def test_a_pallet_method_reads_the_state_of_the_best_or_a_given_block(chain):
    module = pallet_rpc_module(chain)
    assert sorted(module.method_names()) == ["counter_reset", "counter_value"]
    assert module.lookup("counter_reset").unsafe and not module.lookup("counter_value").unsafe
    assert await call(module, "counter_value", []) == {"value": 7}
    assert await call(module, "counter_value", [3]) == {"value": 21}
    assert await call(module, "counter_value", [2, "0x" + chain.tree.genesis_hash.hex()]) == {"value": 14}


@pytest.mark.parametrize("params, code", [
    ([11], -32602),                    # the handler's own bound
    (["many"], -32602),
    ([1, "0x1234"], -32602),           # not a block hash
    ([1, "0x" + "ab" * 32], 4003),     # an unknown block
    ([1, None, "extra"], -32602),      # more parameters than declared + at
])
async def test_bad_params_are_answered_with_an_error(chain, params, code):
    with pytest.raises(RpcError) as refused:
        await call(pallet_rpc_module(chain), "counter_value", params)
    assert refused.value.code == code
