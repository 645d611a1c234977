"""Substrate's JSON-RPC methods over a running node (``shared/reference/substrate-rpc.md`` §8).

``build_module(node)`` returns the :class:`~node.rpc.registry.RpcModule` the node serves. Every method
takes its block-hash parameter as ``[]``, ``[null]`` or ``[hash]`` (default: the best block) and answers
unknown blocks the way Substrate does: ``null`` for headers, blocks and hashes, error 4003 for state.

The set is Substrate's standard one (``sc-rpc``, ``substrate-frame-rpc-system``,
``pallet-transaction-payment-rpc``), with its aliases, semantics, error codes and unsafe marks:

- system: ``name``, ``version``, ``chain``, ``chainType``, ``properties``, ``health``, ``localPeerId``,
  ``localListenAddresses``, ``nodeRoles``, ``syncState``, ``accountNextIndex`` (``account_nextIndex``);
  unsafe: ``peers``, ``unstable_networkState``, ``addLogFilter``, ``resetLogFilter``, ``dryRun``
  (``system_dryRunAt``: applies the extrinsic in a throwaway child block, returns the SCALE
  ``ApplyExtrinsicResult``);
- chain: ``getBlockHash`` (``getHead``), ``getHeader``, ``getBlock``, ``getFinalizedHead``
  (``getFinalisedHead``), and the new/finalized/all heads subscriptions with their aliases;
- state: ``call`` (``callAt``), ``getStorage``/``Hash``/``Size`` (``…At``), ``getKeys`` (deprecated),
  ``getKeysPaged`` (``…At``), ``queryStorageAt``, ``getReadProof``, ``getMetadata``, ``getRuntimeVersion``
  (``chain_getRuntimeVersion``), the runtime-version and storage subscriptions; unsafe: ``getPairs``,
  ``queryStorage``, ``traceBlock`` (answers ``traceError``: the runtime records no execution traces);
- author: ``submitExtrinsic``, ``submitAndWatchExtrinsic``/``unwatchExtrinsic``, ``pendingExtrinsics``;
  unsafe: ``removeExtrinsic``, ``rotateKeys``, ``insertKey``, ``hasKey``, ``hasSessionKeys``;
- payment: ``queryInfo``, ``queryFeeDetails``; and ``grandpa_roundState``. ``rpc_methods`` is the server's.

Not served: the reserved-peer methods (the network keeps its bootnodes connected but has no set a client
may change), ``author_rotateKeysWithOwner`` (the runtime has no key-ownership proof), ``childstate_*`` (the
state has no child tries) and the ``chainHead_v1``/``transaction_v1`` families.

The node is reached only through :class:`NodeHandle`, so these handlers hold no chain logic of their own.

One client must not be able to freeze the node (``DESIGN.md`` rules 5 and 8):

- every argument is bounded on its JSON value before it is decoded: hex strings to the size their type
  allows, lists to a stated length, addresses to the SS58 length (``MAX_*`` below); anything else is
  -32602 Invalid params;
- state reads that can take more than a few milliseconds (storage values, key pages and listings, storage
  queries, read proofs, blocks, the storage subscriptions' per-block diff) run in a worker thread, at most
  ``STATE_READ_THREADS`` at once, on a :class:`~runtime.trie.TrieState` (an immutable value) taken on the
  trio thread, which alone touches the block tree and the pool; the metadata is hex-encoded once.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any, Callable, Protocol, TypeVar

import trio

from node.api.errors import CLIENT_ERROR, check_state_at, state_at
from node.api.log_filter import MAX_DIRECTIVES_TEXT, InvalidDirective, LogFilter
from node.api.shapes import InvalidHex, account_from_json, block_json, fee_details_json, from_hex, header_json, to_hex
from node.blocktree import BlockTree, StatePruned, UnknownBlock
from node.broadcast import Broadcaster
from node.keystore import SESSION_KEYS_LEN, Keystore, KeystoreError
from node.rpc.jsonrpc import OVERSIZED_RESPONSE, RpcError
from node.rpc.registry import RpcModule
from node.rpc.subscriptions import CallContext, Subscription, SubscriptionClosed
from node.txpool import TxPool
from runtime.cairn import RuntimeVersion
from runtime.extrinsic import MAX_EXTRINSIC_SIZE
from runtime.primitives import Header
from runtime.hashing import blake2_256
from runtime.pallets.transaction_payment import FeeDetails, RuntimeDispatchInfo
from runtime.scale import U32, ScaleDecodeError, decode_compact
from runtime.trie import MAX_KEY_LENGTH, TrieState

__all__ = ["NodeHandle", "build_module"]

T = TypeVar("T")


# -- argument bounds ------------------------------------------------------------------------------------
MAX_KEYS_PER_PAGE = 1000
"""Keys one ``state_getKeysPaged`` call returns (Substrate's limit)."""
MAX_QUERY_KEYS = 1000
"""Storage keys in one ``state_queryStorageAt`` / ``state_getReadProof`` / ``state_subscribeStorage`` list."""
MAX_BLOCK_NUMBERS = 1000
"""Block numbers in one ``chain_getBlockHash`` list."""
MAX_NUMBER_TEXT = 66
"""Characters of a block number given as a string: Substrate's ``NumberOrHex`` holds a U256, ``0x`` + 64."""
MAX_STORAGE_KEY = MAX_KEY_LENGTH
"""Bytes of a storage key or key prefix: the longest key the trie holds."""
MAX_CALL_DATA = MAX_EXTRINSIC_SIZE + 4
"""Bytes of ``state_call`` data: the largest runtime-API argument is an extrinsic and its u32 length."""
MAX_METHOD_NAME = 256
"""Characters of a runtime-API method name (``TransactionPaymentApi_query_fee_details`` has 39)."""
MAX_SECRET_URI = 1024
"""Characters of a secret URI for ``author_insertKey`` (a 24-word phrase, a derivation path, a password)."""
MAX_LISTING_BYTES = 15 * 1024 * 1024
"""Bytes of keys (and values) one ``state_getKeys`` / ``state_getPairs`` answer may hold: Substrate's default
response limit. A larger prefix is refused (-32008); ``state_getKeysPaged`` walks any prefix."""
MAX_QUERY_BLOCKS = 256
"""Blocks one ``state_queryStorage`` range may span (each is read for every key)."""
MAX_TRACE_FILTER = 4096
"""Characters of each ``state_traceBlock`` filter argument."""

FRAME_RUNTIME_ERROR = 1
"""``substrate-frame-rpc-system`` / ``pallet-transaction-payment-rpc``: the runtime call failed."""
FRAME_DECODE_ERROR = 2
"""The same: the extrinsic does not decode."""
INVALID_BLOCK_RANGE = 4001
"""``sc-rpc``'s state error: a block range that is not a chain."""

STATE_READ_THREADS = 4
"""Worker threads reading state at once: reads hold the GIL, so more would add memory, not speed."""


class NodeHandle(Protocol):
    """What the RPC methods need from the node."""

    chain_name: str
    chain_type: str
    properties: dict
    node_name: str
    node_version: str
    tree: BlockTree
    pool: TxPool
    runtime_version: RuntimeVersion
    metadata: bytes
    new_heads: Broadcaster[Header]
    finalized_heads: Broadcaster[Header]
    imported_heads: Broadcaster[Header]
    keystore: Keystore

    async def runtime_call(self, method: str, params: bytes, at: bytes) -> bytes: ...
    async def submit_extrinsic(self, raw: bytes, *, watch: Subscription | None = None) -> bytes: ...
    def account_next_index(self, who: bytes) -> int: ...
    def health(self) -> dict: ...
    def peers(self) -> list[dict]: ...
    def sync_state(self) -> dict: ...
    def round_state(self) -> dict: ...
    def local_peer_id(self) -> str: ...
    def local_listen_addresses(self) -> list[str]:
        """Where peers reach this node, each with its ``/p2p/<peer id>``."""
    def node_roles(self) -> list[str]:
        """``["Authority"]`` for a validator, else ``["Full"]``."""
    def network_state(self) -> dict:
        """The peer-to-peer layer's state (``system_unstable_networkState``)."""


def _param(params: list, index: int, default: Any = None) -> Any:
    return params[index] if len(params) > index and params[index] is not None else default


def _hex(value: Any, what: str, *, length: int | None = None, max_length: int | None = None) -> bytes:
    try:
        return from_hex(value, length=length, max_length=max_length, what=what)
    except InvalidHex as exc:
        raise RpcError.invalid_params(str(exc)) from None


def _hash_param(node: NodeHandle, params: list, index: int = 0) -> bytes:
    value = _param(params, index)
    return node.tree.best_hash if value is None else _hex(value, "block hash", length=32)


def _bytes_param(params: list, index: int, what: str, max_length: int) -> bytes:
    value = _param(params, index)
    if value is None:
        raise RpcError.invalid_params(f"missing {what}")
    return _hex(value, what, max_length=max_length)


def _optional_bytes_param(params: list, index: int, what: str, max_length: int) -> bytes | None:
    return None if _param(params, index) is None else _bytes_param(params, index, what, max_length)


def _text_param(params: list, index: int, what: str, max_length: int) -> str:
    value = _param(params, index)
    if not isinstance(value, str) or len(value) > max_length:
        raise RpcError.invalid_params(f"{what} must be a string of at most {max_length} characters")
    return value


def _key_type_param(params: list, index: int) -> bytes:
    """A key type such as ``"aura"``: four ASCII characters (Substrate's ``KeyTypeId``)."""
    value = _param(params, index)
    if not isinstance(value, str) or len(value) != 4 or len(value.encode()) != 4:
        raise RpcError.invalid_params("key type must be four characters, such as \"aura\"")
    return value.encode()


def _keys_param(params: list, index: int) -> list[bytes]:
    keys = _param(params, index)
    if not isinstance(keys, list) or len(keys) > MAX_QUERY_KEYS:
        raise RpcError.invalid_params(f"keys must be a list of at most {MAX_QUERY_KEYS}")
    return [_hex(key, "storage key", max_length=MAX_STORAGE_KEY) for key in keys]


def _account_param(params: list, index: int) -> bytes:
    """An account id: an SS58 address (any network prefix) or 32 bytes of hex."""
    try:
        return account_from_json(_param(params, index))
    except InvalidHex as exc:
        raise RpcError.invalid_params(str(exc)) from None


def _block_number(value: Any) -> int:
    """A block number: a JSON integer, or a decimal or ``0x`` hex string (Substrate's ``NumberOrHex``)."""
    if isinstance(value, str):
        if len(value) > MAX_NUMBER_TEXT:
            raise RpcError.invalid_params(f"block number must be at most {MAX_NUMBER_TEXT} characters")
        try:
            value = int(value, 16) if value.startswith("0x") else int(value)
        except ValueError:
            raise RpcError.invalid_params("block number must be an integer or hex string") from None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RpcError.invalid_params("block number must be a non-negative integer")
    return value


def _opaque_extrinsic(params: list, message: str) -> bytes:
    """The extrinsic argument of ``system_dryRun`` and ``payment_*``: bounded, and decoded as an opaque
    extrinsic (``Compact<len> ++ bytes``) as those methods do before calling the runtime (code 2)."""
    raw = _bytes_param(params, 0, "extrinsic", MAX_EXTRINSIC_SIZE)
    try:
        length, offset = decode_compact(raw)
    except ScaleDecodeError as exc:
        raise RpcError(FRAME_DECODE_ERROR, message, str(exc)) from None
    if offset + length != len(raw):
        raise RpcError(FRAME_DECODE_ERROR, message, f"declared length {length}, got {len(raw) - offset} bytes")
    return raw


def _optional_text_param(params: list, index: int, what: str, max_length: int) -> str | None:
    return None if _param(params, index) is None else _text_param(params, index, what, max_length)


async def _block_range(tree: BlockTree, first: bytes, last: bytes,
                       limiter: trio.CapacityLimiter) -> list[tuple[bytes, TrieState]]:
    """The blocks from ``first`` to its descendant ``last``, oldest first, with their states; error 4001
    (Substrate's) when they are not such a range of at most ``MAX_QUERY_BLOCKS``."""

    def invalid(details: str) -> RpcError:
        return RpcError(INVALID_BLOCK_RANGE,
                        f"Cannot resolve a block range ['{to_hex(first)}' ... '{to_hex(last)}]. {details}")

    if first not in tree or last not in tree:
        raise invalid("Unknown block")
    lowest = tree.header(first).number
    if tree.header(last).number - lowest >= MAX_QUERY_BLOCKS:
        raise invalid(f"A range spans at most {MAX_QUERY_BLOCKS} blocks")
    hashes = [last]
    while hashes[-1] != first:
        header = tree.header(hashes[-1])
        if header.number <= lowest:
            raise invalid("The first block is not an ancestor of the last")
        hashes.append(header.parent_hash)
    return [(h, await state_at(tree, h, limiter)) for h in reversed(hashes)]


def build_module(node: NodeHandle) -> RpcModule:
    module = RpcModule()
    tree = node.tree
    reads = trio.CapacityLimiter(STATE_READ_THREADS)
    in_worker = functools.partial(_in_worker, reads)

    # --- system ---------------------------------------------------------------------------------
    async def system_chain(params: list, ctx: CallContext) -> str:
        return node.chain_name

    async def system_chain_type(params: list, ctx: CallContext) -> str:
        return node.chain_type

    async def system_name(params: list, ctx: CallContext) -> str:
        return "cairn-node"

    async def system_version(params: list, ctx: CallContext) -> str:
        return node.node_version

    async def system_properties(params: list, ctx: CallContext) -> dict:
        return node.properties

    async def system_health(params: list, ctx: CallContext) -> dict:
        return node.health()

    async def system_peers(params: list, ctx: CallContext) -> list:
        return node.peers()

    async def system_sync_state(params: list, ctx: CallContext) -> dict:
        return node.sync_state()

    async def system_local_peer_id(params: list, ctx: CallContext) -> str:
        return node.local_peer_id()

    async def system_account_next_index(params: list, ctx: CallContext) -> int:
        return node.account_next_index(_account_param(params, 0))

    async def system_local_listen_addresses(params: list, ctx: CallContext) -> list[str]:
        return node.local_listen_addresses()

    async def system_node_roles(params: list, ctx: CallContext) -> list[str]:
        return node.node_roles()

    async def system_network_state(params: list, ctx: CallContext) -> dict:
        return node.network_state()

    log_filter = LogFilter()

    async def system_add_log_filter(params: list, ctx: CallContext) -> None:
        try:
            log_filter.add(_text_param(params, 0, "directives", MAX_DIRECTIVES_TEXT))
        except InvalidDirective as exc:
            raise RpcError.invalid_params(str(exc)) from None

    async def system_reset_log_filter(params: list, ctx: CallContext) -> None:
        log_filter.reset()

    async def system_dry_run(params: list, ctx: CallContext) -> str:
        message = "Unable to dry run extrinsic"
        raw = _opaque_extrinsic(params, message)
        return to_hex(await frame_call("BlockBuilder_apply_extrinsic", raw, _hash_param(node, params, 1),
                                       f"{message}."))

    for name, handler, aliases in (
        ("system_chain", system_chain, ()), ("system_chainType", system_chain_type, ()),
        ("system_name", system_name, ()), ("system_version", system_version, ()),
        ("system_properties", system_properties, ()), ("system_health", system_health, ()),
        ("system_syncState", system_sync_state, ()),
        ("system_localPeerId", system_local_peer_id, ()),
        ("system_localListenAddresses", system_local_listen_addresses, ()),
        ("system_nodeRoles", system_node_roles, ()),
        ("system_accountNextIndex", system_account_next_index, ("account_nextIndex",)),
    ):
        module.register(name, handler, aliases=aliases)
    for name, handler, aliases in (  # unsafe in Substrate too: peers' addresses, node administration, execution
        ("system_peers", system_peers, ()), ("system_unstable_networkState", system_network_state, ()),
        ("system_addLogFilter", system_add_log_filter, ()), ("system_resetLogFilter", system_reset_log_filter, ()),
        ("system_dryRun", system_dry_run, ("system_dryRunAt",)),
    ):
        module.register(name, handler, aliases=aliases, unsafe=True)

    async def frame_call(method: str, data: bytes, at: bytes, message: str) -> bytes:
        """A runtime API call for ``system_dryRun`` / ``payment_*``: its failure is their code 1."""
        check_state_at(tree, at)
        try:
            return await node.runtime_call(method, data, at)
        except RpcError as exc:
            if exc.code != CLIENT_ERROR:
                raise
            raise RpcError(FRAME_RUNTIME_ERROR, message, exc.data) from None

    # --- chain ----------------------------------------------------------------------------------
    async def chain_get_block_hash(params: list, ctx: CallContext) -> Any:
        number = _param(params, 0)
        if number is None:
            return to_hex(tree.best_hash)
        if not isinstance(number, list):
            return _hash_of(_block_number(number))
        if len(number) > MAX_BLOCK_NUMBERS:
            raise RpcError.invalid_params(f"at most {MAX_BLOCK_NUMBERS} block numbers at once")
        numbers = [_block_number(n) for n in number]
        hashes = []
        for i, n in enumerate(numbers):
            if i % 100 == 99:  # above the finalized block each lookup walks the tree: let others in
                await trio.lowlevel.checkpoint()
            hashes.append(_hash_of(n))
        return hashes

    def _hash_of(number: int) -> str | None:
        block_hash = tree.hash_at(number)
        return None if block_hash is None else to_hex(block_hash)

    async def chain_get_header(params: list, ctx: CallContext) -> dict | None:
        block_hash = _hash_param(node, params)
        return header_json(tree.header(block_hash)) if block_hash in tree else None

    async def chain_get_block(params: list, ctx: CallContext) -> dict | None:
        block_hash = _hash_param(node, params)
        if block_hash not in tree:
            return None
        block, justification = tree.entry(block_hash).block, tree.justification(block_hash)
        return await in_worker(lambda: block_json(block, justification))  # up to 5 MiB of extrinsics

    async def chain_get_finalized_head(params: list, ctx: CallContext) -> str:
        return to_hex(tree.finalized_hash)

    module.register("chain_getBlockHash", chain_get_block_hash, aliases=("chain_getHead",))
    module.register("chain_getHeader", chain_get_header)
    module.register("chain_getBlock", chain_get_block)
    module.register("chain_getFinalizedHead", chain_get_finalized_head, aliases=("chain_getFinalisedHead",))

    def head_subscription(source: Broadcaster[Header], notification: str, unsubscribe: str, initial):
        async def subscribe(params: list, ctx: CallContext) -> str:
            sub = ctx.subscribe(notification, unsubscribe)
            heads, stop = source.listen()  # from now, before the answer: the pump starts only after it is out,
            sub.on_close(stop)  # and a head published in between was lost; an answer never out runs no pump
            await sub.send(header_json(initial()))
            sub.start_soon(_pump_heads, sub, heads)
            return sub.id
        return subscribe

    module.register_subscription(
        "chain_subscribeNewHeads", head_subscription(node.new_heads, "chain_newHead", "chain_unsubscribeNewHeads",
                                                     lambda: tree.best.header),
        aliases=("chain_subscribeNewHead", "subscribe_newHead"), unsubscribe="chain_unsubscribeNewHeads",
        unsubscribe_aliases=("chain_unsubscribeNewHead", "unsubscribe_newHead"))
    module.register_subscription(
        "chain_subscribeFinalizedHeads",
        head_subscription(node.finalized_heads, "chain_finalizedHead", "chain_unsubscribeFinalizedHeads",
                          lambda: tree.finalized.header),
        aliases=("chain_subscribeFinalisedHeads",), unsubscribe="chain_unsubscribeFinalizedHeads",
        unsubscribe_aliases=("chain_unsubscribeFinalisedHeads",))
    module.register_subscription(
        "chain_subscribeAllHeads", head_subscription(node.imported_heads, "chain_allHead",
                                                     "chain_unsubscribeAllHeads", lambda: tree.best.header),
        unsubscribe="chain_unsubscribeAllHeads")

    # --- state ----------------------------------------------------------------------------------
    async def state_get_runtime_version(params: list, ctx: CallContext) -> dict:
        check_state_at(node.tree, _hash_param(node, params))
        return node.runtime_version.to_json()

    async def state_get_metadata(params: list, ctx: CallContext) -> str:
        check_state_at(node.tree, _hash_param(node, params))
        return _metadata_hex(node.metadata)

    async def storage_value(params: list, shape: Callable[[bytes], T]) -> T | None:
        """``shape(value)`` of the value at the key in ``params``, or None where there is none."""
        key = _bytes_param(params, 0, "storage key", MAX_STORAGE_KEY)
        state = await state_at(node.tree, _hash_param(node, params, 1), reads)

        def read() -> T | None:
            value = state.get(key)
            return None if value is None else shape(value)

        return await in_worker(read)

    async def state_get_storage(params: list, ctx: CallContext) -> str | None:
        return await storage_value(params, to_hex)

    async def state_get_storage_hash(params: list, ctx: CallContext) -> str | None:
        return await storage_value(params, lambda value: to_hex(blake2_256(value)))

    async def state_get_storage_size(params: list, ctx: CallContext) -> int | None:
        return await storage_value(params, len)

    async def state_get_keys_paged(params: list, ctx: CallContext) -> list[str]:
        prefix = _optional_bytes_param(params, 0, "key prefix", MAX_STORAGE_KEY) or b""
        count = _param(params, 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= MAX_KEYS_PER_PAGE:
            raise RpcError.invalid_params(f"count must be between 1 and {MAX_KEYS_PER_PAGE}")
        start = _optional_bytes_param(params, 2, "start key", MAX_STORAGE_KEY)
        state = await state_at(node.tree, _hash_param(node, params, 3), reads)
        return await in_worker(lambda: [to_hex(key) for key in itertools.islice(state.keys(prefix, start), count)])

    async def key_listing(params: list, with_values: bool) -> list:
        """Every key under the prefix in ``params`` (with its value), up to ``MAX_LISTING_BYTES``."""
        prefix = _optional_bytes_param(params, 0, "key prefix", MAX_STORAGE_KEY) or b""
        state = await state_at(node.tree, _hash_param(node, params, 1), reads)

        def read() -> list:
            listing: list = []
            size = 0
            for key, value in state.items(prefix):
                size += len(key) + (len(value) if with_values else 0)
                if size > MAX_LISTING_BYTES:
                    raise RpcError(OVERSIZED_RESPONSE, "Response is too big",
                                   f"more than {MAX_LISTING_BYTES} bytes under this prefix: use state_getKeysPaged")
                listing.append([to_hex(key), to_hex(value)] if with_values else to_hex(key))
            return listing

        return await in_worker(read)

    async def state_get_keys(params: list, ctx: CallContext) -> list[str]:
        return await key_listing(params, with_values=False)

    async def state_get_pairs(params: list, ctx: CallContext) -> list[list[str]]:
        return await key_listing(params, with_values=True)

    async def state_query_storage(params: list, ctx: CallContext) -> list[dict]:
        keys = _keys_param(params, 0)
        first = _hex(_param(params, 1), "from block hash", length=32)
        blocks = await _block_range(tree, first, _hash_param(node, params, 2), reads)

        def changes() -> list[dict]:
            sets, last = [], {}
            for block_hash, state in blocks:
                now = _values(state, keys)
                changed = {k: v for k, v in now.items() if k not in last or last[k] != v}
                if changed:
                    sets.append(_storage_changes(block_hash, changed))
                last = now
            return sets

        return await in_worker(changes)

    async def state_trace_block(params: list, ctx: CallContext) -> dict:
        block_hash = _hex(_param(params, 0), "block hash", length=32)
        for index, what in ((1, "targets"), (2, "storage keys"), (3, "methods")):
            _optional_text_param(params, index, what, MAX_TRACE_FILTER)
        if block_hash not in tree:
            raise RpcError(INVALID_BLOCK_RANGE, f"Cannot resolve a block range ['{to_hex(block_hash)}' ... "
                                                f"'{to_hex(block_hash)}]. Unknown block")
        return {"traceError": {"error": "Cairn's runtime records no execution traces: block tracing is not supported"}}

    async def state_query_storage_at(params: list, ctx: CallContext) -> list[dict]:
        keys = _keys_param(params, 0)
        block_hash = _hash_param(node, params, 1)
        state = await state_at(node.tree, block_hash, reads)
        return [await in_worker(lambda: _storage_changes(block_hash, _values(state, keys)))]

    async def state_get_read_proof(params: list, ctx: CallContext) -> dict:
        keys = _keys_param(params, 0)
        block_hash = _hash_param(node, params, 1)
        state = await state_at(node.tree, block_hash, reads)
        proof = await in_worker(lambda: [to_hex(node_bytes) for node_bytes in state.read_proof(keys)])
        return {"at": to_hex(block_hash), "proof": proof}

    async def state_call(params: list, ctx: CallContext) -> str:
        method = _text_param(params, 0, "method name", MAX_METHOD_NAME)
        data = _optional_bytes_param(params, 1, "call data", MAX_CALL_DATA) or b""
        block_hash = _hash_param(node, params, 2)
        check_state_at(node.tree, block_hash)
        return to_hex(await node.runtime_call(method, data, block_hash))

    module.register("state_getRuntimeVersion", state_get_runtime_version, aliases=("chain_getRuntimeVersion",))
    module.register("state_getMetadata", state_get_metadata)
    module.register("state_getStorage", state_get_storage, aliases=("state_getStorageAt",))
    module.register("state_getStorageHash", state_get_storage_hash, aliases=("state_getStorageHashAt",))
    module.register("state_getStorageSize", state_get_storage_size, aliases=("state_getStorageSizeAt",))
    module.register("state_getKeys", state_get_keys)
    module.register("state_getKeysPaged", state_get_keys_paged, aliases=("state_getKeysPagedAt",))
    module.register("state_getPairs", state_get_pairs, unsafe=True)
    module.register("state_queryStorage", state_query_storage, unsafe=True)
    module.register("state_traceBlock", state_trace_block, unsafe=True)
    module.register("state_queryStorageAt", state_query_storage_at)
    module.register("state_getReadProof", state_get_read_proof)
    module.register("state_call", state_call, aliases=("state_callAt",))

    async def subscribe_runtime_version(params: list, ctx: CallContext) -> str:
        sub = ctx.subscribe("state_runtimeVersion", "state_unsubscribeRuntimeVersion")
        await sub.send(node.runtime_version.to_json())  # one runtime: it never changes on this chain yet
        return sub.id

    module.register_subscription("state_subscribeRuntimeVersion", subscribe_runtime_version,
                                 aliases=("chain_subscribeRuntimeVersion",),
                                 unsubscribe="state_unsubscribeRuntimeVersion",
                                 unsubscribe_aliases=("chain_unsubscribeRuntimeVersion",))

    async def subscribe_storage(params: list, ctx: CallContext) -> str:
        wanted = list(dict.fromkeys(_keys_param(params, 0))) if _param(params, 0) is not None else []
        if not wanted:
            raise RpcError.invalid_params("subscribing to all storage changes is not supported; name the keys")
        sub = ctx.subscribe("state_storage", "state_unsubscribeStorage", watched_keys=len(wanted))
        best_hash, state = tree.best_hash, tree.best.state
        values = await in_worker(lambda: _values(state, wanted))
        await sub.send(_storage_changes(best_hash, values))
        sub.start_soon(_pump_storage, sub, node, values, reads)
        return sub.id

    module.register_subscription("state_subscribeStorage", subscribe_storage, unsubscribe="state_unsubscribeStorage")

    # --- author ---------------------------------------------------------------------------------
    async def author_submit_extrinsic(params: list, ctx: CallContext) -> str:
        return to_hex(await node.submit_extrinsic(_bytes_param(params, 0, "extrinsic", MAX_EXTRINSIC_SIZE)))

    async def author_submit_and_watch(params: list, ctx: CallContext) -> str:
        raw = _bytes_param(params, 0, "extrinsic", MAX_EXTRINSIC_SIZE)
        sub = ctx.subscribe("author_extrinsicUpdate", "author_unwatchExtrinsic")
        await node.submit_extrinsic(raw, watch=sub)  # a refusal answers the call (and closes the pending sub)
        return sub.id

    async def author_pending_extrinsics(params: list, ctx: CallContext) -> list[str]:
        raws = [tx.raw for tx in node.pool.pending()]  # the pool holds up to 20 MiB: hex it in a worker
        return await in_worker(lambda: [to_hex(raw) for raw in raws])

    async def author_remove_extrinsic(params: list, ctx: CallContext) -> list[str]:
        wanted = _param(params, 0)
        if not isinstance(wanted, list) or len(wanted) > MAX_QUERY_KEYS:
            raise RpcError.invalid_params(f"expected a list of at most {MAX_QUERY_KEYS} {{hash}} / {{extrinsic}}")
        hashes = [_extrinsic_or_hash(item) for item in wanted]
        removed = []
        for tx_hash in hashes:  # Substrate's semantics: out of the pool, and banned for a while
            if tx_hash in node.pool:
                node.pool.remove_invalid(tx_hash, "removed by author_removeExtrinsic")
                removed.append(to_hex(tx_hash))
        return removed

    module.register("author_submitExtrinsic", author_submit_extrinsic)
    module.register("author_removeExtrinsic", author_remove_extrinsic, unsafe=True)
    module.register_subscription("author_submitAndWatchExtrinsic", author_submit_and_watch,
                                 unsubscribe="author_unwatchExtrinsic")
    module.register("author_pendingExtrinsics", author_pending_extrinsics)

    # --- session keys (node administration: loopback only unless --rpc-methods unsafe) -------------
    keystore = node.keystore

    async def author_rotate_keys(params: list, ctx: CallContext) -> str:
        return to_hex(keystore.generate().public)  # Cairn's SessionKeys: one ed25519 public key

    async def author_insert_key(params: list, ctx: CallContext) -> None:
        key_type, suri = _key_type_param(params, 0), _text_param(params, 1, "secret URI", MAX_SECRET_URI)
        try:
            keystore.insert(key_type, suri, _hex(_param(params, 2), "public key", length=32))
        except KeystoreError as exc:
            raise RpcError.invalid_params(str(exc)) from None

    async def author_has_key(params: list, ctx: CallContext) -> bool:
        return keystore.has(_key_type_param(params, 1), _hex(_param(params, 0), "public key", length=32))

    async def author_has_session_keys(params: list, ctx: CallContext) -> bool:
        try:
            return keystore.has_session_keys(_bytes_param(params, 0, "session keys", SESSION_KEYS_LEN))
        except KeystoreError as exc:
            raise RpcError.invalid_params(str(exc)) from None

    module.register("author_rotateKeys", author_rotate_keys, unsafe=True)
    module.register("author_insertKey", author_insert_key, unsafe=True)
    module.register("author_hasKey", author_has_key, unsafe=True)
    module.register("author_hasSessionKeys", author_has_session_keys, unsafe=True)

    # --- payment (legacy) and finality ------------------------------------------------------------
    async def payment_call(params: list, api: str, message: str) -> bytes:
        raw = _opaque_extrinsic(params, message)
        return await frame_call(f"TransactionPaymentApi_{api}", raw + U32.encode(len(raw)),
                                _hash_param(node, params, 1), message)

    async def payment_query_info(params: list, ctx: CallContext) -> dict:
        out = await payment_call(params, "query_info", "Unable to query dispatch info.")
        info = RuntimeDispatchInfo.SCALE.decode(out)  # type: ignore[attr-defined]
        return {"weight": {"ref_time": info.weight.ref_time, "proof_size": info.weight.proof_size},
                "class": info.class_.name.lower(), "partialFee": str(info.partial_fee)}

    async def payment_query_fee_details(params: list, ctx: CallContext) -> dict:
        out = await payment_call(params, "query_fee_details", "Unable to query fee details.")
        return fee_details_json(FeeDetails.SCALE.decode(out))  # type: ignore[attr-defined]

    async def grandpa_round_state(params: list, ctx: CallContext) -> dict:
        return node.round_state()

    module.register("payment_queryInfo", payment_query_info)
    module.register("payment_queryFeeDetails", payment_query_fee_details)
    module.register("grandpa_roundState", grandpa_round_state)
    return module


def _extrinsic_or_hash(item: Any) -> bytes:
    """Substrate's ``ExtrinsicOrHash``: ``{"hash": "0x…"}`` or ``{"extrinsic": "0x…"}`` (whose hash it is)."""
    if isinstance(item, dict) and len(item) == 1 and "hash" in item:
        return _hex(item["hash"], "extrinsic hash", length=32)
    if isinstance(item, dict) and len(item) == 1 and "extrinsic" in item:
        return blake2_256(_hex(item["extrinsic"], "extrinsic", max_length=MAX_EXTRINSIC_SIZE))
    raise RpcError.invalid_params('each item must be {"hash": "0x…"} or {"extrinsic": "0x…"}')


async def _pump_heads(sub: Subscription, heads: trio.MemoryReceiveChannel[Header]) -> None:
    """Send the heads ``heads`` (a broadcaster's listener, which this closes) receives until the subscription
    ends."""
    async with heads:
        async for header in heads:
            try:
                await sub.send(header_json(header))
            except SubscriptionClosed:
                return
    sub.close()  # the broadcaster cut us off (too slow): end the subscription rather than go silent


async def _in_worker(limiter: trio.CapacityLimiter, read: Callable[[], T]) -> T:
    """``read()`` in a worker thread: it may touch immutable state only, never the tree or the pool."""
    return await trio.to_thread.run_sync(read, limiter=limiter)


@functools.lru_cache(maxsize=2)
def _metadata_hex(metadata: bytes) -> str:
    """Every client asks for the metadata as it connects (and a flooder asks in batches): encode it once."""
    return to_hex(metadata)


def _values(state: TrieState, keys: list[bytes]) -> dict[bytes, bytes | None]:
    return {key: state.get(key) for key in keys}


def _storage_changes(block_hash: bytes, values: dict[bytes, bytes | None]) -> dict:
    return {"block": to_hex(block_hash),
            "changes": [[to_hex(k), None if v is None else to_hex(v)] for k, v in values.items()]}


async def _pump_storage(sub: Subscription, node: NodeHandle, values: dict[bytes, bytes | None],
                        reads: trio.CapacityLimiter) -> None:
    """Send the watched keys that changed in each new best block (compared in a worker: up to
    ``MAX_QUERY_KEYS`` keys per subscription, and a connection may hold many)."""
    with node.new_heads.subscribe() as heads:
        async for header in heads:
            block_hash = header.hash
            try:
                state = node.tree.state(block_hash)
            except (UnknownBlock, StatePruned):
                continue
            now = await _in_worker(reads, functools.partial(_values, state, list(values)))
            changed = {k: v for k, v in now.items() if v != values[k]}
            if changed:
                values.update(changed)
                try:
                    await sub.send(await _in_worker(reads, functools.partial(_storage_changes, block_hash, changed)))
                except SubscriptionClosed:
                    return
    sub.close()

