"""A peer driven by hand, byte by byte: a real handshake and HELLO, then whatever a test wants to send,
including what no honest node sends (tampered ciphertext, malformed frames)."""

from __future__ import annotations

import trio

from node.network import NetworkService, NodeKey, PeerId
from node.network.connection import receive_admission
from node.network.errors import ConnectionLost, ProtocolViolation
from node.network.frames import FrameAssembler, Goodbye, GoodbyeReason, decode_frame
from node.network.noise import NoiseIdentity, SecureChannel, secure_outbound

__all__ = ["RawPeer", "TamperingStream"]


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
        return await cls.dial(service.listen_port, service.local_peer_id, key, local_address=local_address)

    @classmethod
    async def dial(cls, port: int, peer_id: PeerId, key: NodeKey | None = None, *,
                   local_address: str | None = None) -> RawPeer:
        """Connect to the node ``peer_id`` listening on loopback ``port`` (in this process or another)."""
        key = key or NodeKey.generate()
        with trio.fail_after(5):
            stream = TamperingStream(await trio.open_tcp_stream("127.0.0.1", port, local_address=local_address))
            channel = await secure_outbound(stream, NoiseIdentity(key), expected_peer_id=peer_id)
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
