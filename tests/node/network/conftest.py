"""Helpers for the network tests: nodes on loopback with short timeouts, and a hand-driven raw peer."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

import pytest
import trio

from node.network import NetworkConfig, NetworkService, NodeKey, Verdict
from node.network.connection import receive_admission
from node.network.errors import ConnectionLost, ProtocolViolation
from node.network.frames import FrameAssembler, Goodbye, GoodbyeReason, decode_frame
from node.network.noise import NoiseIdentity, SecureChannel, secure_outbound

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


class TamperingStream(trio.abc.HalfCloseableStream):
    """A TCP stream that flips one bit of the next ``send_all`` once ``tamper_next`` is set."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.tamper_next = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.tamper_next:
            self.tamper_next = False
            data = bytes(data[:-1]) + bytes([data[-1] ^ 0x01])
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await self.stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.stream.aclose()


class RawPeer:
    """A peer driven by hand: a real handshake and HELLO, then whatever bytes a test wants to send."""

    def __init__(self, channel: SecureChannel, stream: TamperingStream, key: NodeKey) -> None:
        self.channel = channel
        self.stream = stream
        self.peer_id = key.peer_id

    @classmethod
    async def connect(cls, service: NetworkService, key: NodeKey | None = None, *,
                      local_address: str | None = None) -> RawPeer:
        """``local_address`` (e.g. ``"127.0.0.2"``) is the source address to connect from."""
        key = key or NodeKey.generate()
        with trio.fail_after(5):
            stream = TamperingStream(await trio.open_tcp_stream("127.0.0.1", service.listen_port,
                                                                local_address=local_address))
            channel = await secure_outbound(stream, NoiseIdentity(key), expected_peer_id=service.local_peer_id)
            await receive_admission(channel)
        return cls(channel, stream, key)

    async def send_lane_data(self, data: bytes, lane: int = 0) -> None:
        with trio.fail_after(5):
            await self.channel.send(bytes([lane]) + data)

    async def goodbye_before_close(self, timeout: float = 5.0) -> GoodbyeReason | None:
        """Read until the node closes the connection; return the reason of its GOODBYE, if one came."""
        assembler, reason = FrameAssembler(2**24), None
        with trio.fail_after(timeout):
            try:
                while True:
                    message = await self.channel.receive()
                    for body in assembler.feed(message[1:]) if message[0] == 0 else []:
                        frame = decode_frame(body)
                        if isinstance(frame, Goodbye):
                            reason = frame.reason
            except (ConnectionLost, ProtocolViolation):
                return reason

    async def aclose(self) -> None:
        await self.channel.aclose()
