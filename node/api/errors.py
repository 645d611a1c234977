"""How the node's typed refusals become Substrate's JSON-RPC errors (``shared/reference/substrate-rpc.md``).

The services say *why* something was refused with their own types (a pool refusal, an extrinsic that does not
decode, the runtime's ``InvalidTransaction``/``UnknownTransaction``, a failed runtime call); only this module
knows the codes and messages clients expect for each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio

from node.api.shapes import to_hex
from node.blocktree import BlockTree, StatePruned, UnknownBlock
from node.db.errors import UnknownBlock as StoredBlockUnknown
from node.rpc.jsonrpc import RpcError
from node.txpool import PoolError
from runtime.apis import RuntimeApiError
from runtime.extrinsic import MalformedExtrinsic, TransactionValidityError
from runtime.trie import TrieState

__all__ = ["refusal_error", "runtime_call_error", "state_at", "check_state_at", "CLIENT_ERROR", "MALFORMED_EXTRINSIC"]

CLIENT_ERROR = 4003
"""Substrate's code for a client-side failure (unknown block, pruned state, failed runtime call)."""
MALFORMED_EXTRINSIC = 1001
INVALID_TRANSACTION = 1010
UNKNOWN_TRANSACTION = 1011


def refusal_error(refusal: PoolError | MalformedExtrinsic | TransactionValidityError) -> RpcError:
    """The error ``author_submitExtrinsic`` answers for a refused transaction."""
    if isinstance(refusal, PoolError):
        return RpcError(refusal.code, str(refusal))
    if isinstance(refusal, MalformedExtrinsic):
        return RpcError(MALFORMED_EXTRINSIC, "Extrinsic has invalid format", str(refusal))
    if refusal.OUTER_INDEX == 0:
        return RpcError(INVALID_TRANSACTION, "Invalid Transaction", refusal.message)
    return RpcError(UNKNOWN_TRANSACTION, "Unknown Transaction Validity", refusal.message)


def runtime_call_error(error: RuntimeApiError) -> RpcError:
    """The error ``state_call`` answers when the runtime cannot answer."""
    return RpcError(CLIENT_ERROR, "Client error: Execution failed", str(error))


async def state_at(tree: BlockTree, block_hash: bytes, limiter: trio.CapacityLimiter) -> TrieState:
    """The state of ``block_hash``, or the error Substrate answers for an unknown block or a pruned state. A
    state memory no longer holds is rebuilt from the database in a worker thread under ``limiter``: the whole
    trie, a second or more for a large state, which on the event loop would stall block import and voting."""
    with _state_errors(block_hash):
        state = tree.state_in_memory(block_hash)
        if state is None:
            state = await trio.to_thread.run_sync(tree.stored_state, block_hash, limiter=limiter)
            tree.keep_state(block_hash, state)
        return state


def check_state_at(tree: BlockTree, block_hash: bytes) -> None:
    """Raise what :func:`state_at` raises for a block with no state, rebuilding none (the database holds the
    state of every block it holds): for calls that name a block but read nothing of its state."""
    with _state_errors(block_hash):
        tree.state_in_memory(block_hash)


@contextmanager
def _state_errors(block_hash: bytes) -> Iterator[None]:
    try:
        yield
    except (UnknownBlock, StoredBlockUnknown):  # (the store's: a fork pruned while its state was rebuilt)
        raise RpcError(CLIENT_ERROR, "Client error: UnknownBlock", f"header not found: {to_hex(block_hash)}") from None
    except StatePruned:
        raise RpcError(CLIENT_ERROR, "Client error: State already discarded", to_hex(block_hash)) from None
