"""The node's JSON-RPC server: JSON-RPC 2.0 over HTTP and WebSocket on one port, Substrate-compatible.

Layers, bottom up:

- :mod:`~node.rpc.jsonrpc` — request validation, response encoding, error codes, :class:`RpcError`;
- :mod:`~node.rpc.registry` — :class:`RpcModule`, the methods by name (aliases, unsafe, subscriptions);
- :mod:`~node.rpc.subscriptions` — :class:`CallContext` and :class:`Subscription`;
- :mod:`~node.rpc.dispatch` — runs one message against the registry, whatever the transport;
- :mod:`~node.rpc.http` / :mod:`~node.rpc.ws` — the transports (h11, wsproto on trio); ``serve_http`` is
  reused for the Prometheus port;
- :mod:`~node.rpc.server` — :class:`RpcServer`, the service.

A method and a subscription::

    rpc = RpcModule()

    async def system_chain(params: list, ctx: CallContext) -> str:
        return "Cairn Dev"

    rpc.register("system_chain", system_chain)

    async def subscribe_new_heads(params: list, ctx: CallContext) -> str:
        sub = ctx.subscribe("chain_newHead", "chain_unsubscribeNewHeads")
        sub.start_soon(pump_new_heads, sub)
        return sub.id

    rpc.register_subscription(
        "chain_subscribeNewHeads", subscribe_new_heads,
        aliases=("chain_subscribeNewHead", "subscribe_newHead"),
        unsubscribe="chain_unsubscribeNewHeads",
        unsubscribe_aliases=("chain_unsubscribeNewHead", "unsubscribe_newHead"),
    )

    server = RpcServer(rpc, RpcConfig(port=9944))
    await nursery.start(server.run)
"""

from node.rpc.config import RpcConfig
from node.rpc.dispatch import ConnectionInfo, Dispatcher, Reply
from node.rpc.http import HttpLimits, HttpRequest, HttpResponse, serve_http
from node.rpc.jsonrpc import RpcError
from node.rpc.registry import RpcModule
from node.rpc.server import RpcServer, RpcStatistics
from node.rpc.subscriptions import CallContext, Subscription, SubscriptionClosed

__all__ = [
    "CallContext",
    "ConnectionInfo",
    "Dispatcher",
    "HttpLimits",
    "HttpRequest",
    "HttpResponse",
    "Reply",
    "RpcConfig",
    "RpcError",
    "RpcModule",
    "RpcServer",
    "RpcStatistics",
    "Subscription",
    "SubscriptionClosed",
    "serve_http",
]
