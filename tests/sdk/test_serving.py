"""The daemons' HTTP server: large bodies arrive whole and in order through its 1 MiB reads, hypercorn still
reads the constant :func:`sdk.serving.serve` sets (a hypercorn that stopped would quietly read 64 KiB again), a
body refused unread closes its connection instead of leaving it stuck, and a port that cannot be bound or a base
path that cannot be made ends a daemon's command with one line."""

from __future__ import annotations

import hashlib
import inspect
import os

import httpx
import pytest
import trio
from click.testing import CliRunner
from hypercorn.trio import tcp_server

from sdk.cli import main
from sdk.serving import ENDPOINTS_FILE, RECEIVE_SIZE, HttpApp, ListenError, body_chunks, respond, respond_error, serve
from tests.sdk.conftest import ws_url


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


async def test_a_port_that_cannot_be_bound_is_one_listen_error(nursery, listening):
    with pytest.raises(ListenError, match=f"^cannot listen on 127.0.0.1:{listening}: Address already in use$"):
        await nursery.start(serve, DigestApp(), "127.0.0.1", listening)
    port = await nursery.start(serve, DigestApp(), "127.0.0.1", 0)  # the next one binds as before
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"http://127.0.0.1:{port}/", content=b"x")).status_code == 200


async def test_a_server_cancelled_before_it_started_leaves_no_socket_open():
    def open_descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_descriptors()
    for _ in range(5):
        with trio.move_on_after(0):
            async with trio.open_nursery() as nursery:
                await nursery.start(serve, DigestApp(), "127.0.0.1", 0)
    assert open_descriptors() == before


DAEMONS = [("storage-node", "//Dave"), ("provider", "//Provider1"), ("da-node", "//Bob")]


@pytest.mark.parametrize("command, key", DAEMONS)
def test_a_daemon_whose_http_port_is_taken_stops_with_one_line(dev_node, listening, tmp_path, command, key):
    result = CliRunner().invoke(main, [command, "--chain-rpc", ws_url(dev_node), "--key", key, "--base-path",
                                       str(tmp_path), "--http-port", str(listening), "--log-level", "warning"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1] == f"Error: cannot listen on 127.0.0.1:{listening}: Address already in use"
    assert not (tmp_path / ENDPOINTS_FILE).exists()


@pytest.mark.parametrize("command, key", DAEMONS)
def test_a_daemon_whose_base_path_cannot_be_made_stops_with_one_line(tmp_path, command, key):
    (tmp_path / "file").write_bytes(b"")
    base = tmp_path / "file" / "data"  # under a file: no folder can be made there
    result = CliRunner().invoke(main, [command, "--chain-rpc", "ws://127.0.0.1:1", "--key", key, "--base-path",
                                       str(base), "--log-level", "warning"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1] == f"Error: cannot use {base} as the base path: Not a directory"


@pytest.mark.parametrize("command", ["storage-node", "provider"])
@pytest.mark.parametrize("url", ["127.0.0.1:8080", "not a url", "ftp://host", "http://:80", "http://user@host"])
def test_a_public_url_clients_could_not_use_is_a_usage_error_before_anything_starts(tmp_path, command, url):
    """The chain takes any bytes as an endpoint; every client would then fail at it."""
    result = CliRunner().invoke(main, [command, "--chain-rpc", "ws://127.0.0.1:1", "--key", "//Dave", "--base-path",
                                       str(tmp_path / "data"), "--public-url", url])
    assert result.exit_code == 2 and "is not an http:// or https:// URL" in result.output, result.output
    assert not (tmp_path / "data").exists()
