"""Serving the JSON-RPC methods pallets add (``PalletDefinition.rpc``), next to the node's own.

A layer's pallet (storage, DA, compute) declares its read methods in pure terms (``runtime.frame.composition
.RpcMethod``: a name, parameter names, a handler over the runtime bound to one block's state). This module
turns each into a method of the node's RPC module: it takes the optional trailing block hash, resolves the
block's state on the trio thread (which alone touches the block tree), runs the handler in a worker thread
with the runtime bound to that state (rule 5: a slow read never stalls the event loop), and answers
``ValueError`` as invalid params. The server applies its usual limits and safe/unsafe policy to them.
"""

from __future__ import annotations

from typing import Any, Protocol

import trio

from node.api.errors import state_at
from node.api.shapes import InvalidHex, from_hex
from node.blocktree import BlockTree
from node.rpc.jsonrpc import RpcError
from node.rpc.registry import Handler, RpcModule
from node.rpc.subscriptions import CallContext
from runtime.frame.composition import RpcMethod
from runtime.frame.construct import RuntimeBase
from runtime.frame.overlay import Overlay
from runtime.trie import TrieState

__all__ = ["pallet_rpc_module", "PALLET_RPC_THREADS"]

PALLET_RPC_THREADS = 2
"""Pallet RPC calls running at once; more wait their turn (the machine has few cores to give)."""


class ChainView(Protocol):
    runtime: RuntimeBase
    tree: BlockTree


def pallet_rpc_module(chain: ChainView) -> RpcModule:
    """Every RPC method of every pallet in ``chain.runtime``'s composition."""
    module = RpcModule()
    limiter = trio.CapacityLimiter(PALLET_RPC_THREADS)
    for slot in chain.runtime.composition:
        for method in slot.definition.rpc:
            module.register(method.name, _handler(chain, method, limiter), unsafe=method.unsafe,
                            param_names=(*method.params, "at"))
    return module


def _handler(chain: ChainView, method: RpcMethod, limiter: trio.CapacityLimiter) -> Handler:
    arity = len(method.params)

    async def handle(params: list, ctx: CallContext) -> Any:
        if len(params) > arity + 1:
            raise RpcError.invalid_params(f"{method.name} takes at most {arity + 1} parameters")
        args = list(params[:arity]) + [None] * (arity - len(params[:arity]))
        state = await _state(chain.tree, params[arity] if len(params) > arity else None, limiter)
        runtime = chain.runtime

        def read() -> Any:
            with runtime.executing(Overlay(state)):
                return method.handler(runtime, args)

        try:
            return await trio.to_thread.run_sync(read, limiter=limiter)
        except ValueError as exc:
            raise RpcError.invalid_params(f"{method.name}: {exc}") from None

    return handle


async def _state(tree: BlockTree, at: object, limiter: trio.CapacityLimiter) -> TrieState:
    try:
        block_hash = tree.best_hash if at is None else from_hex(at, length=32, what="block hash")
    except InvalidHex as exc:
        raise RpcError.invalid_params(str(exc)) from None
    return await state_at(tree, block_hash, limiter)
