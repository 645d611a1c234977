"""Helpers for the network tests: nodes on loopback with short timeouts, connecting them, draining gossip."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

import pytest
import trio

from node.network import NetworkConfig, NetworkService, NodeKey, Verdict

FAST = NetworkConfig(
    listen_port=0,
    dial_timeout=2.0,
    handshake_timeout=2.0,
    request_timeout=2.0,
    keepalive_interval=0.2,
    keepalive_timeout=1.0,
    redial_initial_backoff=0.05,
    redial_max_backoff=0.4,
)
"""Loopback, an ephemeral port, and timeouts short enough for tests."""

StartNode = Callable[..., Awaitable[NetworkService]]


@pytest.fixture
def start_node(nursery: trio.Nursery) -> StartNode:
    """``await start_node(key=None, **config_overrides)``: a running node in the test's nursery."""

    async def start(key: NodeKey | None = None, **overrides: object) -> NetworkService:
        service = NetworkService(key or NodeKey.generate(), dataclasses.replace(FAST, **overrides))
        await nursery.start(service.run)
        return service

    return start


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds, failing the test after ``timeout`` seconds."""
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.01)


async def connect_both(dialer: NetworkService, listener: NetworkService) -> None:
    """Connect two nodes and wait until each lists the other."""
    with trio.fail_after(5):
        await dialer.connect(listener.listen_address)
    await eventually(lambda: listener.local_peer_id in {peer.peer_id for peer in dialer.peers()}
                     and dialer.local_peer_id in {peer.peer_id for peer in listener.peers()})


async def quiet_then_drain(channel, quiet: float = 0.3) -> list:
    """Everything the channel (or deferred subscription) received once the network has been quiet for
    ``quiet`` seconds."""
    await trio.sleep(quiet)
    received = []
    while True:
        try:
            received.append(channel.receive_nowait())
        except trio.WouldBlock:
            return received


def accept_all(peer_id, payload):
    return Verdict.ACCEPT
