"""JSON-RPC 2.0 framing: decoding and validating requests, encoding responses, error objects.

Pure functions over stdlib ``json`` (no I/O); :mod:`node.rpc.dispatch` runs what they parse.

Requests (https://www.jsonrpc.org/specification):

- ``"jsonrpc"`` must be exactly ``"2.0"``; ``"method"`` a string;
- ``"params"`` an array, an object, ``null`` or absent (``null``/absent mean ``[]``, as Substrate clients send
  all three forms);
- ``"id"`` a string, a number or ``null``; a request *without* an ``"id"`` member is a notification and gets no
  response, not even an error;
- a batch is a non-empty array of requests; its response is the array of the non-notification responses.

Error objects follow jsonrpsee, the server library Substrate uses, so clients see the codes and messages they
would see from a Substrate node; ``data`` carries a detail (for -32600, -32603 over HTTP and -32000 the detail
is ours, jsonrpsee sends none):

======  ==========================================  ================================================
code    message                                     when
======  ==========================================  ================================================
-32700  Parse error                                 not JSON (id ``null``)
-32600  Invalid request                             not a request object, or an empty batch
-32601  Method not found                            unknown method
-32601  RPC call is unsafe to be called externally  unsafe method, client not allowed
-32602  Invalid params                              params of the wrong shape or type
-32603  Internal error                              a handler bug (logged); a subscription over HTTP
-32000  Request timed out                           a call ran past ``request_timeout`` (ours)
-32006  Too many subscriptions on the connection    ``max_subscriptions_per_connection`` reached
-32007  Request is too big                          body over ``max_request_size`` (HTTP 413)
-32008  Response is too big                         one response over ``max_response_size``
-32010  The batch request was too large             more calls than ``max_batch_len``
-32011  The batch response was too large            batch responses over ``max_response_size``
-32999  RPC rate limit exceeded                     over the connection's ``rate_limit`` (Substrate's)
======  ==========================================  ================================================

Handlers report their own failures by raising :class:`RpcError` with an application code; Substrate's author
codes (1001 bad format, 1002 verification, 1010 invalid transaction, ... 1016 pool full) are below.

Serialization is compact UTF-8 with ``NaN``/``Infinity`` refused both ways (they are not JSON).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "REQUEST_TIMEOUT",
    "TOO_MANY_SUBSCRIPTIONS",
    "OVERSIZED_REQUEST",
    "OVERSIZED_RESPONSE",
    "TOO_BIG_BATCH_REQUEST",
    "TOO_BIG_BATCH_RESPONSE",
    "RATE_LIMITED",
    "AUTHOR_BAD_FORMAT",
    "AUTHOR_VERIFICATION_ERROR",
    "POOL_INVALID_TX",
    "POOL_UNKNOWN_VALIDITY",
    "POOL_TEMPORARILY_BANNED",
    "POOL_ALREADY_IMPORTED",
    "POOL_TOO_LOW_PRIORITY",
    "POOL_IMMEDIATELY_DROPPED",
    "RequestId",
    "RpcError",
    "Request",
    "InvalidRequest",
    "decode_json",
    "encode_json",
    "parse_request",
    "result_response",
    "error_response",
    "notification",
]

# -- JSON-RPC 2.0 codes ---------------------------------------------------------------------------------
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# -- server errors (jsonrpsee's numbering, except the timeout, which jsonrpsee does not have) --------------
REQUEST_TIMEOUT = -32000
TOO_MANY_SUBSCRIPTIONS = -32006
OVERSIZED_REQUEST = -32007
OVERSIZED_RESPONSE = -32008
TOO_BIG_BATCH_REQUEST = -32010
TOO_BIG_BATCH_RESPONSE = -32011
RATE_LIMITED = -32999

# -- Substrate's author/transaction-pool codes (sc-rpc-api author/error.rs) -------------------------------
AUTHOR_BAD_FORMAT = 1001
AUTHOR_VERIFICATION_ERROR = 1002
POOL_INVALID_TX = 1010
POOL_UNKNOWN_VALIDITY = 1011
POOL_TEMPORARILY_BANNED = 1012
POOL_ALREADY_IMPORTED = 1013
POOL_TOO_LOW_PRIORITY = 1014
POOL_IMMEDIATELY_DROPPED = 1016

RequestId: TypeAlias = "str | int | float | None"


class RpcError(Exception):
    """A JSON-RPC error response: raise it from a handler to answer ``{"code", "message", "data"}``.

    ``data`` must be JSON-serializable; it is left out of the error object when ``None``.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(code, message, data)
        self.code = code
        self.message = message
        self.data = data

    @classmethod
    def invalid_params(cls, detail: str | None = None) -> RpcError:
        """``-32602 Invalid params``, with ``detail`` as ``data``."""
        return cls(INVALID_PARAMS, "Invalid params", detail)

    def to_object(self) -> dict[str, Any]:
        """The ``"error"`` member of a response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    def __repr__(self) -> str:
        return f"RpcError({self.code}, {self.message!r}, {self.data!r})"


@dataclass(frozen=True)
class Request:
    """One validated call of a single request or a batch."""

    method: str
    """The method name as the client sent it (possibly an alias)."""
    params: list[Any] | dict[str, Any]
    """Positional (``[]`` when ``null`` or absent) or named parameters."""
    id: RequestId
    """The id to echo; meaningless for a notification."""
    is_notification: bool
    """True when the request had no ``"id"`` member: it gets no response."""


class InvalidRequest(Exception):
    """A JSON value that is not a valid request; ``id`` is the id to answer with (``None`` if unknown)."""

    def __init__(self, id: RequestId, detail: str) -> None:
        super().__init__(detail)
        self.id = id
        self.detail = detail


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_json(raw: bytes | str) -> Any:
    """Parse JSON text; raises ``ValueError`` (``json.JSONDecodeError`` included) on anything that is not JSON.

    Nesting too deep for the parser (``RecursionError``) is reported as ``ValueError`` too.
    """
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; raises ``TypeError``/``ValueError`` for values JSON cannot hold."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):  # one with a lone surrogate ("\ud800") parses, but no answer could carry it
        return value.isascii() or _encodes(value)
    return value is None or isinstance(value, int)


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def parse_request(value: Any) -> Request:
    """Validate one decoded request object; raises :class:`InvalidRequest`."""
    if not isinstance(value, dict):
        raise InvalidRequest(None, "a request must be a JSON object")
    is_notification = "id" not in value
    request_id = value.get("id")
    if not _valid_id(request_id):
        raise InvalidRequest(None, "id must be a string, a number or null")
    if value.get("jsonrpc") != "2.0":
        raise InvalidRequest(request_id, 'jsonrpc must be "2.0"')
    method = value.get("method")
    if not isinstance(method, str):
        raise InvalidRequest(request_id, "method must be a string")
    params = value.get("params")
    if params is None:
        params = []
    elif not isinstance(params, (list, dict)):
        raise InvalidRequest(request_id, "params must be an array, an object or null")
    return Request(method, params, request_id, is_notification)


def result_response(request_id: RequestId, result: Any) -> dict[str, Any]:
    """A success response object."""
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def error_response(request_id: RequestId, error: RpcError) -> dict[str, Any]:
    """An error response object."""
    return {"jsonrpc": "2.0", "error": error.to_object(), "id": request_id}


def notification(method: str, subscription: str, result: Any) -> dict[str, Any]:
    """A subscription notification: ``{"jsonrpc","method","params":{"subscription","result"}}``."""
    return {"jsonrpc": "2.0", "method": method, "params": {"subscription": subscription, "result": result}}
