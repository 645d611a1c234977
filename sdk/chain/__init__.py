"""The chain client: typed access to a Cairn node over its JSON-RPC WebSocket, for dApps and daemons.

``Client`` (blocking) and ``AsyncClient`` (``anyio``: trio or asyncio) read storage, constants, blocks
and events; compose, sign, submit and watch transactions to a receipt; follow heads and events; and verify
storage reads against a finalized header's state root. They encode and decode with the runtime's own
codecs (the SDK builds the node's runtime locally), so nothing is registered or decoded dynamically.

Modules, bottom up: ``errors`` (typed failures), ``rpc`` (one multiplexed WebSocket connection),
``transport`` (deadlines, reconnection, resilient subscriptions), ``shapes`` (the node's JSON into runtime
types), ``runtime_view`` (names to declarations), ``keys``, ``nonces``, ``cache``, ``receipt``, ``follow``
(gap-free event following), ``client`` (``AsyncClient``) and ``sync`` (``Client``).
"""

from runtime.keyring import InvalidSecretUri, Keypair
from sdk.chain.client import DEFAULT_URL, AsyncClient, QueryMapResult
from sdk.chain.errors import (
    BadArgument,
    ChainClientError,
    ConnectionFailed,
    ConnectionLost,
    ExtrinsicDropped,
    InvalidProof,
    InvalidResponse,
    InvalidTransaction,
    RequestTimeout,
    RpcError,
    RuntimeMismatch,
    SubscriptionOverflow,
    UnknownItem,
)
from sdk.chain.follow import EventSubscription
from sdk.chain.keys import account_id, keypair_from_arg, keypair_from_file
from sdk.chain.nonces import NonceManager
from sdk.chain.receipt import ExtrinsicReceipt
from sdk.chain.sync import Client
from sdk.chain.transport import ReconnectPolicy, Subscription
from sdk.chain.types import BlockEvents, ChainBlock, ChainEvent, DispatchFailure, ReadProof, SignedExtrinsic

__all__ = [
    "Client",
    "AsyncClient",
    "DEFAULT_URL",
    "ReconnectPolicy",
    "Keypair",
    "keypair_from_file",
    "keypair_from_arg",
    "account_id",
    "NonceManager",
    "ExtrinsicReceipt",
    "SignedExtrinsic",
    "ChainEvent",
    "BlockEvents",
    "ChainBlock",
    "DispatchFailure",
    "ReadProof",
    "QueryMapResult",
    "Subscription",
    "EventSubscription",
    "ChainClientError",
    "ConnectionFailed",
    "ConnectionLost",
    "RequestTimeout",
    "RpcError",
    "InvalidTransaction",
    "ExtrinsicDropped",
    "SubscriptionOverflow",
    "RuntimeMismatch",
    "InvalidResponse",
    "InvalidProof",
    "UnknownItem",
    "BadArgument",
    "InvalidSecretUri",
]
