"""Run one JSON-RPC message (a request or a batch) against the registry; transport-independent.

:meth:`Dispatcher.handle` takes the raw message and what the transport knows about the connection
(:class:`ConnectionInfo`) and returns a :class:`Reply`: the encoded response (``None`` when there is nothing
to send: notifications only) and the subscriptions the transport must activate once that response is queued.

Per call, in order: validate the request (-32600), take a turn from the connection's rate limit if it has
one (waiting for it, or -32999 "RPC rate limit exceeded"; :mod:`node.rpc.ratelimit`), find the method
(-32601), apply the unsafe policy (-32601 "RPC call is unsafe to be called externally", Substrate's answer),
refuse subscriptions outside WebSocket (-32603, as jsonrpsee over HTTP), map the params, run the handler
under the message's deadline (-32000 on timeout), then encode the result (-32008 if over
``max_response_size``). A handler's ``RpcError`` becomes its error response; any other exception is logged
with its traceback and answered with a generic -32603: a buggy method never takes the server down.

Bytes held for the client: given the message's :class:`~node.rpc.budget.MessageBudget` (WebSocket), each
result is encoded only once the connection has room (under the message's deadline) and every encoded
response is charged to it; the transport hands the finished body to its writer. A batch stops encoding once
its responses alone pass ``max_response_size``: it is answered -32011 either way.

Notifications (no ``id``) run but are never answered; a notification to a subscribe or unknown method is
ignored (there is nobody to give a subscription id to). A batch runs its calls concurrently, all under
one ``request_timeout``, so a batch costs one in-flight slot and one deadline.

Unsafe policy (Substrate's ``--rpc-methods``): ``unsafe`` allows everyone, ``safe`` nobody, ``auto`` the
clients connecting from a loopback address (IPv4 127/8, ``::1``, IPv4-mapped loopback). A reverse proxy on
the same host makes every client look local: run it with ``safe``.

Messages over 1 MiB are parsed in a worker thread, so a 15 MiB batch does not stall the event loop.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from dataclasses import dataclass
from typing import Any, Literal

import trio

from node.rpc.budget import MessageBudget
from node.rpc.config import RpcConfig, RpcMethodsPolicy
from node.rpc.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RATE_LIMITED,
    REQUEST_TIMEOUT,
    OVERSIZED_RESPONSE,
    TOO_BIG_BATCH_REQUEST,
    TOO_BIG_BATCH_RESPONSE,
    InvalidRequest,
    RequestId,
    RpcError,
    decode_json,
    encode_json,
    error_response,
    parse_request,
    result_response,
)
from node.rpc.ratelimit import RateLimit
from node.rpc.refusals import RefusalLog
from node.rpc.registry import Method, MethodKind, RpcModule
from node.rpc.subscriptions import CallContext, Subscription, SubscriptionSet

__all__ = ["ConnectionInfo", "Dispatcher", "Reply", "allows_unsafe"]

logger = logging.getLogger(__name__)

PARSE_IN_THREAD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ConnectionInfo:
    """What the transport knows about the client."""

    transport: Literal["http", "ws"]
    peer: tuple[str, int] | None
    subscriptions: SubscriptionSet | None = None
    """The connection's subscriptions; None where subscriptions are not supported (HTTP)."""
    rate_limit: RateLimit | None = None
    """The connection's call rate limit; None: unlimited."""


@dataclass(frozen=True)
class Reply:
    body: bytes | None
    """The encoded response; None when every call was a notification."""
    subscriptions: tuple[Subscription, ...] = ()
    """To ``activate()`` once ``body`` is queued (or ``close()`` if it cannot be sent)."""


def allows_unsafe(policy: RpcMethodsPolicy, peer: tuple[str, int] | None) -> bool:
    """Whether a client at ``peer`` may call unsafe methods under ``policy``."""
    if policy == "unsafe":
        return True
    if policy == "safe" or peer is None:
        return False
    return _is_loopback(peer[0])


@functools.lru_cache(maxsize=1024)
def _is_loopback(host: str) -> bool:
    """Asked for every call, so remembered per host (parsing an address costs more than most calls)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class Dispatcher:
    """Executes messages against a frozen copy of ``module`` plus the built-in ``rpc_methods``."""

    def __init__(self, module: RpcModule, config: RpcConfig, *, refusals: RefusalLog | None = None) -> None:
        self._config = config
        self._refusals = RefusalLog() if refusals is None else refusals
        limit = config.max_response_size
        self._timed_out = RpcError(REQUEST_TIMEOUT, "Request timed out", f"exceeded {config.request_timeout} s")
        self._too_big = RpcError(OVERSIZED_RESPONSE, "Response is too big", f"Exceeded max limit of {limit}")
        self._batch_too_big = RpcError(TOO_BIG_BATCH_RESPONSE, "The batch response was too large",
                                       f"Exceeded max limit of {limit}")
        self._methods = {name: module.lookup(name) for name in module.method_names()}
        methods_result = {"version": 1, "methods": sorted([*self._methods, "rpc_methods"])}

        async def rpc_methods(params: list[Any], ctx: CallContext) -> dict[str, Any]:
            return methods_result

        self._methods["rpc_methods"] = Method("rpc_methods", MethodKind.CALL, rpc_methods, False, (), None)

    async def handle(self, raw: bytes | str, conn: ConnectionInfo, budget: MessageBudget | None = None) -> Reply:
        """Run one message; never raises for anything the client sent or a handler did.

        With a ``budget``, the reply's body is charged to it (the caller hands it over or closes the budget).
        """
        try:
            if len(raw) > PARSE_IN_THREAD_BYTES:
                value = await trio.to_thread.run_sync(decode_json, raw)
            else:
                value = decode_json(raw)
        except ValueError:
            return Reply(self._error(None, RpcError(PARSE_ERROR, "Parse error"), budget))
        deadline = trio.current_time() + self._config.request_timeout
        created: list[Subscription] = []
        if not isinstance(value, list):
            return Reply(await self._call(value, conn, deadline, created, budget), tuple(created))
        if not value:
            return Reply(self._error(None, RpcError(INVALID_REQUEST, "Invalid request", "empty batch"), budget))
        if len(value) > self._config.max_batch_len:
            detail = f"Exceeded max limit of {self._config.max_batch_len}"
            error = RpcError(TOO_BIG_BATCH_REQUEST, "The batch request was too large", detail)
            return Reply(self._error(None, error, budget))
        # The calls of a batch run concurrently (as jsonrpsee runs them), so a batch of submissions is
        # validated together; the responses keep the requests' order.
        answers: list[bytes | None] = [None] * len(value)
        batch = _BatchSize(self._config.max_response_size)

        async def answer(i: int, item: Any) -> None:
            answers[i] = await self._call(item, conn, deadline, created, budget, batch)

        async with trio.open_nursery() as nursery:
            for i, item in enumerate(value):
                nursery.start_soon(answer, i, item)
        responses = [response for response in answers if response is not None]
        if not responses:
            return Reply(None, tuple(created))
        body = b"[" + b",".join(responses) + b"]"
        if batch.overflowed or len(body) > self._config.max_response_size:
            if budget is not None:
                budget.release(sum(map(len, responses)))
            for sub in created:
                sub.close()
            return Reply(self._error(None, self._batch_too_big, budget))
        if budget is not None:
            budget.charge(len(body) - sum(map(len, responses)))  # the body replaces its parts: add the commas
        return Reply(body, tuple(created))

    async def _call(
        self,
        value: Any,
        conn: ConnectionInfo,
        deadline: float,
        created: list[Subscription],
        budget: MessageBudget | None,
        batch: _BatchSize | None = None,
    ) -> bytes | None:
        """The encoded response to one call (charged to ``budget``, counted in ``batch``), or None."""
        try:
            request = parse_request(value)
        except InvalidRequest as exc:
            return self._part(self._error(exc.id, RpcError(INVALID_REQUEST, "Invalid request", exc.detail), budget),
                              batch)
        method = self._methods.get(request.method)
        if request.is_notification and (method is None or method.kind is MethodKind.SUBSCRIBE):
            return None
        ctx = CallContext(
            transport=conn.transport,
            peer=conn.peer,
            allow_unsafe=allows_unsafe(self._config.rpc_methods, conn.peer),
            method=request.method,
            unsubscribe_method=method.unsubscribe if method is not None else None,
            subscriptions=conn.subscriptions,
        )
        error = await self._take_turn(conn, deadline)
        calling = False
        if error is None and budget is not None:
            with trio.move_on_at(deadline):
                await budget.start_call()
                calling = True
            error = None if calling else self._timed_out
        try:
            if error is None:
                error = await self._wait_for_room(budget, deadline)
            if error is None:
                result, error = await self._run(request.method, request.params, method, ctx, deadline)
            if error is None and not request.is_notification:
                body, error = await self._encode(request.id, request.method, result, deadline, budget, batch)
                if body is not None:
                    created.extend(ctx.created)
                    return self._part(body, batch)
        finally:
            if calling:
                assert budget is not None
                budget.end_call()
        for sub in ctx.created:
            sub.close()
        if request.is_notification or error is None:  # (None: a batch past its size limit, answered -32011)
            return None
        return self._part(self._error(request.id, error, budget), batch)

    async def _wait_for_room(self, budget: MessageBudget | None, deadline: float) -> RpcError | None:
        """None once the connection has room for another response (or this is its oldest message), else the
        timeout to answer. Waited for before a call runs as well as before its answer is encoded: a client
        that did not read kept sending batches, each ran all its calls and held every result while it waited
        for room, about 1 GB on one connection."""
        if budget is None:
            return None
        with trio.move_on_at(deadline) as scope:
            await budget.room()
        return self._timed_out if scope.cancelled_caught else None

    async def _take_turn(self, conn: ConnectionInfo, deadline: float) -> RpcError | None:
        """None when the connection's rate limit lets one more call run now, else the error to answer."""
        if conn.rate_limit is None:
            return None
        with trio.move_on_at(deadline):
            if await conn.rate_limit.acquire():
                return None
            self._refusals.note(conn.peer, f"rate limited ({conn.rate_limit.per_minute} calls per minute)")
            return RpcError(RATE_LIMITED, "RPC rate limit exceeded")
        return self._timed_out

    async def _encode(
        self,
        request_id: RequestId,
        name: str,
        result: Any,
        deadline: float,
        budget: MessageBudget | None,
        batch: _BatchSize | None,
    ) -> tuple[bytes | None, RpcError | None]:
        """``result``'s response, once there is room for it: ``(body, None)``, ``(None, error)``, or
        ``(None, None)`` when ``batch`` is already too large for another response."""
        error = await self._wait_for_room(budget, deadline)
        if error is not None:
            return None, error
        if batch is not None and batch.overflowed:
            return None, None
        try:
            body = encode_json(result_response(request_id, result))
        except (TypeError, ValueError):
            logger.exception("result of %s is not JSON-serializable", name)
            return None, RpcError(INTERNAL_ERROR, "Internal error")
        if len(body) > self._config.max_response_size:
            return None, self._too_big
        if budget is not None:
            budget.charge(len(body))
        return body, None

    @staticmethod
    def _part(body: bytes, batch: _BatchSize | None) -> bytes:
        if batch is not None:
            batch.add(len(body))
        return body

    async def _run(
        self,
        name: str,
        params: list[Any] | dict[str, Any],
        method: Method | None,
        ctx: CallContext,
        deadline: float,
    ) -> tuple[Any, RpcError | None]:
        if method is None:
            return None, RpcError(METHOD_NOT_FOUND, "Method not found")
        if method.unsafe and not ctx.allow_unsafe:
            return None, RpcError(METHOD_NOT_FOUND, "RPC call is unsafe to be called externally")
        if method.kind is not MethodKind.CALL and ctx.subscriptions is None:
            return None, RpcError(INTERNAL_ERROR, "Internal error", "subscriptions need a WebSocket connection")
        try:
            positional = method.positional(params)
            with trio.move_on_at(deadline) as scope:
                return await method.handler(positional, ctx), None
        except RpcError as exc:
            return None, exc
        except Exception:
            logger.exception("RPC method %s failed", name)
            return None, RpcError(INTERNAL_ERROR, "Internal error")
        assert scope.cancelled_caught
        return None, self._timed_out

    @staticmethod
    def _error(request_id: RequestId, error: RpcError, budget: MessageBudget | None = None) -> bytes:
        """An error response, charged to ``budget`` without waiting for room (errors are small)."""
        try:
            body = encode_json(error_response(request_id, error))
        except (TypeError, ValueError):
            logger.exception("error data of %r is not JSON-serializable", error)
            body = encode_json(error_response(request_id, RpcError(error.code, error.message)))
        if budget is not None:
            budget.charge(len(body))
        return body


class _BatchSize:
    """The bytes of a batch's responses so far, against ``max_response_size``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._total = 0
        self.overflowed = False
        """The responses alone are over the limit: the batch is answered -32011, whatever comes."""

    def add(self, size: int) -> None:
        self._total += size
        self.overflowed = self._total > self._limit
