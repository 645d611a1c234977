"""Substrate's JSON-RPC methods over a running node (``shared/reference/substrate-rpc.md`` §8).

``build_module(node)`` returns the :class:`~node.rpc.registry.RpcModule` the node serves. Every method
takes its block-hash parameter as ``[]``, ``[null]`` or ``[hash]`` (default: the best block) and answers
unknown blocks the way Substrate does: ``null`` for headers, blocks and hashes, error 4003 for state.

The node is reached only through :class:`NodeHandle`, so these handlers hold no chain logic of their own.
"""

from __future__ import annotations

from typing import Any, Protocol

from node.api.shapes import InvalidHex, block_json, from_hex, header_json, to_hex
from node.blocktree import BlockTree, StatePruned, UnknownBlock
from node.broadcast import Broadcaster
from node.keystore import Keystore, KeystoreError
from node.rpc.jsonrpc import RpcError
from node.rpc.registry import RpcModule
from node.rpc.subscriptions import CallContext, Subscription, SubscriptionClosed
from node.txpool import TxPool
from runtime.cairn import RuntimeVersion
from runtime.primitives import Header
from runtime.hashing import blake2_256
from runtime.pallets.transaction_payment import RuntimeDispatchInfo
from runtime.scale import U32
from runtime.ss58 import InvalidAddress, ss58_decode

__all__ = ["NodeHandle", "build_module", "CLIENT_ERROR"]

CLIENT_ERROR = 4003
"""Substrate's code for a client-side failure (unknown block, pruned state, failed runtime call)."""
MAX_KEYS_PER_PAGE = 1000
MAX_QUERY_KEYS = 1000


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


def _param(params: list, index: int, default: Any = None) -> Any:
    return params[index] if len(params) > index and params[index] is not None else default


def _hex(value: Any, what: str, length: int | None = None) -> bytes:
    try:
        return from_hex(value, length=length, what=what)
    except InvalidHex as exc:
        raise RpcError.invalid_params(str(exc)) from None


def _hash_param(node: NodeHandle, params: list, index: int = 0) -> bytes:
    value = _param(params, index)
    return node.tree.best_hash if value is None else _hex(value, "block hash", 32)


def _bytes_param(params: list, index: int, what: str) -> bytes:
    value = _param(params, index)
    if value is None:
        raise RpcError.invalid_params(f"missing {what}")
    return _hex(value, what)


def _key_type_param(params: list, index: int) -> bytes:
    """A key type such as ``"aura"``: four ASCII characters (Substrate's ``KeyTypeId``)."""
    value = _param(params, index)
    if not isinstance(value, str) or len(value.encode()) != 4:
        raise RpcError.invalid_params("key type must be four characters, such as \"aura\"")
    return value.encode()


def _keys_param(params: list, index: int) -> list[bytes]:
    keys = _param(params, index)
    if not isinstance(keys, list) or len(keys) > MAX_QUERY_KEYS:
        raise RpcError.invalid_params(f"keys must be a list of at most {MAX_QUERY_KEYS}")
    return [_hex(key, "storage key") for key in keys]


def _state_at(node: NodeHandle, block_hash: bytes):
    try:
        return node.tree.state(block_hash)
    except UnknownBlock:
        raise RpcError(CLIENT_ERROR, "Client error: UnknownBlock", f"header not found: {to_hex(block_hash)}") from None
    except StatePruned:
        raise RpcError(CLIENT_ERROR, "Client error: State already discarded", to_hex(block_hash)) from None


def build_module(node: NodeHandle) -> RpcModule:
    module = RpcModule()
    tree = node.tree

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
        address = _param(params, 0)
        if isinstance(address, str) and not address.startswith("0x"):
            try:
                who = ss58_decode(address, prefix=None)
            except InvalidAddress as exc:
                raise RpcError.invalid_params(str(exc)) from None
        else:
            who = _hex(address, "account", 32)
        return node.account_next_index(who)

    for name, handler, aliases in (
        ("system_chain", system_chain, ()), ("system_chainType", system_chain_type, ()),
        ("system_name", system_name, ()), ("system_version", system_version, ()),
        ("system_properties", system_properties, ()), ("system_health", system_health, ()),
        ("system_syncState", system_sync_state, ()),
        ("system_localPeerId", system_local_peer_id, ()),
        ("system_accountNextIndex", system_account_next_index, ("account_nextIndex",)),
    ):
        module.register(name, handler, aliases=aliases)
    module.register("system_peers", system_peers, unsafe=True)  # peers' addresses: unsafe in Substrate too

    # --- chain ----------------------------------------------------------------------------------
    async def chain_get_block_hash(params: list, ctx: CallContext) -> Any:
        number = _param(params, 0)
        if number is None:
            return to_hex(tree.best_hash)
        if isinstance(number, list):
            return [_hash_of(n) for n in number]
        return _hash_of(number)

    def _hash_of(number: Any) -> str | None:
        if isinstance(number, str):
            try:
                number = int(number, 16) if number.startswith("0x") else int(number)
            except ValueError:
                raise RpcError.invalid_params("block number must be an integer or hex string") from None
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise RpcError.invalid_params("block number must be a non-negative integer")
        block_hash = tree.hash_at(number)
        return None if block_hash is None else to_hex(block_hash)

    async def chain_get_header(params: list, ctx: CallContext) -> dict | None:
        block_hash = _hash_param(node, params)
        return header_json(tree.header(block_hash)) if block_hash in tree else None

    async def chain_get_block(params: list, ctx: CallContext) -> dict | None:
        block_hash = _hash_param(node, params)
        if block_hash not in tree:
            return None
        return block_json(tree.entry(block_hash).block, tree.justification(block_hash))

    async def chain_get_finalized_head(params: list, ctx: CallContext) -> str:
        return to_hex(tree.finalized_hash)

    module.register("chain_getBlockHash", chain_get_block_hash, aliases=("chain_getHead",))
    module.register("chain_getHeader", chain_get_header)
    module.register("chain_getBlock", chain_get_block)
    module.register("chain_getFinalizedHead", chain_get_finalized_head, aliases=("chain_getFinalisedHead",))

    def head_subscription(source: Broadcaster[Header], notification: str, unsubscribe: str, initial):
        async def subscribe(params: list, ctx: CallContext) -> str:
            sub = ctx.subscribe(notification, unsubscribe)
            await sub.send(header_json(initial()))
            sub.start_soon(_pump_heads, sub, source)
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
        block_hash = _hash_param(node, params)
        _state_at(node, block_hash)
        return node.runtime_version.to_json()

    async def state_get_metadata(params: list, ctx: CallContext) -> str:
        _state_at(node, _hash_param(node, params))
        return to_hex(node.metadata)

    def storage_value(params: list) -> bytes | None:
        key = _bytes_param(params, 0, "storage key")
        return _state_at(node, _hash_param(node, params, 1)).get(key)

    async def state_get_storage(params: list, ctx: CallContext) -> str | None:
        value = storage_value(params)
        return None if value is None else to_hex(value)

    async def state_get_storage_hash(params: list, ctx: CallContext) -> str | None:
        value = storage_value(params)
        return None if value is None else to_hex(blake2_256(value))

    async def state_get_storage_size(params: list, ctx: CallContext) -> int | None:
        value = storage_value(params)
        return None if value is None else len(value)

    async def state_get_keys_paged(params: list, ctx: CallContext) -> list[str]:
        prefix = _bytes_param(params, 0, "key prefix") if _param(params, 0) is not None else b""
        count = _param(params, 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= MAX_KEYS_PER_PAGE:
            raise RpcError.invalid_params(f"count must be between 1 and {MAX_KEYS_PER_PAGE}")
        start = _bytes_param(params, 2, "start key") if _param(params, 2) is not None else None
        state = _state_at(node, _hash_param(node, params, 3))
        keys = []
        for key, _ in state.items(prefix, start):
            keys.append(to_hex(key))
            if len(keys) == count:
                break
        return keys

    async def state_query_storage_at(params: list, ctx: CallContext) -> list[dict]:
        keys = _keys_param(params, 0)
        block_hash = _hash_param(node, params, 1)
        state = _state_at(node, block_hash)
        return [_storage_changes(block_hash, {key: state.get(key) for key in keys})]

    async def state_get_read_proof(params: list, ctx: CallContext) -> dict:
        keys = _keys_param(params, 0)
        block_hash = _hash_param(node, params, 1)
        proof = _state_at(node, block_hash).read_proof(keys)
        return {"at": to_hex(block_hash), "proof": [to_hex(node_bytes) for node_bytes in proof]}

    async def state_call(params: list, ctx: CallContext) -> str:
        method = _param(params, 0)
        if not isinstance(method, str):
            raise RpcError.invalid_params("method name must be a string")
        data = _bytes_param(params, 1, "call data") if _param(params, 1) is not None else b""
        block_hash = _hash_param(node, params, 2)
        _state_at(node, block_hash)
        return to_hex(await node.runtime_call(method, data, block_hash))

    module.register("state_getRuntimeVersion", state_get_runtime_version, aliases=("chain_getRuntimeVersion",))
    module.register("state_getMetadata", state_get_metadata)
    module.register("state_getStorage", state_get_storage, aliases=("state_getStorageAt",))
    module.register("state_getStorageHash", state_get_storage_hash, aliases=("state_getStorageHashAt",))
    module.register("state_getStorageSize", state_get_storage_size, aliases=("state_getStorageSizeAt",))
    module.register("state_getKeysPaged", state_get_keys_paged, aliases=("state_getKeysPagedAt",))
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
        wanted = _keys_param(params, 0) if _param(params, 0) is not None else []
        if not wanted:
            raise RpcError.invalid_params("subscribing to all storage changes is not supported; name the keys")
        sub = ctx.subscribe("state_storage", "state_unsubscribeStorage")
        state = tree.best.state
        values = {k: state.get(k) for k in wanted}
        await sub.send(_storage_changes(tree.best_hash, values))
        sub.start_soon(_pump_storage, sub, node, values)
        return sub.id

    module.register_subscription("state_subscribeStorage", subscribe_storage, unsubscribe="state_unsubscribeStorage")

    # --- author ---------------------------------------------------------------------------------
    async def author_submit_extrinsic(params: list, ctx: CallContext) -> str:
        return to_hex(await node.submit_extrinsic(_bytes_param(params, 0, "extrinsic")))

    async def author_submit_and_watch(params: list, ctx: CallContext) -> str:
        raw = _bytes_param(params, 0, "extrinsic")
        sub = ctx.subscribe("author_extrinsicUpdate", "author_unwatchExtrinsic")
        await node.submit_extrinsic(raw, watch=sub)  # a refusal answers the call (and closes the pending sub)
        return sub.id

    async def author_pending_extrinsics(params: list, ctx: CallContext) -> list[str]:
        return [to_hex(tx.raw) for tx in node.pool.pending()]

    module.register("author_submitExtrinsic", author_submit_extrinsic)
    module.register_subscription("author_submitAndWatchExtrinsic", author_submit_and_watch,
                                 unsubscribe="author_unwatchExtrinsic")
    module.register("author_pendingExtrinsics", author_pending_extrinsics)

    # --- session keys (node administration: loopback only unless --rpc-methods unsafe) -------------
    keystore = node.keystore

    async def author_rotate_keys(params: list, ctx: CallContext) -> str:
        return to_hex(keystore.generate().public)  # Cairn's SessionKeys: one ed25519 public key

    async def author_insert_key(params: list, ctx: CallContext) -> None:
        key_type, suri = _key_type_param(params, 0), _param(params, 1)
        if not isinstance(suri, str):
            raise RpcError.invalid_params("missing secret URI")
        try:
            keystore.insert(key_type, suri, _hex(_param(params, 2), "public key", 32))
        except KeystoreError as exc:
            raise RpcError.invalid_params(str(exc)) from None

    async def author_has_key(params: list, ctx: CallContext) -> bool:
        return keystore.has(_key_type_param(params, 1), _hex(_param(params, 0), "public key", 32))

    async def author_has_session_keys(params: list, ctx: CallContext) -> bool:
        try:
            return keystore.has_session_keys(_bytes_param(params, 0, "session keys"))
        except KeystoreError as exc:
            raise RpcError.invalid_params(str(exc)) from None

    module.register("author_rotateKeys", author_rotate_keys, unsafe=True)
    module.register("author_insertKey", author_insert_key, unsafe=True)
    module.register("author_hasKey", author_has_key, unsafe=True)
    module.register("author_hasSessionKeys", author_has_session_keys, unsafe=True)

    # --- payment (legacy) and finality ------------------------------------------------------------
    async def payment_query_info(params: list, ctx: CallContext) -> dict:
        raw = _bytes_param(params, 0, "extrinsic")
        block_hash = _hash_param(node, params, 1)
        out = await node.runtime_call("TransactionPaymentApi_query_info", raw + U32.encode(len(raw)), block_hash)
        info = RuntimeDispatchInfo.SCALE.decode(out)  # type: ignore[attr-defined]
        return {"weight": {"ref_time": info.weight.ref_time, "proof_size": info.weight.proof_size},
                "class": info.class_.name.lower(), "partialFee": str(info.partial_fee)}

    async def grandpa_round_state(params: list, ctx: CallContext) -> dict:
        return node.round_state()

    module.register("payment_queryInfo", payment_query_info)
    module.register("grandpa_roundState", grandpa_round_state)
    return module


async def _pump_heads(sub: Subscription, source: Broadcaster[Header]) -> None:
    with source.subscribe() as heads:
        async for header in heads:
            try:
                await sub.send(header_json(header))
            except SubscriptionClosed:
                return
    sub.close()  # the broadcaster cut us off (too slow): end the subscription rather than go silent


def _storage_changes(block_hash: bytes, values: dict[bytes, bytes | None]) -> dict:
    return {"block": to_hex(block_hash),
            "changes": [[to_hex(k), None if v is None else to_hex(v)] for k, v in values.items()]}


async def _pump_storage(sub: Subscription, node: NodeHandle, values: dict[bytes, bytes | None]) -> None:
    with node.new_heads.subscribe() as heads:
        async for header in heads:
            block_hash = header.hash
            try:
                state = node.tree.state(block_hash)
            except (UnknownBlock, StatePruned):
                continue
            changed = {k: state.get(k) for k in values if state.get(k) != values[k]}
            if changed:
                values.update(changed)
                try:
                    await sub.send(_storage_changes(block_hash, changed))
                except SubscriptionClosed:
                    return
    sub.close()

