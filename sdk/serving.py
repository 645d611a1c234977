"""What Cairn's daemons share to serve HTTP: the plumbing under their raw ASGI apps, and hypercorn's trio worker.

The daemons (storage node, DA node, provider, dashboard) each answer a few routes with a raw ASGI app (no
framework: their bodies are bounded, and the storage node's streamed to disk, by hand). What does not depend on
their routes lives here, in the SDK package because every daemon may import it without one layer depending on
the other: the :class:`HttpApp` base that answers the lifespan protocol and hands on HTTP requests, a
request's headers, its declared length and its body read within a limit, plain and JSON error replies
(``{"error": <code>, "message": <text>}``), :func:`serve`, which runs an app with hypercorn's trio worker and
reports the port it bound (port 0 allowed; a port it cannot bind is a :class:`ListenError`), and
:func:`write_endpoints`, which tells the devnet launcher and
the tests that port. :func:`run_daemon` is the life of every daemon's command (``cairn storage-node``,
``da-node``, ``provider``): start, report the port, run until SIGINT or SIGTERM, stop cleanly.

Each daemon keeps its own error codes (they are its wire format): a body this module will not take raises a
:class:`BodyError`, which the daemon turns into its own refusal.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import socket
import sys
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import click
import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio import tcp_server as hypercorn_tcp_server
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from sdk.chain import ChainClientError

__all__ = ["Scope", "Message", "Receive", "Send", "AsgiApp", "HttpApp", "BodyError", "BodyTooLarge", "ClientGone",
           "MalformedLength", "ListenError", "lifespan", "request_headers", "declared_length", "body_chunks",
           "read_body", "respond", "respond_error", "serve", "ENDPOINTS_FILE", "write_endpoints", "DaemonRun",
           "run_daemon", "daemon_logging", "chain_rpc_option", "public_url_option"]

Scope = Mapping[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ENDPOINTS_FILE = "endpoints.json"
"""Where a daemon, once ready, reports in its base path the ports it bound: ``{"pid": ..., "ports": {name:
port}}``, the convention ``cairn node`` follows too and the devnet launcher and tests read."""
MAX_LENGTH_DIGITS = 20
"""A ``Content-Length`` longer than this is no length any daemon takes (and is refused before ``int``)."""


class BodyError(Exception):
    """A request body the server will not take; the daemon answers it with its own error code."""


class MalformedLength(BodyError):
    """``Content-Length`` is not a number."""


class BodyTooLarge(BodyError):
    """The body is (declared, or grew while streaming) past the limit of its route."""


class ClientGone(BodyError):
    """The client disconnected before its body was complete."""


class ListenError(OSError):
    """The address a daemon was told to serve on cannot be bound (the port taken, the host not this machine's)."""


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer ASGI's lifespan protocol: the daemons have nothing to start or stop with the server."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class HttpApp:
    """The base of the daemons' ASGI apps: it answers the server's lifespan messages, ignores other non-HTTP
    scopes, and hands each HTTP request to :meth:`handle`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        elif scope["type"] == "http":
            await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request."""
        raise NotImplementedError


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers, names lowercased; a repeated header keeps its last value."""
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


def declared_length(headers: Mapping[str, str], limit: int | None = None) -> int | None:
    """The ``Content-Length`` (None without one), checked before a byte of the body is read.

    Raises :class:`MalformedLength` for a value that is not a number, :class:`BodyTooLarge` for one past
    ``limit`` (when given).
    """
    value = headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit() or len(value) > MAX_LENGTH_DIGITS:
        raise MalformedLength(f"Content-Length {value[:40]!r} is not a number")
    declared = int(value)
    if limit is not None and declared > limit:
        raise BodyTooLarge(f"a body of {declared} bytes; this path takes at most {limit}")
    return declared


async def body_chunks(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, never more than ``limit`` bytes in all.

    Raises :class:`BodyTooLarge` as soon as the body passes ``limit`` and :class:`ClientGone` if the client
    disconnects before the end; the caller counts what it received if it needs an exact length.
    """
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone("the client went away before its body was complete")
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(f"the body passed {limit} bytes, the most this path takes")
        yield chunk
        if not message.get("more_body", False):
            return


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, held in memory: at most ``limit`` bytes (see :func:`body_chunks`)."""
    return b"".join([chunk async for chunk in body_chunks(receive, limit)])


async def respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    """A whole response with its length."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def respond_error(send: Send, status: int, code: str, message: str) -> None:
    """A refusal as the daemons answer them all: JSON ``{"error": code, "message": message}``."""
    await respond(send, status, json.dumps({"error": code, "message": message}).encode(), "application/json")


RECEIVE_SIZE = 1 << 20
"""Most bytes the server reads from a connection at once. hypercorn reads 64 KiB (``MAX_RECV`` of its trio
worker, a module constant it reads on every call, which :func:`serve` sets), and every read makes a trip through
h11, hypercorn's protocol and the app's queue that costs more than the bytes: with 1 MiB reads one storage node
ingested 248-343 MB/s of fragments against 191-258 MB/s (``benchmarks/storage_node_ingest.py``, 2026-12-04)."""
APP_QUEUE_SIZE = 4
"""Messages (each at most :data:`RECEIVE_SIZE`) a connection's body may have waiting for the app (hypercorn's
default, 10, with 1 MiB reads would let each connection park 10 MiB): with the read in hand, ≤ 5 MiB."""


def _has_body(scope: Scope) -> bool:
    """Whether the request declares a body (a non-zero ``Content-Length`` or any ``Transfer-Encoding``)."""
    headers = request_headers(scope)
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


async def _discard_body(receive: Receive) -> None:
    """Take the body's messages from hypercorn's queue until its end (or the client's leaving) and drop them."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


def _closing_unread_bodies(app: AsgiApp) -> AsgiApp:
    """``app``, answering a request whose body it refused unread with ``Connection: close`` and then closing.

    Refusing a body before reading it (too large, unknown path) is the point of a bounded route, but hypercorn
    (0.18) cannot close such a connection by itself: its reader keeps putting the body's pieces into the app's
    queue and, once the app is done and the queue full (:data:`APP_QUEUE_SIZE`), waits on it for ever, while
    the reply's end waits for a place in the same queue to post ``http.disconnect``. The refusal has gone out
    but the connection is never closed, a client that kept it alive sends its next request into it and gets
    no answer, and the server holds the socket for good. So, for a request whose body the app has not read to
    its end: the reply says ``Connection: close`` (no client reuses the connection), and while the reply's end
    is sent the rest of the queue is drained (at most :data:`APP_QUEUE_SIZE` more pieces are read, not the
    body), which lets hypercorn close the connection.
    """
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        body_read = not _has_body(scope)

        async def receive_tracked() -> Message:
            nonlocal body_read
            message = await receive()
            body_read = message["type"] == "http.disconnect" or not message.get("more_body", False)
            return message

        async def send_guarded(message: Message) -> None:
            if body_read:
                return await send(message)
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            if message["type"] != "http.response.body" or message.get("more_body", False):
                return await send(message)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_discard_body, receive)
                await send(message)
                nursery.cancel_scope.cancel()

        await app(scope, receive_tracked, send_guarded)

    return guarded


async def serve(app: AsgiApp, host: str, port: int, *, read_timeout: int | None = None,
                errorlog: logging.Logger | str = "-",
                task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` on ``host:port`` with hypercorn's trio worker until cancelled; ``task_status.started``
    gets the bound port. ``read_timeout``: seconds a connection may stay silent (None: no limit);
    ``errorlog``: where hypercorn logs its errors (``"-"``: stderr). The socket is bound here and handed to the
    worker (what ``hypercorn.trio.serve`` does, with sockets of its own making), so that a port that cannot be
    bound is one :class:`ListenError` rather than an error deep in hypercorn's nurseries, and the socket is
    closed however the serving ends, even before hypercorn took it."""
    config = Config()
    config.accesslog = None
    config.errorlog = errorlog
    config.read_timeout = read_timeout
    config.keep_alive_timeout = 30  # over the storage client's 25 s (sdk.storage.nodes.KEEPALIVE_S)
    config.graceful_timeout = 1
    config.max_app_queue_size = APP_QUEUE_SIZE
    hypercorn_tcp_server.MAX_RECV = RECEIVE_SIZE
    wrapped = wrap_app(_closing_unread_bodies(app), config.wsgi_max_body_size, None)
    with _listening_socket(host, port, config.backlog) as sock:
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(functools.partial(worker_serve, wrapped, config,
                                                          sockets=Sockets([], [sock], [])))
            task_status.started(int(binds[0].rsplit(":", 1)[1]))


STALLED_PEER_TIMEOUT_S = 60.0
"""Seconds a peer may leave what the server sent unread (its receive window shut) before the kernel drops the
connection. hypercorn's writes cannot be cut short otherwise (they run shielded from cancellation): a client
that never read a response held its connection, and whatever the handler held, for as long as it stayed."""


def _listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A non-blocking TCP socket listening on ``host:port``, set up as hypercorn sets up one it binds itself;
    :class:`ListenError` if it cannot be made."""
    host = host.strip("[]")
    sock = None
    try:  # socket() itself fails on a machine without IPv6
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):  # (Linux) inherited by every connection accepted
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(STALLED_PEER_TIMEOUT_S * 1000))
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        if sock is not None:
            sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def write_endpoints(base_path: Path, ports: Mapping[str, int]) -> Path:
    """Write :data:`ENDPOINTS_FILE` under a temporary name, then rename it (a reader never sees half of it)."""
    path = base_path / ENDPOINTS_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"pid": os.getpid(), "ports": dict(ports)}) + "\n")
    partial.replace(path)
    return path


DaemonRun = Callable[..., Awaitable[None]]
"""A daemon's ``run(task_status=...)``: it reports its HTTP port through ``task_status.started(port)``."""

_daemon_log = logging.getLogger("cairn.daemon")


chain_rpc_option = click.option(
    "--chain-rpc", "chain_rpc", multiple=True, default=("ws://127.0.0.1:9944",), show_default=True,
    metavar="URL", help="A node's JSON-RPC WebSocket to follow the chain through; repeat it to name other nodes of "
                        "the chain, which the daemon moves to when the one it uses is down.")
"""The ``--chain-rpc`` option of every daemon: one or more node URLs, a tuple that ``run_daemon`` and
``AsyncClient`` take as it is."""


def _public_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An ``http(s)://host[:port][/prefix]`` URL, without its trailing slash (clients append ``/v1/...``)."""
    if value is None:
        return None
    parts = urllib.parse.urlsplit(value)
    try:
        parts.port  # a port out of range raises
    except ValueError:
        parts = parts._replace(scheme="")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment or (
            parts.username is not None):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL of this daemon's host (and port) "
                                 "as clients reach it, e.g. http://203.0.113.7:8080")
    return value.rstrip("/")


public_url_option = click.option(
    "--public-url", default=None, metavar="URL", callback=_public_url,
    help="Endpoint registered on chain, as clients reach the HTTP API [default: http://HOST:PORT].")
"""The ``--public-url`` option of the daemons that register an HTTP endpoint: checked before anything
starts, since the chain takes any bytes and every client would fail at a mistyped one."""


def _sole_exception(exc: BaseException) -> BaseException:
    """The one error that trio's nurseries wrapped in groups of one, each around the next; ``exc`` itself if it is
    no such group (several errors at once are shown as they are)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def daemon_logging(level: str) -> None:
    """Log lines with time, level and logger on standard error, as every daemon writes them."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)-5s %(name)s  %(message)s")


def run_daemon(base_path: Path, chain_rpc: Sequence[str],
               open_daemon: Callable[[], AbstractAsyncContextManager[DaemonRun]], *,
               refusals: tuple[type[Exception], ...] = ()) -> None:
    """Run a daemon until SIGINT or SIGTERM. ``open_daemon()`` opens what the daemon needs (its client of the
    chain at the ``chain_rpc`` nodes, stores, pools) and yields its ``run``; once ``run`` reports its port,
    :data:`ENDPOINTS_FILE` is written (and removed however the run ends, so a dead run's port is never read as
    a live one). A base path that cannot be made, the chain unreachable, the HTTP port taken, or an exception
    of ``refusals`` (registration refused) is a one-line error, exit 1."""
    try:
        base_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot use {base_path} as the base path: {exc.strerror or exc}") from None
    endpoints = base_path / ENDPOINTS_FILE
    endpoints.unlink(missing_ok=True)

    async def main() -> str:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with open_daemon() as run, trio.open_nursery() as nursery:
                port = await nursery.start(run)
                write_endpoints(base_path, {"http": port})
                _daemon_log.info("ready: http port %d (written to %s)", port, endpoints)
                signum = await anext(signals)
                _daemon_log.info("stopping (%s)", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
        return signal.Signals(signum).name

    try:
        stopped_by = trio.run(main)
    except Exception as exc:
        cause = _sole_exception(exc)
        if isinstance(cause, click.ClickException):  # an option's value, read once connected (an amount)
            raise cause from None
        if isinstance(cause, ChainClientError):
            raise click.ClickException(f"the chain at {', '.join(chain_rpc)}: {cause}") from None
        if isinstance(cause, (ListenError, *refusals)):
            raise click.ClickException(str(cause)) from None
        raise
    finally:
        endpoints.unlink(missing_ok=True)
    _daemon_log.info("stopped (%s)", stopped_by)
