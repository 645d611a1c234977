"""A node's replies cross a trust boundary: whatever a server on the other end sends, the client ends with a
typed error naming the cause, never a crash of its reader or a hang. The servers here are hostile on
purpose (a real node never behaves so), each a few lines of trio and wsproto on a loopback port."""

from __future__ import annotations

import functools
import json
from typing import Awaitable, Callable

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from sdk.chain import AsyncClient, ConnectionFailed, InvalidResponse, ReconnectPolicy
from sdk.chain.rpc import Endpoint
from sdk.chain.transport import Transport

GIVE_UP_FAST = ReconnectPolicy(initial_delay=0.1, max_delay=0.2, give_up_after=0.5, attempt_timeout=1.0)

Reply = Callable[[trio.SocketStream, WSConnection], Awaitable[None]]


async def _serve(nursery: trio.Nursery, upgrade: bool, reply: Reply) -> int:
    """Listen on a loopback port; each connection is upgraded (if ``upgrade``) and then handed to ``reply``."""

    async def handle(stream: trio.SocketStream) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        if upgrade:
            while not any(isinstance(e, Request) for e in _events(ws, await stream.receive_some(65536))):
                pass
            await stream.send_all(ws.send(AcceptConnection()))
        await reply(stream, ws)

    listeners = await nursery.start(functools.partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
    return listeners[0].socket.getsockname()[1]


def _events(ws: WSConnection, data: bytes) -> list:
    ws.receive_data(data)
    return list(ws.events())


async def _after_first_request(stream: trio.SocketStream, ws: WSConnection, text: str) -> None:
    while not any(isinstance(e, TextMessage) for e in _events(ws, await stream.receive_some(65536))):
        pass
    await stream.send_all(ws.send(TextMessage(data=text)))
    await trio.sleep_forever()


async def _connect(port: int, **options) -> None:
    async with AsyncClient(f"ws://127.0.0.1:{port}", reconnect=GIVE_UP_FAST, **options):
        pass


@pytest.mark.parametrize("text, error, cause", [
    ("{not json", ConnectionFailed, "not JSON"),  # the connection is dropped; reconnecting gives up
    ("[1, 2]", ConnectionFailed, "not a JSON object"),
    ('{"jsonrpc": "2.0", "id": 1, "result": {"specName": 7}}', InvalidResponse, "runtime version: malformed"),
])
async def test_a_malformed_reply_is_a_typed_error(nursery, text, error, cause):
    port = await _serve(nursery, True, lambda stream, ws: _after_first_request(stream, ws, text))
    with trio.fail_after(30), pytest.raises(error, match=cause):
        await _connect(port)


async def test_an_oversized_message_drops_the_connection(nursery):
    port = await _serve(nursery, True, lambda stream, ws: _after_first_request(stream, ws, "x" * 5000))
    with trio.fail_after(30), pytest.raises(ConnectionFailed, match="exceeded 1024 bytes"):
        await _connect(port, max_message_size=1024)


async def test_answers_under_ids_never_asked_for_are_ignored_until_the_deadline(nursery):
    text = '{"jsonrpc": "2.0", "id": [1], "result": 1}'  # an unhashable id must not crash the reader
    port = await _serve(nursery, True, lambda stream, ws: _after_first_request(stream, ws, text))
    with trio.fail_after(30), pytest.raises(ConnectionFailed, match="within 1 s"):
        await _connect(port)


@pytest.mark.parametrize("answer, cause", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "upgrade refused 200"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not a WebSocket server"),
])
async def test_a_server_that_is_not_a_websocket_endpoint(nursery, answer, cause):
    async def other_protocol(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.receive_some(65536)
        await stream.send_all(answer)
        await trio.sleep_forever()

    port = await _serve(nursery, False, other_protocol)
    with trio.fail_after(30), pytest.raises(ConnectionFailed, match=cause):
        await _connect(port)


async def test_a_server_that_never_answers_the_handshake(nursery):
    port = await _serve(nursery, False, lambda stream, ws: trio.sleep_forever())
    with trio.fail_after(30), pytest.raises(ConnectionFailed, match="within 1 s"):
        await _connect(port)


async def test_a_call_made_as_the_node_closes_gracefully_goes_to_a_new_connection(nursery):
    """A node shutting down answers and sends its close frame in one write: the next call, made while the
    client's reply to the close is on its way, is retried on a new connection, not failed with a protocol error."""
    closed: list[bool] = []

    async def answer_then_close(stream: trio.SocketStream, ws: WSConnection) -> None:
        while True:
            for event in _events(ws, await stream.receive_some(65536)):
                if isinstance(event, TextMessage):
                    request = json.loads(event.data)
                    out = ws.send(TextMessage(data=json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": 1})))
                    if not closed:
                        closed.append(True)
                        out += ws.send(CloseConnection(1001, "going away"))
                    await stream.send_all(out)
                elif isinstance(event, CloseConnection):
                    return

    port = await _serve(nursery, True, answer_then_close)
    transport = Transport([Endpoint.parse(f"ws://127.0.0.1:{port}")], timeout=5, policy=GIVE_UP_FAST,
                          max_message_size=1 << 20, on_connect=_nothing)
    with trio.fail_after(30):
        async with transport:
            assert await transport.request("system_name", []) == 1
            assert await transport.request("system_health", []) == 1


async def _nothing(connection) -> None:
    pass
