"""The asynchronous chain client: typed reads, signed transactions with receipts, subscriptions, proofs.

``AsyncClient`` runs on ``anyio``, so trio and asyncio programs use the same client::

    async with AsyncClient("ws://127.0.0.1:9944") as client:
        alice = Keypair.from_uri("//Alice")
        call = client.compose_call("Balances", "transfer_keep_alive", {"dest": bob_address, "value": 10**12})
        receipt = await client.sign_and_submit(call, alice, wait_for_finalization=True)
        assert receipt.is_success, receipt.error_message
        info = await client.query("System", "Account", [alice])     # an AccountInfo dataclass

Method names follow ``substrate-interface`` where they overlap (``query``, ``query_map``, ``get_constant``,
``compose_call``, ``create_signed_extrinsic``, ``submit_extrinsic(wait_for_inclusion=...)``, ``get_block``,
``get_events``, ``subscribe_block_headers``, ``rpc_request``). What differs: values are the runtime's own
types (bytes for hashes and account ids, dataclasses for structs and events) decoded with the runtime's own
codecs, and every failure is a typed error from :mod:`sdk.chain.errors`.

On entering, the client connects, checks that the node runs the runtime this SDK was built with (spec
name, spec version, transaction version; else :class:`RuntimeMismatch`) and builds that runtime locally
from the parameters the chain keeps in its genesis state. Every reconnection checks the chain (genesis
hash) and the runtime again.
"""

from __future__ import annotations

import random
from collections import deque
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, AsyncIterator, Callable, Iterable, Mapping, Sequence

import anyio

from runtime.cairn import DEFINITIONS, RUNTIME_PARAMS_KEY, CairnRuntime, RuntimeVersion
from runtime.extrinsic import decode_extrinsic, encode_signed, signing_payload
from runtime.frame.composition import InvalidGenesis, RuntimeParams
from runtime.frame.construct import Call
from runtime.hashing import blake2_256
from runtime.keyring import Keypair
from runtime.primitives import Era, Header, SignatureScheme
from sdk.chain.cache import SharedFetches
from sdk.chain.errors import (
    BadArgument,
    ConnectionLost,
    ExtrinsicDropped,
    InvalidResponse,
    InvalidTransaction,
    RequestTimeout,
    RuntimeMismatch,
)
from sdk.chain.follow import EventSubscription
from sdk.chain.keys import AccountLike, account_argument, account_id, hash_id
from sdk.chain.nonces import NonceManager
from sdk.chain.receipt import ExtrinsicReceipt, InclusionData, receipt_in_block
from sdk.chain.rpc import KEEPALIVE_S, Endpoint, RpcConnection
from sdk.chain.runtime_view import RuntimeView, StorageEntry
from sdk.chain.shapes import from_hex, header_from_json, optional_hex, runtime_version_from_json, to_hex
from sdk.chain.transport import ReconnectPolicy, Subscription, Transport, deadline
from sdk.chain.types import ChainBlock, ChainEvent, ReadProof, SignedExtrinsic

__all__ = ["AsyncClient", "QueryMapResult", "DEFAULT_URL", "BlockId", "MORTAL_PERIOD", "MAX_FINALITY_LAG"]

DEFAULT_URL = "ws://127.0.0.1:9944"
MiB = 1024 * 1024
MAX_KEYS_PER_PAGE = 1000
"""The node serves at most this many keys per ``state_getKeysPaged`` (as Substrate)."""
WATCH_BUFFER = 16
"""A transaction's watch sees a handful of updates (ready, inBlock, finalized)."""
RECEIPT_BLOCKS = 32
"""Blocks whose extrinsic hashes and events are kept for receipts of transactions watched together."""
RECEIPT_WALK_BACK = 16
"""Blocks searched, from the one holding the last of several transactions sent together, for the earlier
ones (a block usually holds them all: they are pooled together)."""
EVENT_BLOCKS = 16
"""Blocks whose events are kept, encoded and decoded: a block's events never change, and the followers of one
client (a daemon's own, each upload's, each transaction's receipt) visit the same few recent blocks."""
NONCE_ATTEMPTS = 8
"""Signings of one ``sign_and_submit`` when the node keeps refusing the nonce as stale or taken."""
NONCE_BACKOFF = 0.05
"""Seconds: a nonce refused as taken is signed again after a random wait of up to this times the attempts
made. Two programs that read the same next nonce race for it again at once; the random wait lets one of
them take it while the other reads past it."""
_KEEP_NONCE_CODES = (1012, 1013)
"""Refusals after which the nonce count stays right: the same transaction is (or was) in the pool."""

BlockId = bytes | str
"""A block hash: 32 bytes or ``"0x"`` + 64 hex digits."""
MORTAL_PERIOD = 64
"""Blocks a transaction stays valid by default (polkadot.js's choice too). An immortal one can be replayed
whenever its nonce comes round again: once an account is reaped its nonce starts again at 0, so anyone who
kept its old transactions could send them again and drain what it is sent afterwards."""
MAX_FINALITY_LAG = 16
"""Blocks finality may lag the best block before a mortal transaction's era starts at the best block instead:
counted from a finalized head far behind, it would be dead before it was sent."""


class AsyncClient:
    """A client of one node's JSON-RPC WebSocket. Use it as ``async with AsyncClient(url) as client``.

    ``url`` may also be several nodes' URLs of one chain: the client talks to one at a time and moves to the
    next when its connection fails (every node it connects to passes the same checks: same genesis, same
    runtime).

    ``timeout`` bounds every call (reconnection included); ``watch_timeout`` bounds waiting for a
    transaction's inclusion or finality. ``reconnect`` says how hard to retry a lost connection; ``keepalive`` is
    the silence from the node after which it is pinged; 2.5 times as long again and the connection is given up for
    the next node (a hung node keeps its connection open: see :mod:`sdk.chain.rpc`).
    ``runtime`` builds the runtime from the chain's parameters (the runtime this SDK ships by default)."""

    def __init__(self, url: str | Sequence[str] = DEFAULT_URL, *, timeout: float = 30.0, watch_timeout: float = 300.0,
                 reconnect: ReconnectPolicy = ReconnectPolicy(), max_message_size: int = 64 * MiB,
                 subscription_buffer: int = 256, keepalive: float = KEEPALIVE_S,
                 runtime: Callable[[RuntimeParams], CairnRuntime] = CairnRuntime) -> None:
        urls = (url,) if isinstance(url, str) else tuple(url)
        try:
            endpoints = [Endpoint.parse(each) for each in urls]
        except ValueError as exc:
            raise BadArgument(str(exc)) from None
        if not endpoints:
            raise BadArgument("give at least one node URL")
        if watch_timeout <= 0 or subscription_buffer < 1:
            raise BadArgument("watch_timeout must be positive and subscription_buffer at least 1")
        self.url = urls[0]
        """The first node's URL (the one tried first)."""
        self.urls = urls
        self.watch_timeout = watch_timeout
        self._subscription_buffer = subscription_buffer
        self._make_runtime = runtime
        try:
            self._transport = Transport(endpoints, timeout=timeout, policy=reconnect, max_message_size=max_message_size,
                                        on_connect=self._check_node, keepalive=keepalive)
        except ValueError as exc:
            raise BadArgument(str(exc)) from None
        self._view: RuntimeView | None = None
        self._genesis_hash: bytes | None = None
        self._blocks: SharedFetches[bytes, InclusionData] = SharedFetches(RECEIPT_BLOCKS)
        self._encoded: SharedFetches[bytes, bytes | None] = SharedFetches(EVENT_BLOCKS)
        self._decoded: SharedFetches[bytes, tuple[ChainEvent, ...]] = SharedFetches(EVENT_BLOCKS)
        self._exit: AsyncExitStack | None = None
        self._eras: dict[int, tuple[float, Era, bytes]] = {}
        """Per mortality period: until when (``anyio.current_time()``) its era and birth hash serve."""
        self._era_generation = 0
        """Bumped when the eras are forgotten: a read begun before is not kept."""
        self.nonces = NonceManager(self.get_account_nonce)
        """Next nonce per signing account, for many transactions in flight (see :mod:`sdk.chain.nonces`)."""

    # --- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> "AsyncClient":
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self._transport)
            await self._transport.connection()  # connect and check the node now: errors surface here
            self._exit = stack.pop_all()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._exit is not None
        exit_stack, self._exit = self._exit, None
        await exit_stack.__aexit__(exc_type, exc, tb)

    async def _check_node(self, connection: RpcConnection) -> None:
        """Run on every new connection before any call uses it: same chain, same runtime."""
        version = runtime_version_from_json(await connection.request("state_getRuntimeVersion", []))
        genesis = from_hex(await connection.request("chain_getBlockHash", [0]), "genesis hash", 32)
        if self._genesis_hash is not None and genesis != self._genesis_hash:
            raise RuntimeMismatch(f"{connection.endpoint} now serves another chain (genesis 0x{genesis.hex()}, "
                                  f"was 0x{self._genesis_hash.hex()})")
        runtime = self._view.runtime if self._view is not None else await self._build_runtime(connection)
        expected = runtime.VERSION
        if ((version.spec_name, version.spec_version, version.transaction_version)
                != (expected.spec_name, expected.spec_version, expected.transaction_version)):
            raise RuntimeMismatch(
                f"{connection.endpoint} runs {version.spec_name} spec {version.spec_version} (transaction version "
                f"{version.transaction_version}); this SDK has {expected.spec_name} spec {expected.spec_version} "
                f"(transaction version {expected.transaction_version}): upgrade whichever is older")
        self._genesis_hash = genesis
        if self._view is None:
            self._view = RuntimeView(runtime)
        self._forget_eras()  # another node may lack the birth blocks of eras read through the last one, and its
        self.nonces.forget_all()  # pool may lack what the last one pooled: read both afresh

    async def _build_runtime(self, connection: RpcConnection) -> CairnRuntime:
        raw = optional_hex(await connection.request("state_getStorage", [to_hex(RUNTIME_PARAMS_KEY)]), "runtime params")
        if raw is None:
            raise RuntimeMismatch(f"{connection.endpoint} serves a chain without Cairn runtime parameters")
        try:
            params = RuntimeParams.decode(DEFINITIONS, raw)
        except InvalidGenesis as exc:
            raise RuntimeMismatch(f"{connection.endpoint}: runtime parameters not understood ({exc})") from None
        return self._make_runtime(params)

    @property
    def view(self) -> RuntimeView:
        if self._view is None:
            raise RuntimeError("the client is not connected: use it with `async with`")
        return self._view

    @property
    def runtime(self) -> CairnRuntime:
        """The runtime this client encodes and decodes with (the node's, checked by spec version)."""
        return self.view.runtime

    @property
    def genesis_hash(self) -> bytes:
        assert self._genesis_hash is not None, "the client is not connected: use it with `async with`"
        return self._genesis_hash

    @property
    def ss58_format(self) -> int:
        return self.get_constant("System", "SS58Prefix")

    @property
    def node_url(self) -> str:
        """The one of :attr:`urls` the client talks to now (or tries next)."""
        return self.urls[self._transport.endpoints.index(self._transport.endpoint)]

    # --- raw calls and chain -------------------------------------------------------------------------

    async def rpc_request(self, method: str, params: Sequence[Any] | None = None, *,
                          timeout: float | None = None) -> Any:
        """Any JSON-RPC method, its ``result`` as JSON (raises :class:`RpcError` with the node's error). A call
        that loses its connection is sent again on a new one, unless it is an ``author_*`` call (a submission
        may have reached the node: sent again, it would be refused as already pooled)."""
        return await self._transport.request(method, list(params or []), timeout=timeout,
                                             idempotent=not method.startswith("author_"))

    async def get_block_hash(self, block_id: int | None = None) -> bytes | None:
        """The hash of block ``block_id`` on the best chain (the best block when ``None``); ``None`` if the
        chain is not that long."""
        if block_id is not None and (not isinstance(block_id, int) or isinstance(block_id, bool) or block_id < 0):
            raise BadArgument(f"a block number is a non-negative integer, got {block_id!r}")
        result = await self.rpc_request("chain_getBlockHash", [] if block_id is None else [block_id])
        return optional_hex(result, "block hash", 32)

    async def get_chain_head(self) -> bytes:
        return from_hex(await self.rpc_request("chain_getBlockHash"), "best block hash", 32)

    async def get_chain_finalised_head(self) -> bytes:
        return from_hex(await self.rpc_request("chain_getFinalizedHead"), "finalized block hash", 32)

    async def get_block_header(self, block_hash: BlockId | None = None) -> Header | None:
        """The header of ``block_hash`` (the best block when ``None``), checked to hash to it; ``None`` if
        the node does not know the block."""
        at = await self._at(block_hash)
        result = await self.rpc_request("chain_getHeader", [to_hex(at)])
        return None if result is None else header_from_json(result, at)

    async def get_block(self, block_hash: BlockId | None = None, block_number: int | None = None) -> ChainBlock | None:
        """A block with its extrinsics decoded (by hash, by number, or the best block); ``None`` if unknown."""
        if block_number is not None:
            if block_hash is not None:
                raise BadArgument("give block_hash or block_number, not both")
            found = await self.get_block_hash(block_number)
            if found is None:
                return None
            block_hash = found
        at = await self._at(block_hash)
        result = await self.rpc_request("chain_getBlock", [to_hex(at)])
        if result is None:
            return None
        try:
            body = result["block"]
            header = header_from_json(body["header"], at)
            codec = self.runtime.call_codec
            extrinsics = tuple(decode_extrinsic(from_hex(x, "extrinsic"), codec) for x in body["extrinsics"])
            justification = next((from_hex(data, "justification") for engine, data in result.get("justifications") or ()
                                  if engine == to_hex(b"FRNK")), None)
        except (KeyError, TypeError, ValueError) as exc:  # MalformedExtrinsic is a ValueError
            raise InvalidResponse(f"block 0x{at.hex()}: malformed ({type(exc).__name__}: {exc})") from None
        return ChainBlock(at, header, extrinsics, justification)

    async def get_events(self, block_hash: BlockId | None = None) -> tuple[ChainEvent, ...]:
        """Every event of a block (the best block when ``None``), decoded by the runtime's event codec."""
        at = await self._at(block_hash)
        return await self._decoded.get(at, lambda: self._decode_events(at))

    async def _decode_events(self, block_hash: bytes) -> tuple[ChainEvent, ...]:
        return self.view.decode_events(await self._encoded_events(block_hash))

    async def _encoded_events(self, block_hash: bytes) -> bytes | None:
        """The block's ``System.Events`` as stored, fetched once while the block is among the latest visited."""
        async def fetch() -> bytes | None:
            key = self.view.storage("System", "Events").key(())
            return optional_hex(await self.rpc_request("state_getStorage", [to_hex(key), to_hex(block_hash)]),
                                "System.Events")

        return await self._encoded.get(block_hash, fetch)

    async def get_runtime_version(self, block_hash: BlockId | None = None) -> RuntimeVersion:
        params = [] if block_hash is None else [to_hex(_block_hash(block_hash))]
        return runtime_version_from_json(await self.rpc_request("state_getRuntimeVersion", params))

    def get_constant(self, module_name: str, constant_name: str) -> Any:
        """A pallet constant (``("Balances", "ExistentialDeposit")``), from the runtime built from the
        chain's parameters: no call to the node."""
        return self.view.constant(module_name, constant_name)

    def block_time_ms(self) -> int:
        """The chain's block time, as its runtime states it: Aura's slot, twice ``Timestamp.MinimumPeriod``
        (``runtime.pallets.timestamp.Timestamp.block_time_ms``)."""
        return 2 * self.get_constant("Timestamp", "MinimumPeriod")

    async def _at(self, block_hash: BlockId | None) -> bytes:
        return await self.get_chain_head() if block_hash is None else _block_hash(block_hash)

    # --- storage -------------------------------------------------------------------------------------

    def create_storage_key(self, pallet: str, storage_function: str, params: Sequence[Any] = ()) -> bytes:
        return self.view.storage(pallet, storage_function).key(params)

    async def query(self, module: str, storage_function: str, params: Sequence[Any] = (),
                    block_hash: BlockId | None = None) -> Any:
        """A storage value (the item's default, or ``None`` for an optional item, when absent) at a block
        (the best when ``None``). Accounts in ``params`` may be SS58 addresses, hex or key pairs."""
        entry = self.view.storage(module, storage_function)
        request = [to_hex(entry.key(params))] + ([] if block_hash is None else [to_hex(_block_hash(block_hash))])
        return entry.decode_value(optional_hex(await self.rpc_request("state_getStorage", request), "storage value"))

    def query_map(self, module: str, storage_function: str, params: Sequence[Any] = (), *, page_size: int = 100,
                  max_results: int | None = None, start_key: bytes | None = None,
                  block_hash: BlockId | None = None) -> "QueryMapResult":
        """The entries of a map (under its first keys ``params``, for a double map), fetched ``page_size``
        at a time as they are iterated: ``async for key, value in client.query_map("System", "Account")``.
        All pages are read at one block (the best when iteration starts, unless ``block_hash``)."""
        entry = self.view.storage(module, storage_function)
        entry.iterable_after(len(params))
        if not 1 <= page_size <= MAX_KEYS_PER_PAGE:
            raise BadArgument(f"page_size must be between 1 and {MAX_KEYS_PER_PAGE}")
        if max_results is not None and max_results < 0:
            raise BadArgument("max_results must not be negative")
        return QueryMapResult(self, entry, params, page_size, max_results, start_key,
                              None if block_hash is None else _block_hash(block_hash))

    async def get_read_proof(self, keys: Iterable[bytes], block_hash: BlockId | None = None) -> ReadProof:
        """``state_getReadProof`` for storage keys at a block (the best when ``None``)."""
        at = await self._at(block_hash)
        result = await self.rpc_request("state_getReadProof", [[to_hex(k) for k in keys], to_hex(at)])
        try:
            return ReadProof(from_hex(result["at"], "proof block", 32),
                             tuple(from_hex(node, "proof node") for node in result["proof"]))
        except (KeyError, TypeError) as exc:
            raise InvalidResponse(f"read proof: malformed ({exc})") from None

    async def verified_query(self, module: str, storage_function: str, params: Sequence[Any] = (),
                             block_hash: BlockId | None = None) -> Any:
        """Like :meth:`query`, but the value is proven: a read proof checked against the state root of the
        header of ``block_hash`` (the finalized head when ``None``), which must hash to that block.
        Raises :class:`InvalidProof` if the node's proof does not verify."""
        (value,) = await self.verified_query_many(module, storage_function, [params], block_hash)
        return value

    async def verified_query_many(self, module: str, storage_function: str, params: Sequence[Sequence[Any]],
                                  block_hash: BlockId | None = None) -> list[Any]:
        """:meth:`verified_query` of several entries of one storage item (one ``params`` each), proven together by
        one read proof; their values in order."""
        entry = self.view.storage(module, storage_function)
        keys = [entry.key(each) for each in params]
        at = await self.get_chain_finalised_head() if block_hash is None else _block_hash(block_hash)
        header = await self.get_block_header(at)
        if header is None:
            raise InvalidResponse(f"the node has no header for block 0x{at.hex()}")
        proven = (await self.get_read_proof(keys, at)).verify(header.state_root, keys)
        return [entry.decode_value(proven[key]) for key in keys]

    # --- transactions --------------------------------------------------------------------------------

    def compose_call(self, call_module: str, call_function: str, call_params: Mapping[str, Any] | None = None) -> Call:
        """The runtime's call, every argument checked against its declaration (:class:`BadArgument`,
        :class:`UnknownItem`); accounts may be SS58 addresses, hex or key pairs."""
        return self.view.compose_call(call_module, call_function, call_params or {})

    async def get_account_nonce(self, account: AccountLike) -> int:
        """The account's next nonce, counting its transactions in the node's pool."""
        try:
            who = account_id(account)
        except ValueError as exc:
            raise BadArgument(str(exc)) from None
        nonce = await self.rpc_request("system_accountNextIndex", [to_hex(who)])
        if not isinstance(nonce, int) or isinstance(nonce, bool) or nonce < 0:
            raise InvalidResponse(f"account nonce: expected a non-negative integer, got {nonce!r:.40}")
        return nonce

    async def create_signed_extrinsic(self, call: Call, keypair: Keypair | str, *, era: int | None = MORTAL_PERIOD,
                                      nonce: int | None = None, tip: int = 0) -> SignedExtrinsic:
        """Sign ``call``. ``keypair`` may be a secret URI (``"//Alice"``, ``"0x<seed>"``); ``nonce`` defaults
        to the next one from :attr:`nonces`, taken once the node pools the transaction (one never submitted
        holds up no later one; several signed before any is submitted share it: :meth:`sign_and_submit_all`
        signs and submits many); ``era`` is a mortality period in blocks (rounded up to a power of
        two, :data:`MORTAL_PERIOD` by default) counted from the finalized head, or from the best block when
        finality lags more than :data:`MAX_FINALITY_LAG` blocks (or a quarter of the period, if fewer) behind
        it; ``None`` signs an immortal transaction."""
        signer = Keypair.from_uri(keypair) if isinstance(keypair, str) else keypair
        if not isinstance(call, Call) or not isinstance(signer, Keypair):
            raise BadArgument("create_signed_extrinsic takes a call from compose_call and a Keypair or secret URI")
        if tip < 0 or (nonce is not None and nonce < 0) or (era is not None and era < 1):
            raise BadArgument("tip and nonce must not be negative, and an era lasts at least one block")
        try:
            call_data = self.runtime.call_codec.encode(call)
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise BadArgument(f"{call!r} does not encode: {exc}") from None
        mortality, birth_hash = await self._mortality(era)
        if nonce is None:
            nonce = await self.nonces.peek(signer.public)
        version = self.runtime.VERSION
        payload = signing_payload(call_data, mortality, nonce, tip, version.spec_version, version.transaction_version,
                                  self.genesis_hash, birth_hash)
        data = encode_signed(call_data, signer.public, signer.scheme, signer.sign(payload), mortality, nonce, tip)
        return SignedExtrinsic(data, call, call_data, signer.public, nonce, mortality, tip)

    async def get_payment_info(self, call: Call, keypair: Keypair | AccountLike, block_hash: BlockId | None = None,
                               *, era: int | None = MORTAL_PERIOD) -> dict[str, Any]:
        """What ``call`` sent by ``keypair`` (or any account: nothing is signed) would weigh and pay, as
        substrate-interface's ``get_payment_info`` answers: ``{"weight": {...}, "class": "normal", "partialFee":
        <int, units>}``. It asks ``payment_queryInfo`` about a copy of the transaction with an all-zero signature
        (the fee does not depend on it, and a copy no one signed can never be submitted by whoever sees it), at
        ``block_hash`` (default: the best block). The fee follows the chain's fee multiplier, which moves with
        each block's fullness: a block later, the same transaction may cost a little more or less. ``era`` is the
        mortality the transaction will be signed with (as :meth:`create_signed_extrinsic`'s): an immortal one
        is a byte shorter, and pays a byte's length fee less."""
        who = keypair.public if isinstance(keypair, Keypair) else account_argument(keypair)
        scheme = keypair.scheme if isinstance(keypair, Keypair) else SignatureScheme.Sr25519
        try:
            call_data = self.runtime.call_codec.encode(call)
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise BadArgument(f"{call!r} does not encode: {exc}") from None
        nonce = await self.get_account_nonce(who)  # the node's next one, its pool counted; none is reserved
        mortality = Era() if era is None else Era.mortal(era, 0)  # (only its encoded length counts)
        unsigned = encode_signed(call_data, who, scheme, bytes(64), mortality, nonce, 0)
        at = [] if block_hash is None else [to_hex(_block_hash(block_hash))]
        info = await self.rpc_request("payment_queryInfo", [to_hex(unsigned), *at])
        try:
            return {**info, "partialFee": int(info["partialFee"])}
        except (TypeError, KeyError, ValueError):
            raise InvalidResponse(f"payment info: no partialFee in {info!r:.80}") from None

    async def _mortality(self, period: int | None) -> tuple[Era, bytes]:
        """The era and the hash of its birth block (the genesis hash for an immortal transaction). Reading them
        takes four calls, so one era serves every transaction signed within a quarter of its period (in block
        times) on the same connection, unless the node refuses one for it: with its birth at most a quarter
        period behind the best block, each still has at least half its period to live."""
        if period is None:
            return Era(), self.genesis_hash
        now = anyio.current_time()
        cached = self._eras.get(period)
        if cached is not None and now < cached[0]:
            return cached[1], cached[2]
        generation = self._era_generation
        era, birth = await self._read_mortality(period)
        if generation == self._era_generation:  # (else forgotten meanwhile: it may mix two nodes' answers)
            self._eras[period] = (now + period / 4 * self.block_time_ms() / 1000, era, birth)
        return era, birth

    def _forget_eras(self) -> None:
        self._eras.clear()
        self._era_generation += 1

    async def _read_mortality(self, period: int) -> tuple[Era, bytes]:
        best = await self.get_block_header()
        finalized = await self.get_block_header(await self.get_chain_finalised_head())
        if best is None or finalized is None:
            raise InvalidResponse("the node does not know its own best or finalized head")
        lag = best.number - finalized.number
        anchor = finalized.number if lag <= min(MAX_FINALITY_LAG, period // 4) else best.number
        era = Era.mortal(period, anchor)
        birth = await self.get_block_hash(era.birth(anchor))
        if birth is None:
            raise InvalidResponse(f"the node does not know block {era.birth(anchor)}")
        return era, birth

    async def submit_extrinsic(self, extrinsic: SignedExtrinsic, *, wait_for_inclusion: bool = False,
                               wait_for_finalization: bool = False, timeout: float | None = None) -> ExtrinsicReceipt:
        """Submit; without waiting, the receipt holds only the hash. Waiting for inclusion (or finality), it
        is filled from the including (or finalized) block. Raises :class:`InvalidTransaction` if the node
        refuses it, :class:`ExtrinsicDropped` if it leaves the pool unincluded, :class:`RequestTimeout`
        past ``timeout`` (default :attr:`watch_timeout`)."""
        async with self._submission(extrinsic, wait_for_inclusion or wait_for_finalization, timeout) as updates:
            return await self._receipt(extrinsic, updates, wait_for_finalization)

    @asynccontextmanager
    async def _submission(self, extrinsic: SignedExtrinsic, watch: bool,
                          timeout: float | None) -> AsyncIterator[Subscription[Any] | None]:
        """Entered once the node has pooled ``extrinsic`` (refusals raise on entering), with its status updates
        when ``watch``; the block follows it (see :meth:`_receipt`) within ``timeout``. A refusal, a drop, a
        lost connection or the deadline makes :attr:`nonces` read the signer's nonce from the node again (a
        transaction pooled on a node killed before it passed it on is gone, and counting past it would leave
        the next ones waiting in the future queue until dropped)."""
        tx_hash = extrinsic.extrinsic_hash
        try:
            if not watch:
                result = await self._transport.request("author_submitExtrinsic", [to_hex(extrinsic.data)],
                                                       idempotent=False)
                if from_hex(result, "extrinsic hash", 32) != tx_hash:
                    raise InvalidResponse(f"the node answered hash {result} for transaction 0x{tx_hash.hex()}")
                self.nonces.pooled(extrinsic.signer, extrinsic.nonce)
                yield None
                return
            with deadline(f"watching transaction 0x{tx_hash.hex()}", self.watch_timeout if timeout is None else timeout):
                async with self._transport.subscribe("author_submitAndWatchExtrinsic", [to_hex(extrinsic.data)],
                                                     "author_unwatchExtrinsic", _same, buffer=WATCH_BUFFER,
                                                     resilient=False) as updates:
                    self.nonces.pooled(extrinsic.signer, extrinsic.nonce)
                    yield updates
        except (InvalidTransaction, ExtrinsicDropped) as exc:
            if not (isinstance(exc, InvalidTransaction) and exc.code in _KEEP_NONCE_CODES):
                self.nonces.forget(extrinsic.signer)  # its nonce is free again, or ours was stale
            if isinstance(exc, InvalidTransaction) and exc.is_mortality_error:
                self._forget_eras()  # its birth block is not on this node's chain: read the era afresh
            raise
        except (ConnectionLost, RequestTimeout):  # pooled, then the node went (its pool with it?) or it waits:
            self.nonces.forget(extrinsic.signer)  # the next count comes from a node's pool, not from ours
            raise

    async def _receipt(self, extrinsic: SignedExtrinsic, updates: Subscription[Any] | None,
                       until_finalized: bool) -> ExtrinsicReceipt:
        """The receipt of a pooled transaction: its hash alone when not watched, else from its block."""
        if updates is None:
            return ExtrinsicReceipt(extrinsic.extrinsic_hash)
        block_hash, finalized = await _follow(extrinsic.extrinsic_hash, updates, until_finalized)
        return await self.get_extrinsic_receipt(extrinsic.extrinsic_hash, block_hash, finalized=finalized)

    async def get_extrinsic_receipt(self, extrinsic_hash: bytes, block_hash: BlockId, *,
                                    finalized: bool = False) -> ExtrinsicReceipt:
        """The receipt of a transaction in a block (for one submitted without waiting); its
        ``extrinsic_idx`` is ``None`` if the block does not hold it."""
        inclusion = await self._inclusion(_block_hash(block_hash))
        return receipt_in_block(self.view, extrinsic_hash, inclusion, finalized=finalized)

    async def _inclusion(self, block_hash: bytes) -> InclusionData:
        return await self._blocks.get(block_hash, lambda: self._fetch_inclusion(block_hash))

    async def sign_and_submit(self, call: Call, keypair: Keypair | str, *, wait_for_inclusion: bool = False,
                              wait_for_finalization: bool = False, era: int | None = MORTAL_PERIOD, tip: int = 0,
                              timeout: float | None = None) -> ExtrinsicReceipt:
        """Sign with the next managed nonce and submit; a refusal for a stale, future or taken nonce re-reads
        the nonce from the node and signs again after a short random wait (up to :data:`NONCE_ATTEMPTS` in
        all: another program sending from the same account, as an operator's storage node and provider may,
        can take a nonce between). The signer's nonce is held from signing until the node has pooled or
        refused the transaction (:meth:`NonceManager.reserve`), so concurrent senders from one account never
        leave a gap that strands each other's transactions; the wait for inclusion is not."""
        (receipt,) = await self.sign_and_submit_all([call], keypair, wait_for_inclusion=wait_for_inclusion,
                                                    wait_for_finalization=wait_for_finalization, era=era, tip=tip,
                                                    timeout=timeout)
        return receipt

    async def sign_and_submit_all(self, calls: Sequence[Call], keypair: Keypair | str, *,
                                  wait_for_inclusion: bool = False, wait_for_finalization: bool = False,
                                  era: int | None = MORTAL_PERIOD, tip: int = 0, timeout: float | None = None
                                  ) -> list[ExtrinsicReceipt]:
        """:meth:`sign_and_submit` for several calls: each is pooled before the next is signed, so they take
        consecutive nonces and one block can hold them all, in order; then their receipts, in order. The
        first refusal raises; those pooled before it stand.

        Waiting, only the last transaction is watched: its nonce makes it wait for all the others, so its
        block holds them or descends from the blocks that do, and each earlier receipt is found there or in
        an ancestor (at most :data:`RECEIPT_WALK_BACK` blocks back; not found, its ``is_success`` is
        ``None``). A watch costs a subscription and its updates; one per batch keeps a client that sends
        a few transactions at a time (a private upload sends three) from paying for each."""
        signer = Keypair.from_uri(keypair) if isinstance(keypair, str) else keypair
        if not isinstance(signer, Keypair):
            raise BadArgument("sign_and_submit takes a Keypair or a secret URI")
        watch = wait_for_inclusion or wait_for_finalization
        async with AsyncExitStack() as pooled:
            submitted = [await self._pool(call, signer, pooled, watch=watch and position == len(calls) - 1, era=era,
                                          tip=tip, timeout=timeout)
                         for position, call in enumerate(calls)]
            if not watch or not submitted:
                return [ExtrinsicReceipt(extrinsic.extrinsic_hash) for extrinsic, _ in submitted]
            last, updates = submitted[-1]
            assert updates is not None
            block_hash, finalized = await _follow(last.extrinsic_hash, updates, wait_for_finalization)
        return await self._receipts_back_from(block_hash, [extrinsic.extrinsic_hash for extrinsic, _ in submitted],
                                              finalized=finalized)

    async def _receipts_back_from(self, block_hash: bytes, hashes: Sequence[bytes], *,
                                  finalized: bool) -> list[ExtrinsicReceipt]:
        """The receipts of ``hashes``, each found in block ``block_hash`` or one of its ancestors (see
        :meth:`sign_and_submit_all`)."""
        including = inclusion = await self._inclusion(block_hash)
        found: dict[bytes, ExtrinsicReceipt] = {}
        for walked in range(1, RECEIPT_WALK_BACK + 1):
            for tx_hash in hashes:
                if tx_hash not in found and tx_hash in inclusion.extrinsic_index:
                    found[tx_hash] = receipt_in_block(self.view, tx_hash, inclusion, finalized=finalized)
            if len(found) == len(hashes) or inclusion.block_number == 0 or walked == RECEIPT_WALK_BACK:
                break
            inclusion = await self._inclusion(inclusion.parent_hash)
        return [found.get(tx_hash) or receipt_in_block(self.view, tx_hash, including, finalized=finalized)
                for tx_hash in hashes]

    async def _pool(self, call: Call, signer: Keypair, pooled: AsyncExitStack, *, watch: bool, era: int | None,
                    tip: int, timeout: float | None) -> tuple[SignedExtrinsic, Subscription[Any] | None]:
        """Sign ``call`` with the signer's next nonce and have the node pool it, re-signing after a nonce
        refusal, or once after a refusal of its era; its status updates (when ``watch``) stay open in
        ``pooled``."""
        attempts = 1
        while True:
            try:
                async with self.nonces.reserve(signer.public) as nonce:
                    extrinsic = await self.create_signed_extrinsic(call, signer, era=era, nonce=nonce, tip=tip)
                    return extrinsic, await pooled.enter_async_context(self._submission(extrinsic, watch, timeout))
            except InvalidTransaction as exc:  # the refusal made the nonce manager read the nonce again
                era_refused = exc.is_mortality_error and era is not None and attempts == 1  # (era read afresh: once)
                if not (exc.is_nonce_error or era_refused) or attempts == NONCE_ATTEMPTS:
                    raise
                await anyio.sleep(random.uniform(0, NONCE_BACKOFF * attempts))
                attempts += 1

    async def _fetch_inclusion(self, block_hash: bytes) -> InclusionData:
        block = await self.rpc_request("chain_getBlock", [to_hex(block_hash)])
        if block is None:
            raise InvalidResponse(f"the node does not know block 0x{block_hash.hex()}")
        try:
            header = header_from_json(block["block"]["header"], block_hash)
            hashes = [blake2_256(from_hex(x, "extrinsic")) for x in block["block"]["extrinsics"]]
        except (KeyError, TypeError) as exc:
            raise InvalidResponse(f"block 0x{block_hash.hex()}: malformed ({exc})") from None
        return InclusionData.of_block(block_hash, header, hashes, await self.get_events(block_hash))

    # --- subscriptions -------------------------------------------------------------------------------

    def subscribe_new_heads(self) -> Subscription[Header]:
        """Each new best block's header: ``async with client.subscribe_new_heads() as heads: async for h in heads``."""
        return self._transport.subscribe("chain_subscribeNewHeads", [], "chain_unsubscribeNewHeads",
                                         header_from_json, buffer=self._subscription_buffer)

    def subscribe_finalized_heads(self) -> Subscription[Header]:
        """Each newly finalized block's header (finality may skip blocks; see :meth:`subscribe_events`)."""
        return self._transport.subscribe("chain_subscribeFinalizedHeads", [], "chain_unsubscribeFinalizedHeads",
                                         header_from_json, buffer=self._subscription_buffer)

    def subscribe_events(self, pallet: str | Iterable[str] | None = None, *, finalized: bool = False,
                         relevant: Callable[[bytes], bool] | None = None) -> EventSubscription:
        """Per block, the events of ``pallet`` (or of several, or all when ``None``), every block of the best
        (or finalized) chain visited once, in order, across skipped heads and reconnections. ``relevant``, a
        test on a block's encoded ``System.Events`` (e.g. that they hold a file id), skips decoding the blocks
        it rejects, which then yield no events: decoding is most of what following a busy chain costs."""
        pallets = None if pallet is None else frozenset([pallet] if isinstance(pallet, str) else pallet)
        for name in pallets or ():
            self.view.pallet(name)
        heads = self.subscribe_finalized_heads() if finalized else self.subscribe_new_heads()
        if relevant is None:
            return EventSubscription(heads, self._header_of, self.get_events, pallets)

        async def relevant_events(block_hash: bytes) -> tuple[ChainEvent, ...]:
            raw = await self._encoded_events(block_hash)
            return await self.get_events(block_hash) if raw and relevant(raw) else ()

        return EventSubscription(heads, self._header_of, relevant_events, pallets)

    async def subscribe_block_headers(self, handler: Callable[[Header, int, Any], Any], finalized_only: bool = False) -> Any:
        """substrate-interface's callback form: ``handler(header, update_nr, subscription_id)`` for each new
        (or finalized) head until it returns something other than ``None``, which is returned."""
        async with (self.subscribe_finalized_heads() if finalized_only else self.subscribe_new_heads()) as heads:
            update_nr = 0
            async for header in heads:
                result = handler(header, update_nr, heads.id)
                if result is not None:
                    return result
                update_nr += 1
        return None

    async def _header_of(self, block_hash: bytes) -> Header:
        header = await self.get_block_header(block_hash)
        if header is None:
            raise InvalidResponse(f"the node announced block 0x{block_hash.hex()} but has no header for it")
        return header


class QueryMapResult:
    """The entries of a storage map, fetched a page at a time while iterated (``async for key, value``).
    ``key`` is the map's key (a tuple for the remaining keys of a double map); ``last_key`` is the full
    storage key of the last entry yielded, to resume after with ``start_key``."""

    def __init__(self, client: AsyncClient, entry: StorageEntry, params: Sequence[Any], page_size: int,
                 max_results: int | None, start_key: bytes | None, block_hash: bytes | None) -> None:
        self._client = client
        self._entry = entry
        self._known = len(params)
        self._prefix = entry.partial_key(params)
        self._page_size = page_size
        self._remaining = max_results
        self.last_key = start_key
        self._at = block_hash
        self._page: deque[tuple[bytes, Any, Any]] = deque()
        self._exhausted = False

    def __aiter__(self) -> "QueryMapResult":
        return self

    async def __anext__(self) -> tuple[Any, Any]:
        if self._remaining == 0:
            raise StopAsyncIteration
        if not self._page and not self._exhausted:
            await self._fetch_page()
        if not self._page:
            raise StopAsyncIteration
        if self._remaining is not None:
            self._remaining -= 1
        self.last_key, key, value = self._page.popleft()
        return key, value

    async def _fetch_page(self) -> None:
        client = self._client
        if self._at is None:
            self._at = await client.get_chain_head()
        after = None if self.last_key is None else to_hex(self.last_key)
        keys = await client.rpc_request("state_getKeysPaged", [to_hex(self._prefix), self._page_size, after,
                                                               to_hex(self._at)])
        if not isinstance(keys, list) or len(keys) > self._page_size:
            raise InvalidResponse(f"state_getKeysPaged: expected a list of at most {self._page_size} keys")
        self._exhausted = len(keys) < self._page_size
        if not keys:
            return
        changes = await client.rpc_request("state_queryStorageAt", [keys, to_hex(self._at)])
        try:
            values = {k: v for k, v in changes[0]["changes"]}
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise InvalidResponse(f"state_queryStorageAt: malformed ({exc})") from None
        entry = self._entry
        skip = len(self._prefix)
        for hex_key in keys:
            key = from_hex(hex_key, "storage key")
            if not key.startswith(self._prefix):
                raise InvalidResponse(f"state_getKeysPaged: key {hex_key} is outside the prefix asked for")
            decoded = entry.decode_keys(key, skip, self._known)
            value = entry.decode_value(optional_hex(values.get(hex_key), "storage value"))
            self._page.append((key, decoded[0] if len(decoded) == 1 else decoded, value))


def _same(update: Any) -> Any:
    return update


async def _follow(tx_hash: bytes, updates: Subscription[Any], until_finalized: bool) -> tuple[bytes, bool]:
    """Follow a pooled transaction's status updates to its including block; returns (block hash, finalized)."""
    async for update in updates:
        if isinstance(update, dict):
            if "finalized" in update:
                return from_hex(update["finalized"], "finalized block", 32), True
            if "inBlock" in update and not until_finalized:
                return from_hex(update["inBlock"], "including block", 32), False
            if "usurped" in update or "finalityTimeout" in update:
                raise ExtrinsicDropped(tx_hash, update)
        elif update in ("dropped", "invalid"):
            raise ExtrinsicDropped(tx_hash, update)
    raise ExtrinsicDropped(tx_hash, "watch ended")


def _block_hash(value: BlockId) -> bytes:
    return hash_id(value, "block hash")
