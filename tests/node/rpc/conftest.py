"""Fixtures: a small method registry, a server on an ephemeral loopback port, and ways to drive real clients.

Blocking clients (``requests``, ``websocket-client``, substrate-interface's transports) run in a worker thread
(:func:`in_thread`) so the trio server keeps serving; each has its own socket timeout and the wait for the
thread has a trio deadline as well.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import pytest
import trio

from node.rpc import CallContext, RpcConfig, RpcError, RpcModule, RpcServer, Subscription
from node.rpc.jsonrpc import POOL_INVALID_TX

CLIENT_TIMEOUT = 5.0
"""Seconds a blocking client waits on its socket."""
THREAD_DEADLINE = 15.0
"""Seconds a test waits for a client thread."""


async def in_thread(fn: Callable[..., Any], *args: Any, deadline: float = THREAD_DEADLINE, **kwargs: Any) -> Any:
    """Run blocking ``fn(*args, **kwargs)`` in a thread, failing the test after ``deadline`` seconds."""
    with trio.fail_after(deadline):
        return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), abandon_on_cancel=True)


async def wait_until(predicate: Callable[[], bool], deadline: float = 5.0) -> None:
    """Poll ``predicate`` every 10 ms until true; fail after ``deadline`` seconds."""
    with trio.fail_after(deadline):
        while not predicate():
            await trio.sleep(0.01)


@dataclass
class Probe:
    """What the test methods saw, for assertions."""

    producers_started: int = 0
    producers_ended: int = 0
    producer_end: trio.Event = field(default_factory=trio.Event)
    flood_sent: int = 0
    flood_closed: trio.Event = field(default_factory=trio.Event)
    subscriptions: list[Subscription] = field(default_factory=list)


def demo_module(probe: Probe) -> RpcModule:
    """Methods covering every behaviour the transport layer has to get right."""
    rpc = RpcModule()

    async def system_chain(params: list, ctx: CallContext) -> str:
        return "Cairn Test"

    async def echo(params: list, ctx: CallContext) -> Any:
        return params

    async def peer(params: list, ctx: CallContext) -> Any:
        return {"transport": ctx.transport, "allowUnsafe": ctx.allow_unsafe, "method": ctx.method}

    async def submit(params: list, ctx: CallContext) -> str:
        raise RpcError(POOL_INVALID_TX, "Invalid Transaction", "Transaction has a bad signature")

    async def buggy(params: list, ctx: CallContext) -> str:
        return {}["missing"]

    async def sleep(params: list, ctx: CallContext) -> bool:
        await trio.sleep(params[0])
        return True

    async def sized(params: list, ctx: CallContext) -> str:
        if not params or not isinstance(params[0], int):
            raise RpcError.invalid_params("expected [length]")
        return "x" * params[0]

    async def rotate_keys(params: list, ctx: CallContext) -> str:
        return "0x" + "00" * 32

    rpc.register("system_chain", system_chain)
    rpc.register("test_echo", echo, aliases=("test_echoAlias",), param_names=("first", "second"))
    rpc.register("test_peer", peer)
    rpc.register("author_submitExtrinsic", submit)
    rpc.register("test_buggy", buggy)
    rpc.register("test_sleep", sleep)
    rpc.register("test_sized", sized)
    rpc.register("author_rotateKeys", rotate_keys, unsafe=True)

    async def pump_ticks(sub: Subscription, count: int, interval: float, finish: bool) -> None:
        probe.producers_started += 1
        try:
            for n in range(1, count + 1):
                await trio.sleep(interval)
                await sub.send(n)
            if not finish:  # (a finishing producer has sent all it ever will, as a transaction's watch)
                await trio.sleep_forever()
        finally:
            probe.producers_ended += 1
            probe.producer_end.set()

    async def subscribe_ticks(params: list, ctx: CallContext) -> str:
        count = params[0] if params else 3
        interval = params[1] if len(params) > 1 else 0.01
        finish = bool(params[2]) if len(params) > 2 else False
        sub = ctx.subscribe("test_tick", "test_unsubscribeTicks")
        probe.subscriptions.append(sub)
        await sub.send(0)  # held until the subscription id is out
        sub.start_soon(pump_ticks, sub, count, interval, finish)
        return sub.id

    rpc.register_subscription(
        "test_subscribeTicks",
        subscribe_ticks,
        aliases=("test_subscribeTick",),
        unsubscribe="test_unsubscribeTicks",
        unsubscribe_aliases=("test_unsubscribeTick",),
    )

    async def flood(sub: Subscription, size: int) -> None:
        payload = "f" * size
        try:
            while True:
                await sub.send(payload)
                probe.flood_sent += 1
                await trio.sleep(0)
        finally:
            probe.flood_closed.set()

    async def subscribe_flood(params: list, ctx: CallContext) -> str:
        sub = ctx.subscribe("test_floodItem", "test_unsubscribeFlood")
        sub.start_soon(flood, sub, params[0])
        return sub.id

    rpc.register_subscription("test_subscribeFlood", subscribe_flood, unsubscribe="test_unsubscribeFlood")

    async def subscribe_then_fail(params: list, ctx: CallContext) -> str:
        probe.subscriptions.append(ctx.subscribe("test_never", "test_unsubscribeFailing"))
        raise RpcError(1011, "Unknown Transaction Validity")

    rpc.register_subscription("test_subscribeFailing", subscribe_then_fail, unsubscribe="test_unsubscribeFailing")

    async def broken_producer(sub: Subscription) -> None:
        await sub.send("first")
        raise ValueError("producer bug")

    async def subscribe_broken(params: list, ctx: CallContext) -> str:
        sub = ctx.subscribe("test_brokenItem", "test_unsubscribeBroken")
        probe.subscriptions.append(sub)
        sub.start_soon(broken_producer, sub)
        return sub.id

    rpc.register_subscription("test_subscribeBroken", subscribe_broken, unsubscribe="test_unsubscribeBroken")

    async def misuses_subscribe(params: list, ctx: CallContext) -> str:
        return ctx.subscribe("test_tick", "test_unsubscribeTicks").id

    rpc.register("test_notASubscription", misuses_subscribe)
    return rpc


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def module(probe: Probe) -> RpcModule:
    return demo_module(probe)


StartServer = Callable[..., Awaitable[RpcServer]]


@pytest.fixture
def start_server(nursery: trio.Nursery, module: RpcModule) -> StartServer:
    """``await start_server(health=..., routes=..., **config)``: a running server on 127.0.0.1:<free port>."""

    async def start(*, health: Any = None, routes: Any = None, **config: Any) -> RpcServer:
        server = RpcServer(module, RpcConfig(port=0, **config), health=health, routes=routes)
        await nursery.start(server.run)
        return server

    return start


def call(method: str, params: Any = None, id: Any = 1, **extra: Any) -> dict[str, Any]:
    """A request object (``params`` left out when None)."""
    request = {"jsonrpc": "2.0", "method": method, "id": id, **extra}
    if params is not None:
        request["params"] = params
    return request
