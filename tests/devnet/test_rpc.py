"""``devnet.rpc.rpc_call``, the blocking call behind ``cairn devnet status`` and the soak's finality watch: whatever
answers, it raises only ``OSError`` (no answer) or ``RuntimeError`` (no JSON-RPC answer), the two its callers
handle. A reply cut short raised ``http.client.IncompleteRead``, which ended ``status``, a foreground ``up``
(leaving its devnet running) and a soak."""

from __future__ import annotations

import socket
import threading

import pytest

from devnet.rpc import rpc_call


def _serve_once(reply: bytes) -> str:
    """A loopback server that reads one request and answers ``reply``, then closes; its URL."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(reply)

    threading.Thread(target=answer, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("reply, error", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"", OSError),  # cut short
    (b"SSH-2.0-OpenSSH_9.6\r\n", OSError),  # not HTTP
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nnope!", RuntimeError),  # not JSON
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]", RuntimeError),  # not JSON-RPC
    (b'HTTP/1.1 200 OK\r\nContent-Length: 57\r\n\r\n{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":""}}',
     RuntimeError),  # the node's error
])
def test_whatever_answers_is_an_os_or_runtime_error(reply, error):
    with pytest.raises(error):
        rpc_call(_serve_once(reply), "system_health", timeout=5)


def test_a_json_rpc_result_is_returned():
    body = b'{"jsonrpc":"2.0","id":1,"result":{"peers":2}}'
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    assert rpc_call(_serve_once(reply), "system_health", timeout=5) == {"peers": 2}
