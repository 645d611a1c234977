"""The daemons' HTTP server: large bodies arrive whole and in order through its 1 MiB reads, hypercorn still
reads the constant :func:`sdk.serving.serve` sets (a hypercorn that stopped would quietly read 64 KiB again), and
a body refused unread closes its connection instead of leaving it stuck."""

from __future__ import annotations

import hashlib
import inspect
import os

import httpx
import pytest
import trio
from hypercorn.trio import tcp_server

from sdk.serving import RECEIVE_SIZE, HttpApp, body_chunks, respond, respond_error, serve


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


class RefusingApp(HttpApp):
    """Refuses every body unread, a little late (as a busy node would be): hypercorn has read ahead by then."""

    async def handle(self, scope, receive, send) -> None:
        if scope["method"] == "PUT":
            await trio.sleep(0.1)
            await respond_error(send, 413, "TooLarge", "no body taken here")
        else:
            await respond(send, 200, b"still here", "text/plain")


@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
async def test_a_body_refused_unread_closes_its_connection_and_the_next_request_is_answered(nursery, chunked):
    port = await nursery.start(serve, RefusingApp(), "127.0.0.1", 0)

    async def pieces():
        for _ in range(12):
            yield bytes(RECEIVE_SIZE // 4)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for _ in range(3):
            try:
                refused = await client.put("/x", content=pieces() if chunked else bytes(3 * RECEIVE_SIZE))
            except (httpx.RemoteProtocolError, httpx.WriteError):
                pass  # the reset of a connection closed with unread bytes may beat the answer to the client
            else:
                assert refused.status_code == 413 and refused.headers["connection"] == "close"
            answer = await client.get("/y")  # on a new connection: the refused one is not kept alive
            assert answer.status_code == 200 and answer.text == "still here"
            assert answer.headers.get("connection") != "close"  # a request without a body keeps its connection
