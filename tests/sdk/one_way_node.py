"""A node that answers every HTTP request one way: a raw TCP server on loopback, for tests of what a client
does with a hostile peer's answer (one that never ends, one too large, one that is no JSON)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import trio

__all__ = ["Answer", "serve_one_way", "answering", "flooding", "trickling"]

Answer = Callable[[trio.SocketStream], Awaitable[None]]


async def serve_one_way(nursery: trio.Nursery, answer: Answer) -> str:
    """Serve in ``nursery``; returns the node's URL. Each connection's first request is read, then answered."""
    async def handle(stream: trio.SocketStream) -> None:
        async with stream:
            await _read_request(stream)
            try:
                await answer(stream)
            except trio.BrokenResourceError:  # the client stopped reading and closed: what it should do
                pass
    listeners = await nursery.start(functools.partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
    return f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"


async def _read_request(stream: trio.SocketStream) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some()
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = await stream.receive_some()
        if not chunk:
            return
        body += chunk


def answering(status: int, body: bytes) -> Answer:
    async def answer(stream: trio.SocketStream) -> None:
        await stream.send_all(b"HTTP/1.1 %d X\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (status, len(body))
                              + body)
    return answer


def flooding(status: int, size: int) -> Answer:
    """An answer of ``size`` bytes, sent a mebibyte at a time (never held whole here)."""
    async def answer(stream: trio.SocketStream) -> None:
        await stream.send_all(b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n\r\n" % (status, size))
        chunk = bytes(1 << 20)
        for offset in range(0, size, len(chunk)):
            await stream.send_all(chunk[:size - offset])
    return answer


async def trickling(stream: trio.SocketStream) -> None:
    """Headers at once, then one byte of a long body every 0.2 s: each read is quick, the whole never ends."""
    await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
    while True:
        await trio.sleep(0.2)
        await stream.send_all(b"x")
