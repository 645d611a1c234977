"""The chain client's typed errors: every failure a caller can act on has its own class.

    ChainClientError
    ├── ConnectionFailed (ConnectionError)   no connection could be (re)established within the policy
    │   └── ConnectionLost                   an open connection dropped under a call or subscription
    ├── RequestTimeout (TimeoutError)        a call ran past its deadline
    ├── RpcError                             the node answered with a JSON-RPC error object
    │   └── InvalidTransaction               the pool refused a transaction (Substrate's 1001-1016)
    ├── ExtrinsicDropped                     a watched transaction left the pool without being included
    ├── SubscriptionOverflow                 a subscription's consumer fell a whole buffer behind
    ├── RuntimeMismatch                      the node runs another runtime (spec) or another chain
    ├── InvalidResponse                      the node's reply is malformed (bad hex, SCALE, shape)
    ├── InvalidProof                         a read proof does not verify against the state root
    ├── UnknownItem (LookupError)            no such pallet, storage item, call or constant
    └── BadArgument (ValueError)             arguments of the wrong number, type or range

Invalid secret URIs raise the keyring's own ``InvalidSecretUri`` (a ``ValueError``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
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
    "TRANSACTION_POOL_CODES",
]

TRANSACTION_POOL_CODES = {
    1001: "Extrinsic has invalid format",
    1002: "Verification error",
    1010: "Invalid Transaction",
    1011: "Unknown Transaction Validity",
    1012: "Transaction is temporarily banned",
    1013: "Transaction Already Imported",
    1014: "Priority is too low",
    1016: "Immediately Dropped",
}
"""Substrate's author/pool error codes (``sc-rpc-api`` ``author/error.rs``): each is an :class:`InvalidTransaction`."""


class ChainClientError(Exception):
    """Base of every error the chain client raises."""


class ConnectionFailed(ChainClientError, ConnectionError):
    """No connection to the node could be established (refused, unreachable, handshake failed) within the
    reconnect policy."""


class ConnectionLost(ConnectionFailed):
    """The connection dropped while a call or subscription was using it. A call that was in flight may or
    may not have reached the node."""


class RequestTimeout(ChainClientError, TimeoutError):
    """A call did not complete within its deadline."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what}: no answer within {seconds:g} s")
        self.what = what
        self.seconds = seconds


class RpcError(ChainClientError):
    """A JSON-RPC error object from the node: ``code``, ``message`` and optional ``data``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}" + (f" ({data})" if data is not None else ""))
        self.code = code
        self.message = message
        self.data = data

    @staticmethod
    def from_object(error: Any) -> "RpcError":
        """The typed error for a response's ``"error"`` member (pool codes become :class:`InvalidTransaction`)."""
        if not isinstance(error, dict) or not isinstance(error.get("code"), int):
            return RpcError(0, f"malformed error object: {error!r:.200}")
        code, message, data = error["code"], str(error.get("message", "")), error.get("data")
        if code in TRANSACTION_POOL_CODES:
            return InvalidTransaction(code, message, data)
        return RpcError(code, message, data)


class InvalidTransaction(RpcError):
    """The node refused a transaction. ``code`` is Substrate's (1010 invalid, 1011 unknown validity, 1012
    banned, 1013 already imported, 1014 priority too low, 1016 pool full; 1001/1002 malformed) and
    ``reason`` its detail, e.g. ``"Transaction is outdated"`` for a stale nonce."""

    @property
    def reason(self) -> str:
        return str(self.data) if self.data is not None else self.message

    @property
    def is_nonce_error(self) -> bool:
        """A stale or future nonce, or one another sender of the account took first (1014: a transaction with
        the same nonce is pooled): the sender's nonce must be read from the node again."""
        return self.code == 1014 or (
            self.code == 1010 and self.reason in ("Transaction is outdated", "Transaction will be valid in the future"))

    @property
    def is_mortality_error(self) -> bool:
        """A bad signature or an ancient birth block: what a mortal transaction signed against a birth block
        this node does not have on its chain gets (one the client took from another node, or a reorg removed)."""
        return self.code == 1010 and self.reason in ("Transaction has a bad signature",
                                                     "Transaction has an ancient birth block")


class ExtrinsicDropped(ChainClientError):
    """A watched transaction ended ``dropped``, ``invalid``, ``usurped`` or without finality in time."""

    def __init__(self, extrinsic_hash: bytes, status: Any) -> None:
        super().__init__(f"transaction 0x{extrinsic_hash.hex()} ended with status {status!r}")
        self.extrinsic_hash = extrinsic_hash
        self.status = status


class SubscriptionOverflow(ChainClientError):
    """A subscription's buffer filled because its consumer read too slowly; the subscription was ended."""


class RuntimeMismatch(ChainClientError):
    """The node's runtime is not the one this SDK was built with (spec name or version, transaction
    version), or a reconnection reached another chain (genesis hash)."""


class InvalidResponse(ChainClientError):
    """A reply from the node that is not what the method promises (bad hex, undecodable SCALE, wrong shape)."""


class InvalidProof(ChainClientError):
    """A read proof that does not prove the requested keys against the trusted state root."""


class UnknownItem(ChainClientError, LookupError):
    """No pallet, storage item, call or constant of that name in this runtime."""


class BadArgument(ChainClientError, ValueError):
    """Arguments that do not fit the declaration: wrong names or count, or a value its codec cannot encode."""
