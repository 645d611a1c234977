"""JSON-RPC over HTTP against a real server, with ``requests`` (and raw sockets for broken HTTP)."""

from __future__ import annotations

import functools
import json
import logging
import socket
from concurrent.futures import ThreadPoolExecutor

import requests
import trio

from node.rpc import HttpLimits, HttpRequest, HttpResponse, serve_http
from tests.node.rpc.conftest import CLIENT_TIMEOUT, call, in_thread, wait_until

JSON_HEADERS = {"content-type": "application/json"}


def post(port: int, body: object, *, session: requests.Session | None = None, **kwargs) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    kwargs.setdefault("headers", JSON_HEADERS)
    return (session or requests).post(f"http://127.0.0.1:{port}/", data=data, timeout=CLIENT_TIMEOUT, **kwargs)


def post_from(port: int, origin: str) -> requests.Response:
    """``system_chain`` as a browser page at ``origin`` would send it."""
    return post(port, call("system_chain"), headers={**JSON_HEADERS, "origin": origin})


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection, return everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_single_call_and_keep_alive(start_server):
    server = await start_server()

    def client() -> list[object]:
        with requests.Session() as session:
            return [post(server.port, call("system_chain", id=i), session=session).json() for i in range(20)]

    responses = await in_thread(client)
    assert [r["id"] for r in responses] == list(range(20))
    assert all(r["result"] == "Cairn Test" for r in responses)
    assert server.statistics().connections_accepted == 1  # one keep-alive connection carried all 20


async def test_batch_and_notification_over_http(start_server):
    server = await start_server()
    batch = [call("system_chain", id=1), {"jsonrpc": "2.0", "method": "test_echo"}, call("nope", id=2)]
    response = await in_thread(post, server.port, batch)
    assert response.status_code == 200
    assert [r["id"] for r in response.json()] == [1, 2]
    notification = await in_thread(post, server.port, {"jsonrpc": "2.0", "method": "system_chain"})
    assert notification.status_code == 200 and notification.content == b""


async def test_error_responses_keep_http_200(start_server):
    server = await start_server()
    parse = await in_thread(post, server.port, b"{not json")
    assert parse.status_code == 200 and parse.json()["error"]["code"] == -32700
    bug = await in_thread(post, server.port, call("test_buggy"))
    assert bug.json()["error"] == {"code": -32603, "message": "Internal error"}
    subscribe = await in_thread(post, server.port, call("test_subscribeTicks"))
    assert subscribe.json()["error"]["code"] == -32603


async def test_oversized_body_is_413_and_server_stays_up(start_server):
    server = await start_server(max_request_size=64 * 1024)
    big = json.dumps(call("test_echo", ["x" * 70_000]))
    response = await in_thread(post, server.port, big)
    assert response.status_code == 413
    assert response.json() == {
        "jsonrpc": "2.0",
        "error": {"code": -32007, "message": "Request is too big", "data": "Exceeded max limit of 65536"},
        "id": None,
    }

    def chunked() -> requests.Response:  # no Content-Length: refused while reading
        chunks = iter([big[i : i + 8192].encode() for i in range(0, len(big), 8192)])
        url = f"http://127.0.0.1:{server.port}/"
        return requests.post(url, data=chunks, headers=JSON_HEADERS, timeout=CLIENT_TIMEOUT)

    assert (await in_thread(chunked)).status_code == 413
    just_fits = json.dumps(call("test_echo", ["x" * 60_000]))
    assert len((await in_thread(post, server.port, just_fits)).json()["result"][0]) == 60_000


async def test_content_type_and_methods(start_server):
    server = await start_server()
    wrong_type = await in_thread(post, server.port, call("system_chain"), headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    charset = await in_thread(
        post, server.port, call("system_chain"), headers={"content-type": "application/json; charset=utf-8"}
    )
    assert charset.json()["result"] == "Cairn Test"
    get = await in_thread(requests.get, f"http://127.0.0.1:{server.port}/", timeout=CLIENT_TIMEOUT)
    assert get.status_code == 405 and "POST" in get.headers["allow"]
    put = await in_thread(requests.put, f"http://127.0.0.1:{server.port}/", timeout=CLIENT_TIMEOUT)
    assert put.status_code == 405


async def test_malformed_http_gets_400_and_server_stays_up(start_server):
    server = await start_server()
    answer = await in_thread(raw_exchange, server.port, b"THIS IS NOT HTTP\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    answer = await in_thread(raw_exchange, server.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    huge_header = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    assert (await in_thread(raw_exchange, server.port, huge_header)).startswith(b"HTTP/1.1 431")
    assert (await in_thread(post, server.port, call("system_chain"))).json()["result"] == "Cairn Test"


async def test_slow_request_times_out(start_server):
    server = await start_server(read_timeout=0.3)
    partial = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    with trio.fail_after(3):
        assert await in_thread(raw_exchange, server.port, partial) == b""  # closed, nothing answered
    await wait_until(lambda: server.statistics().connections_open == 0)


async def test_health_routes(start_server):
    health = {"peers": 0, "isSyncing": False, "shouldHavePeers": True}

    async def node_health():
        return health

    async def metrics(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, b"cairn_up 1\n", "text/plain; version=0.0.4")

    server = await start_server(health=node_health, routes={"/metrics": metrics})
    base = f"http://127.0.0.1:{server.port}"
    response = await in_thread(requests.get, f"{base}/health", timeout=CLIENT_TIMEOUT)
    assert response.status_code == 200 and response.json() == health
    readiness = await in_thread(requests.get, f"{base}/health/readiness", timeout=CLIENT_TIMEOUT)
    assert readiness.status_code == 500  # expected peers, has none
    health["peers"] = 3
    readiness = await in_thread(requests.get, f"{base}/health/readiness", timeout=CLIENT_TIMEOUT)
    assert readiness.status_code == 200
    extra = await in_thread(requests.get, f"{base}/metrics", timeout=CLIENT_TIMEOUT)
    assert extra.text == "cairn_up 1\n"


async def test_health_without_callback_is_plain_200(start_server):
    server = await start_server()
    response = await in_thread(requests.get, f"http://127.0.0.1:{server.port}/health", timeout=CLIENT_TIMEOUT)
    assert response.status_code == 200 and response.content == b""


async def test_cors(start_server):
    server = await start_server(cors=("http://localhost:*", "https://polkadot.js.org"))
    good = await in_thread(post_from, server.port, "http://localhost:3000")
    assert good.headers["access-control-allow-origin"] == "http://localhost:3000"
    app = await in_thread(post_from, server.port, "https://polkadot.js.org")
    assert app.headers["access-control-allow-origin"] == "https://polkadot.js.org"
    bad = await in_thread(post_from, server.port, "https://evil.example")
    assert bad.status_code == 403
    no_origin = await in_thread(post, server.port, call("system_chain"))
    assert no_origin.status_code == 200 and "access-control-allow-origin" not in no_origin.headers

    def preflight() -> requests.Response:
        return requests.options(
            f"http://127.0.0.1:{server.port}/",
            headers={
                "origin": "http://localhost:3000",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
            timeout=CLIENT_TIMEOUT,
        )

    response = await in_thread(preflight)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_cors_all_by_default(start_server):
    server = await start_server()
    response = await in_thread(post_from, server.port, "https://x.example")
    assert response.headers["access-control-allow-origin"] == "*"


async def test_many_concurrent_connections(start_server):
    server = await start_server()

    def one_client(n: int) -> list[str]:
        with requests.Session() as session:
            return [post(server.port, call("test_echo", [n, i]), session=session).json()["result"] for i in range(5)]

    def all_clients() -> list[list[str]]:
        with ThreadPoolExecutor(max_workers=60) as pool:
            return list(pool.map(one_client, range(60)))

    results = await in_thread(all_clients)
    assert results == [[[n, i] for i in range(5)] for n in range(60)]
    assert server.statistics().connections_accepted == 60


async def open_established(port: int) -> trio.SocketStream:
    """A kept-alive connection that has completed one request (so it is not half-open)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    body = json.dumps(call("system_chain")).encode()
    head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    await stream.send_all(head.encode() + body)
    with trio.fail_after(5):
        assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 200")
    return stream


async def test_connection_limit_refuses_when_every_connection_has_talked(start_server):
    server = await start_server(max_connections=3)
    held = [await open_established(server.port) for _ in range(3)]
    refused = await in_thread(post, server.port, call("system_chain"))
    assert refused.status_code == 429
    assert server.statistics().connections_refused == 1 and server.statistics().connections_evicted == 0
    await held.pop().aclose()
    await wait_until(lambda: server.statistics().connections_open == 2)
    assert (await in_thread(post, server.port, call("system_chain"))).json()["result"] == "Cairn Test"
    for stream in held:
        await stream.aclose()


async def test_silent_connections_are_evicted_for_a_new_client(start_server, caplog):
    server = await start_server(max_connections=3)
    talker = await open_established(server.port)
    with caplog.at_level(logging.INFO, logger="node.rpc.refusals"):
        silent = [await trio.open_tcp_stream("127.0.0.1", server.port) for _ in range(5)]  # 2 fit, 3 evict
        await wait_until(lambda: server.statistics().connections_accepted == 6)
        served = await in_thread(post, server.port, call("system_chain"))
    assert served.json()["result"] == "Cairn Test"
    stats = server.statistics()
    assert stats.connections_refused == 0 and stats.connections_evicted == 4 and stats.connections_open <= 3
    assert caplog.text.count("evicted") == 1  # once per client, not per connection
    with trio.fail_after(5):
        for stream in silent[:4]:  # the oldest four were closed; the newest silent one still waits
            assert await stream.receive_some(1024) == b""
    talker_body = json.dumps(call("system_chain")).encode()
    head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(talker_body)}\r\n\r\n"
    await talker.send_all(head.encode() + talker_body)  # a connection that had talked was kept
    with trio.fail_after(5):
        assert (await talker.receive_some(65536)).startswith(b"HTTP/1.1 200")
    for stream in [talker, *silent]:
        await stream.aclose()


async def test_connection_without_a_complete_request_is_closed_at_the_handshake_timeout(start_server):
    server = await start_server(handshake_timeout=0.3)
    silent = await trio.open_tcp_stream("127.0.0.1", server.port)
    trickle = await trio.open_tcp_stream("127.0.0.1", server.port)
    await trickle.send_all(b"POST / HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
    with trio.fail_after(5):
        assert await silent.receive_some(1024) == b""
        assert await trickle.receive_some(1024) == b""
    await wait_until(lambda: server.statistics().handshake_timeouts == 2)
    kept = await open_established(server.port)  # one that talked keeps its connection past the deadline
    await trio.sleep(0.5)
    assert server.statistics().connections_open == 1
    for stream in (silent, trickle, kept):
        await stream.aclose()


async def test_a_first_request_whose_head_came_in_time_may_take_longer_for_its_body(start_server):
    """The handshake deadline covered the first request's body too: a large extrinsic posted on a new connection
    from a slow uplink was cut off unanswered."""
    server = await start_server(handshake_timeout=0.3)
    body = json.dumps(call("system_chain")).encode()
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    await stream.send_all(head.encode() + body[:5])
    await trio.sleep(0.6)  # past the handshake deadline, the body still coming
    await stream.send_all(body[5:])
    with trio.fail_after(5):
        assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 200")
    assert server.statistics().handshake_timeouts == 0
    await stream.aclose()


async def test_serve_http_for_metrics(nursery):
    async def metrics(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, b"cairn_blocks_total 7\n", "text/plain; version=0.0.4")

    async def broken(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("bug")

    async def stuck(request: HttpRequest) -> HttpResponse:
        await trio.sleep_forever()

    routes = {"/metrics": metrics, "/broken": broken, "/stuck": stuck}
    port = await nursery.start(functools.partial(serve_http, routes, limits=HttpLimits(handler_timeout=0.2)))
    base = f"http://127.0.0.1:{port}"
    response = await in_thread(requests.get, f"{base}/metrics?x=1", timeout=CLIENT_TIMEOUT)
    assert response.status_code == 200 and response.text == "cairn_blocks_total 7\n"
    assert response.headers["content-type"] == "text/plain; version=0.0.4"
    assert (await in_thread(requests.get, f"{base}/other", timeout=CLIENT_TIMEOUT)).status_code == 404
    assert (await in_thread(requests.post, f"{base}/metrics", timeout=CLIENT_TIMEOUT)).status_code == 405
    assert (await in_thread(requests.get, f"{base}/broken", timeout=CLIENT_TIMEOUT)).status_code == 500
    assert (await in_thread(requests.get, f"{base}/stuck", timeout=CLIENT_TIMEOUT)).status_code == 503
    assert (await in_thread(requests.get, f"{base}/metrics", timeout=CLIENT_TIMEOUT)).status_code == 200
