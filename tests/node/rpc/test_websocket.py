"""JSON-RPC over WebSocket against a real server, with ``websocket-client`` (and a raw trio client that never
reads, for the slow-consumer case)."""

from __future__ import annotations

import json
import logging
import socket
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import trio
import websocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from node.rpc import SubscriptionClosed
from tests.node.rpc.conftest import CLIENT_TIMEOUT, call, in_thread, wait_until


def connect(port: int, **options: Any) -> websocket.WebSocket:
    return websocket.create_connection(f"ws://127.0.0.1:{port}", timeout=CLIENT_TIMEOUT, **options)


def ask(ws: websocket.WebSocket, request: Any) -> Any:
    """Send one request, return the next message (tests use it only where nothing else is in flight)."""
    ws.send(json.dumps(request))
    return json.loads(ws.recv())


def receive(ws: websocket.WebSocket, count: int) -> list[Any]:
    return [json.loads(ws.recv()) for _ in range(count)]


def chain_on_a_new_connection(port: int) -> Any:
    """``system_chain``'s result for a fresh client."""
    ws = connect(port)
    try:
        return ask(ws, call("system_chain"))["result"]
    finally:
        ws.close()


async def test_subscription_delivers_notifications_then_unsubscribes(start_server, probe):
    server = await start_server()

    def client() -> tuple[list[Any], Any, Any]:
        ws = connect(server.port)
        try:
            ws.send(json.dumps(call("test_subscribeTicks", [3, 0.01], id=1)))
            messages = receive(ws, 5)
            sub_id = messages[0]["result"]
            first = ask(ws, call("test_unsubscribeTick", [sub_id], id=2))  # an alias of the unsubscribe method
            second = ask(ws, call("test_unsubscribeTicks", [sub_id], id=3))
            return messages, first, second
        finally:
            ws.close()

    messages, first, second = await in_thread(client)
    response, *notifications = messages
    assert response["id"] == 1 and isinstance(response["result"], str) and len(response["result"]) == 16
    assert notifications == [
        {"jsonrpc": "2.0", "method": "test_tick", "params": {"subscription": response["result"], "result": n}}
        for n in range(4)  # 0 was sent by the handler before it returned: it still comes after the id
    ]
    assert first == {"jsonrpc": "2.0", "result": True, "id": 2}
    assert second == {"jsonrpc": "2.0", "result": False, "id": 3}
    with trio.fail_after(5):
        await probe.producer_end.wait()  # unsubscribe cancelled the producer
    assert server.statistics().subscriptions_open == 0


async def test_unsubscribe_answers_false_for_anything_not_its_own(start_server):
    server = await start_server()

    def client() -> list[Any]:
        ws, other = connect(server.port), connect(server.port)
        try:
            sub_id = ask(ws, call("test_subscribeTicks", [0], id=1))["result"]
            receive(ws, 1)  # the initial 0
            return [
                ask(ws, call("test_unsubscribeTicks", ["no-such-id"]))["result"],
                ask(ws, call("test_unsubscribeTicks", []))["result"],
                ask(ws, call("test_unsubscribeTicks", [12345]))["result"],
                ask(ws, call("test_unsubscribeFlood", [sub_id]))["result"],  # another method's unsubscribe
                ask(other, call("test_unsubscribeTicks", [sub_id]))["result"],  # another connection
                ask(ws, call("test_unsubscribeTicks", [sub_id]))["result"],
            ]
        finally:
            ws.close()
            other.close()

    assert await in_thread(client) == [False, False, False, False, False, True]


async def test_finished_subscriptions_free_their_slot_and_a_late_unsubscribe_still_answers_true(start_server):
    """A watched transaction's subscription has nothing more to send after its final status; left open until
    the client unsubscribed, such subscriptions used up the connection's slots when it never did."""
    server = await start_server(max_subscriptions_per_connection=2)

    def client() -> list[Any]:
        ws = connect(server.port)
        try:
            ids = []
            for request_id in (1, 2, 3):  # three in turn on a limit of two: each finishes after one tick
                ids.append(ask(ws, call("test_subscribeTicks", [1, 0.01, True], id=request_id))["result"])
                receive(ws, 2)
            late = ask(ws, call("test_unsubscribeTicks", [ids[-1]], id=4))["result"]
            again = ask(ws, call("test_unsubscribeTicks", [ids[-1]], id=5))["result"]
            return [ids, late, again]
        finally:
            ws.close()

    ids, late, again = await in_thread(client)
    assert all(isinstance(each, str) for each in ids) and [late, again] == [True, False]


async def test_subscription_limit_per_connection(start_server):
    server = await start_server(max_subscriptions_per_connection=2)

    def client() -> list[Any]:
        ws = connect(server.port)
        try:
            first = ask(ws, call("test_subscribeTicks", [0], id=1))["result"]
            receive(ws, 1)
            ask(ws, call("test_subscribeTicks", [0], id=2))
            receive(ws, 1)
            refused = ask(ws, call("test_subscribeTicks", [0], id=3))
            ask(ws, call("test_unsubscribeTicks", [first], id=4))
            again = ask(ws, call("test_subscribeTicks", [0], id=5))
            return [refused, again]
        finally:
            ws.close()

    refused, again = await in_thread(client)
    assert refused == {
        "jsonrpc": "2.0",
        "error": {
            "code": -32006,
            "message": "Too many subscriptions on the connection",
            "data": "Exceeded max limit of 2",
        },
        "id": 3,
    }
    assert isinstance(again["result"], str)


async def test_failed_subscribe_leaves_no_subscription(start_server, probe):
    server = await start_server()

    def client() -> Any:
        ws = connect(server.port)
        try:
            return ask(ws, call("test_subscribeFailing"))
        finally:
            ws.close()

    assert (await in_thread(client))["error"] == {"code": 1011, "message": "Unknown Transaction Validity"}
    assert probe.subscriptions[0].closed
    assert server.statistics().subscriptions_open == 0


async def test_closing_the_connection_closes_its_subscriptions(start_server, probe):
    server = await start_server()

    def client() -> None:
        ws = connect(server.port)
        ask(ws, call("test_subscribeTicks", [1, 0.01]))
        receive(ws, 2)
        ws.close()

    await in_thread(client)
    with trio.fail_after(5):
        await probe.producer_end.wait()
    await wait_until(lambda: server.statistics().websocket_connections == 0)
    assert probe.subscriptions[0].closed and server.statistics().subscriptions_open == 0
    with pytest.raises(SubscriptionClosed):  # how a broadcaster holding the subscription learns it
        await probe.subscriptions[0].send("late")


async def test_failing_producer_closes_only_its_subscription(start_server, probe, caplog):
    server = await start_server()

    def client() -> list[Any]:
        ws = connect(server.port)
        try:
            sub_id = ask(ws, call("test_subscribeBroken", id=1))["result"]
            first = json.loads(ws.recv())
            return [first["params"], ask(ws, call("test_unsubscribeBroken", [sub_id], id=2))["result"]]
        finally:
            ws.close()

    with caplog.at_level(logging.ERROR, logger="node.rpc.subscriptions"):
        params, unsubscribed = await in_thread(client)
    assert params["result"] == "first"
    assert unsubscribed is False  # the failure closed it already
    assert "producer bug" in caplog.text


async def test_subscription_in_a_batch(start_server):
    server = await start_server()

    def client() -> list[Any]:
        ws = connect(server.port)
        try:
            ws.send(json.dumps([call("system_chain", id=1), call("test_subscribeTicks", [1, 0.01], id=2)]))
            return receive(ws, 3)
        finally:
            ws.close()

    batch, initial, tick = await in_thread(client)
    sub_id = batch[1]["result"]
    assert batch[0]["result"] == "Cairn Test"
    assert initial["params"] == {"subscription": sub_id, "result": 0}
    assert tick["params"] == {"subscription": sub_id, "result": 1}


async def test_large_frames(start_server):
    server = await start_server()  # default limits: 15 MiB, like Substrate
    blob = "ab" * (1024 * 1024)  # 2 MiB, above real metadata

    def client() -> tuple[Any, Any]:
        ws = connect(server.port)
        try:
            return ask(ws, call("test_echo", [blob])), ask(ws, call("test_sized", [3_000_000], id=2))
        finally:
            ws.close()

    echoed, sized = await in_thread(client)
    assert echoed["result"] == [blob]
    assert len(sized["result"]) == 3_000_000


async def test_oversized_message_closes_with_1009(start_server):
    server = await start_server(max_request_size=64 * 1024)

    def client() -> tuple[int, Any]:
        ws = connect(server.port)
        ws.send(json.dumps(call("test_echo", ["x" * 70_000])))
        opcode, frame = ws.recv_data_frame(control_frame=True)
        ws.shutdown()  # the close handshake is done: just release the socket
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        (code,) = struct.unpack("!H", frame.data[:2])
        fresh = connect(server.port)
        try:
            return code, ask(fresh, call("system_chain"))
        finally:
            fresh.close()

    code, after = await in_thread(client)
    assert code == 1009
    assert after["result"] == "Cairn Test"


async def test_bad_json_and_pings_keep_the_connection(start_server):
    server = await start_server()

    def client() -> list[Any]:
        ws = connect(server.port)
        try:
            ws.send("{oops")
            parse_error = json.loads(ws.recv())
            ws.ping(b"are you there")
            opcode, frame = ws.recv_data_frame(control_frame=True)
            binary = ws.send_binary(json.dumps(call("system_chain", id=9)).encode()) and json.loads(ws.recv())
            return [parse_error, (opcode, frame.data), binary]
        finally:
            ws.close()

    parse_error, pong, binary = await in_thread(client)
    assert parse_error["error"]["code"] == -32700
    assert pong == (websocket.ABNF.OPCODE_PONG, b"are you there")
    assert binary == {"jsonrpc": "2.0", "result": "Cairn Test", "id": 9}


async def test_calls_run_concurrently_on_one_connection(start_server):
    server = await start_server()

    def client() -> list[Any]:
        ws = connect(server.port)
        try:
            ws.send(json.dumps(call("test_sleep", [0.3], id="slow")))
            ws.send(json.dumps(call("system_chain", id="fast")))
            return [message["id"] for message in receive(ws, 2)]
        finally:
            ws.close()

    assert await in_thread(client) == ["fast", "slow"]


@pytest.mark.parametrize("policy, allowed", [("auto", True), ("safe", False), ("unsafe", True)])
async def test_unsafe_methods_over_websocket_from_loopback(start_server, policy, allowed):
    server = await start_server(rpc_methods=policy)

    def client() -> Any:
        ws = connect(server.port)
        try:
            return ask(ws, call("author_rotateKeys"))
        finally:
            ws.close()

    response = await in_thread(client)
    assert ("result" in response) is allowed
    if not allowed:
        assert response["error"] == {"code": -32601, "message": "RPC call is unsafe to be called externally"}


async def test_websocket_origin_checked(start_server):
    server = await start_server(cors=("https://polkadot.js.org",))

    def client(origin: str) -> Any:
        ws = connect(server.port, origin=origin)
        try:
            return ask(ws, call("system_chain"))["result"]
        finally:
            ws.close()

    assert await in_thread(client, "https://polkadot.js.org") == "Cairn Test"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        await in_thread(client, "https://evil.example")
    assert refused.value.status_code == 403


async def test_many_concurrent_websocket_clients(start_server):
    server = await start_server()

    def one_client(n: int) -> list[Any]:
        ws = connect(server.port)
        try:
            ask(ws, call("test_subscribeTicks", [2, 0.01]))
            ticks = [m["params"]["result"] for m in receive(ws, 3)]
            return [ask(ws, call("test_echo", [n]))["result"], ticks]
        finally:
            ws.close()

    def all_clients() -> list[Any]:
        with ThreadPoolExecutor(max_workers=40) as pool:
            return list(pool.map(one_client, range(40)))

    assert await in_thread(all_clients) == [[[n], [0, 1, 2]] for n in range(40)]


async def open_unread_websocket(port: int) -> tuple[trio.SocketStream, WSConnection]:
    """A WebSocket client with a tiny receive buffer that will never read after the handshake."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    client = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(client.send(Request(host="127.0.0.1", target="/")))
    with trio.fail_after(5):
        while not any(isinstance(event, AcceptConnection) for event in client.events()):
            client.receive_data(await stream.receive_some(4096))
    return stream, client


async def test_slow_consumer_is_dropped_with_bounded_backlog(start_server, probe):
    server = await start_server(ws_buffer_bytes=512 * 1024, send_timeout=2)
    stream, client = await open_unread_websocket(server.port)
    await stream.send_all(client.send(TextMessage(json.dumps(call("test_subscribeFlood", [64 * 1024])))))
    with trio.fail_after(10):
        await probe.flood_closed.wait()  # the producer's send raised SubscriptionClosed
    assert server.statistics().slow_consumers_dropped == 1
    # what got queued is bounded by the backlog plus the kernel's socket buffers, not by how long we wait
    assert probe.flood_sent < 300
    await wait_until(lambda: server.statistics().websocket_connections == 0)
    assert server.statistics().subscriptions_open == 0
    await stream.aclose()
    assert await in_thread(chain_on_a_new_connection, server.port) == "Cairn Test"  # everyone else is served


async def test_client_that_never_reads_makes_the_node_hold_bounded_bytes(start_server):
    buffer, largest = 1024 * 1024, 256 * 1024
    server = await start_server(ws_buffer_bytes=buffer, max_response_size=largest, send_timeout=3)
    stream, client = await open_unread_websocket(server.port)
    padding = "p" * 16_000  # big requests, so the kernel's buffers cannot hide that the server stopped reading
    message = client.send(TextMessage(json.dumps([call("test_sized", [100_000, padding], id=i) for i in range(2)])))
    peak, sent = 0, 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, server.statistics().websocket_buffered_bytes)
            await trio.sleep(0.005)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        with trio.move_on_after(3):  # the server stops reading: the sends block
            while sent < 2000:
                await stream.send_all(message)
                sent += 1
        await wait_until(lambda: server.statistics().slow_consumers_dropped == 1, deadline=15)
        nursery.cancel_scope.cancel()
    assert sent < 2000  # 64 MB that it never read
    # the budget, overshot by at most the oldest message's answer and one more
    assert 0 < peak <= buffer + 2 * largest + 64 * 1024
    await stream.aclose()
    assert await in_thread(chain_on_a_new_connection, server.port) == "Cairn Test"


async def test_a_reader_keeps_hundreds_of_subscriptions(start_server):
    server = await start_server()

    def client() -> tuple[list[Any], Any]:
        ws = connect(server.port)
        try:
            for i in range(300):  # sent at once, without waiting for the answers
                ws.send(json.dumps(call("test_subscribeTicks", [2, 0.05], id=i)))
            messages = receive(ws, 300 * 4)  # per subscription: its id, the initial 0, ticks 1 and 2
            return messages, ask(ws, call("system_chain", id="after"))
        finally:
            ws.close()

    messages, after = await in_thread(client, deadline=60)
    ids = {m["result"] for m in messages if "id" in m}
    assert len(ids) == 300
    ticks = sorted(m["params"]["result"] for m in messages if "method" in m and m["params"]["subscription"] in ids)
    assert ticks == [0] * 300 + [1] * 300 + [2] * 300
    assert after["result"] == "Cairn Test"
    assert server.statistics().slow_consumers_dropped == 0
