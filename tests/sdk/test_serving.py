"""The daemons' HTTP server: large bodies arrive whole and in order through its 1 MiB reads, and hypercorn still
reads the constant :func:`sdk.serving.serve` sets (a hypercorn that stopped would quietly read 64 KiB again)."""

from __future__ import annotations

import hashlib
import inspect
import os

import httpx
from hypercorn.trio import tcp_server

from sdk.serving import RECEIVE_SIZE, HttpApp, body_chunks, respond, serve


class DigestApp(HttpApp):
    """Answers each request with the SHA-256 of its body and the largest piece the server handed over."""

    async def handle(self, scope, receive, send) -> None:
        digest, largest = hashlib.sha256(), 0
        async for chunk in body_chunks(receive, 64 << 20):
            digest.update(chunk)
            largest = max(largest, len(chunk))
        await respond(send, 200, f"{digest.hexdigest()} {largest}".encode(), "text/plain")


async def test_a_large_body_arrives_whole_through_reads_of_at_most_the_receive_size(nursery):
    port = await nursery.start(serve, DigestApp(), "127.0.0.1", 0)
    assert tcp_server.MAX_RECV == RECEIVE_SIZE
    assert "MAX_RECV" in inspect.getsource(tcp_server.TCPServer._read_data)
    body = os.urandom(3 * RECEIVE_SIZE + 12_345)
    async with httpx.AsyncClient() as client:
        for _ in range(2):  # and again on the kept-alive connection
            answer = await client.put(f"http://127.0.0.1:{port}/anything", content=body)
            digest, largest = answer.text.split()
            assert answer.status_code == 200 and digest == hashlib.sha256(body).hexdigest()
            assert 0 < int(largest) <= RECEIVE_SIZE
