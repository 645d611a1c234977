"""``cairn node``: run a validator or full node. Flags and defaults follow Substrate's node.

    cairn node --dev                                   # one validator (//Alice), temporary base path
    cairn node --chain local --validator --key //Bob --base-path /tmp/bob --port 30334 --rpc-port 9945 \\
               --bootnodes /ip4/127.0.0.1/tcp/30333/p2p/<alice's peer id>

Every flag is checked before anything starts: a bad value or a port that is taken ends the command with one
line naming the flag (exit 2), and nothing is created on disk. Ports may be 0 (the system picks one); once the
node listens, the ports it got are logged and written to ``<base-path>/endpoints.json`` (written to a
temporary name and renamed, removed again on a clean stop)::

    {"pid": 4242, "peer_id": "12D3KooW...", "ports": {"p2p": 30333, "rpc": 9944, "prometheus": 9615}}

(``prometheus`` only with ``--prometheus-port``), which is how the devnet launcher and the integration
tests learn the ports without picking free ones first and racing for them. SIGINT (Ctrl-C) and SIGTERM
stop the node the same way: its tasks are cancelled, the database is closed, one "stopped" line is logged
and the command exits 0. The temporary base path of ``--dev`` is removed when the command ends.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import signal
import socket
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import click
import trio

from node import gc_policy
from node.chain_spec import PRESETS, ChainSpec, InvalidChainSpec, preset
from node.db.errors import CorruptDatabase, SchemaMismatch, WrongChain
from node.metrics import CONTENT_TYPE, Metrics
from node.network import NetworkConfig, NetworkService, NodeKey, PeerAddress
from node.rpc.config import RpcConfig
from node.rpc.http import HttpRequest, HttpResponse, Route, serve_http
from node.rpc.registry import RpcModule
from node.rpc.server import RpcServer
from node.service import Node, NodeConfig
from runtime.primitives import SignatureScheme
from runtime.keyring import InvalidSecretUri, Keypair

__all__ = ["ENDPOINTS_FILE", "node", "chain_spec"]

ENDPOINTS_FILE = "endpoints.json"
"""Written into the base path once the node listens: its pid, peer id and the ports it got."""

PORT = click.IntRange(0, 65535)

log = logging.getLogger("cairn.node")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"ts": record.created, "level": record.levelname, "target": record.name,
                           "msg": record.getMessage()})


def _setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)-5s %(name)s  %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def _session_key_uri(key: str) -> str:
    """``//Alice``-style URI, or a file holding one (or a 0x seed); checked here so a typo fails at once."""
    text = key
    if not key.startswith("//") and Path(key).is_file():
        text = Path(key).read_text().strip()
        if not text:  # the empty URI is the development phrase's root: a key anyone can derive
            raise click.BadParameter(f"{key}: empty, not a key file", param_hint="'--key'")
    try:
        Keypair.from_uri(text, SignatureScheme.Ed25519)
    except InvalidSecretUri as exc:
        raise click.BadParameter(str(exc), param_hint="'--key'") from None
    return text


def _metrics(node: Node, network: NetworkService) -> Metrics:
    metrics = Metrics()
    metrics.gauge("substrate_block_height", "Block height info of the chain",
                  lambda: {(("status", "best"),): node.tree.best.number,
                           (("status", "finalized"),): node.tree.finalized.number})
    metrics.gauge("substrate_sub_libp2p_peers_count", "Number of connected peers", lambda: len(network.peers()))
    metrics.gauge("substrate_ready_transactions_number", "Number of transactions in the ready queue",
                  lambda: node.pool.ready_count)
    metrics.gauge("cairn_future_transactions_number", "Number of transactions waiting for a predecessor",
                  lambda: node.pool.future_count)
    metrics.gauge("cairn_finality_lag_blocks", "Best block number minus finalized block number",
                  lambda: node.tree.best.number - node.tree.finalized.number)
    metrics.gauge("cairn_peer_reputation", "Reputation of each remembered peer (0 is neutral)",
                  lambda: {(("peer_id", str(peer)),): value for peer, value in network.reputations().items()})
    metrics.read_counter("python_gc_collections_total",
                         "Collections of each generation of the cyclic garbage collector",
                         lambda: {(("generation", str(generation)),): stats["collections"]
                                  for generation, stats in enumerate(gc.get_stats())})
    metrics.gauge("python_gc_frozen_objects", "Objects left out of every collection (node.gc_policy.settle)",
                  gc.get_freeze_count)
    return metrics


def _metrics_route(node: Node, network: NetworkService) -> Route:
    metrics = _metrics(node, network)

    async def route(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, metrics.render().encode(), CONTENT_TYPE)

    return route


def _chain_spec(chain: str) -> ChainSpec:
    """The preset or JSON file ``--chain`` names."""
    if chain in PRESETS:
        return preset(chain)
    if not Path(chain).is_file():
        raise click.BadParameter(f"chain spec {chain!r}: no such file or preset (presets: {', '.join(PRESETS)})",
                                 param_hint="'--chain'")
    try:
        return ChainSpec.load(Path(chain))
    except (InvalidChainSpec, OSError) as exc:
        raise click.BadParameter(f"chain spec {chain!r}: {exc}", param_hint="'--chain'") from None


def _check_listen_addresses(listeners: list[tuple[str, str, int]]) -> None:
    """Fail, naming the flag, when one of ``(flag, host, port)`` cannot be listened on now or repeats another's
    port; the probe sockets are closed again, so nothing has started when this returns."""
    claimed: dict[int, str] = {}
    for flag, host, port in listeners:
        if port and port in claimed:
            raise click.BadParameter(f"port {port} is also given to {claimed[port]}", param_hint=f"'{flag}'")
        claimed[port] = flag
        try:
            for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                     flags=socket.AI_PASSIVE):
                with socket.socket(family, kind, proto) as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
                    probe.bind(address)
                    probe.listen()
        except OSError as exc:
            raise click.BadParameter(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                                     param_hint=f"'{flag}'") from None


def _write_endpoints(base_path: Path, peer_id: str, ports: dict[str, int]) -> Path:
    """Write ``endpoints.json`` (the module docstring's format) under a temporary name, then rename it."""
    path = base_path / ENDPOINTS_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"pid": os.getpid(), "peer_id": peer_id, "ports": ports}) + "\n")
    partial.replace(path)
    return path


class _OneLineErrors(click.Command):
    """A bad flag is one line, ``Error: Invalid value for '--rpc-port': ...`` (exit 2), without the usage text."""

    def make_context(self, *args, **kwargs) -> click.Context:  # noqa: ANN002, ANN003 - click's signature
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            exc.ctx = None
            raise

    def invoke(self, ctx: click.Context) -> None:
        try:
            super().invoke(ctx)
        except click.UsageError as exc:
            exc.ctx = None
            raise


@click.command("node", cls=_OneLineErrors)
@click.option("--dev", is_flag=True, help="Shortcut for --chain dev --validator --key //Alice and a temporary base path.")
@click.option("--chain", default=None, help="Chain spec: a preset (dev, local) or a JSON file.")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the database and network key live.")
@click.option("--validator", is_flag=True,
              help="Author blocks and vote on finality with the keystore's key in the authority set.")
@click.option("--key", default=None,
              help="Put this session key into the keystore: a //Name URI or a file holding the secret URI/seed.")
@click.option("--name", default=None, help="Human-readable node name.")
@click.option("--port", type=PORT, default=30333, show_default=True, help="P2P TCP port (0: any free one).")
@click.option("--listen-addr", default="127.0.0.1", show_default=True, help="P2P listen address.")
@click.option("--rpc-port", type=PORT, default=9944, show_default=True,
              help="JSON-RPC port, HTTP and WebSocket (0: any free one).")
@click.option("--rpc-external", is_flag=True, help="Listen for RPC on all interfaces instead of loopback.")
@click.option("--rpc-methods", type=click.Choice(["auto", "safe", "unsafe"]), default="auto", show_default=True)
@click.option("--rpc-cors", default="all", show_default=True, help='"all" or a comma-separated list of origins.')
@click.option("--rpc-rate-limit", type=click.IntRange(min=1), default=None,
              help="Calls per minute one RPC connection may make (Substrate's; off by default).")
@click.option("--bootnodes", multiple=True, help="Peer address /ip4/<ip>/tcp/<port>/p2p/<peer id> (repeatable).")
@click.option("--prometheus-port", type=PORT, default=None,
              help="Serve Prometheus metrics on this loopback port (0: any free one).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def node(dev: bool, chain: str | None, base_path: Path | None, validator: bool, key: str | None, name: str | None,
         port: int, listen_addr: str, rpc_port: int, rpc_external: bool, rpc_methods: str, rpc_cors: str,
         rpc_rate_limit: int | None,
         bootnodes: tuple[str, ...], prometheus_port: int | None, log_level: str, log_format: str) -> None:
    """Run a Cairn node."""
    _setup_logging(log_level, log_format)
    if dev:
        chain, validator, key = chain or "dev", True, key or "//Alice"
    if chain is None:
        raise click.UsageError("--chain (or --dev) is required")
    spec = _chain_spec(chain)
    if base_path is None and not dev:
        raise click.UsageError("--base-path (or --dev) is required")
    session_key_uri = _session_key_uri(key) if key is not None else None
    try:
        boot = tuple(PeerAddress.parse(b) for b in bootnodes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--bootnodes'") from None
    rpc_host = "0.0.0.0" if rpc_external else "127.0.0.1"
    listeners = [("--port", listen_addr, port), ("--rpc-port", rpc_host, rpc_port)]
    if prometheus_port is not None:
        listeners.append(("--prometheus-port", "127.0.0.1", prometheus_port))
    _check_listen_addresses(listeners)
    if base_path is not None:
        try:
            base_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(f"cannot use {base_path}: {exc.strerror or exc}", param_hint="'--base-path'")

    with ExitStack() as cleanup:
        # Until the node takes them itself, SIGTERM stops the command as Ctrl-C does.
        cleanup.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, signal.default_int_handler))
        try:
            if base_path is None:
                base_path = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cairn-dev-")))
            (base_path / ENDPOINTS_FILE).unlink(missing_ok=True)  # a dead run's ports must not be read as ours
            node_key = NodeKey.load_or_create(base_path / "network" / "secret_ed25519")
            network = NetworkService(node_key, NetworkConfig(listen_host=listen_addr, listen_port=port,
                                                             bootnodes=boot))
            rpc_config = RpcConfig(host=rpc_host, port=rpc_port, rpc_methods=rpc_methods,
                                   cors="all" if rpc_cors == "all" else tuple(o.strip() for o in rpc_cors.split(",")),
                                   rate_limit=rpc_rate_limit)
            config = NodeConfig(spec=spec, base_path=base_path, name=name or f"cairn-{node_key.peer_id}"[:32],
                                validator=validator, session_key_uri=session_key_uri)
            servers: list[RpcServer] = []

            def rpc_factory(module: RpcModule) -> RpcServer:
                servers.append(RpcServer(module, rpc_config, health=lambda: the_node.health()))
                return servers[0]

            the_node = Node(config, network, rpc_factory)
            log.info("peer id %s", node_key.peer_id)

            async def main() -> str:
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async with trio.open_nursery() as nursery:
                        await nursery.start(the_node.run)
                        gc_policy.settle()
                        ports = {"p2p": network.listen_port, "rpc": servers[0].port}
                        if prometheus_port is not None:
                            serve = functools.partial(serve_http, {"/metrics": _metrics_route(the_node, network)},
                                                      port=prometheus_port)
                            ports["prometheus"] = await nursery.start(serve)
                        written = _write_endpoints(base_path, str(node_key.peer_id), ports)
                        log.info("listening: %s (written to %s)",
                                 ", ".join(f"{what} {number}" for what, number in ports.items()), written)
                        signum = await anext(signals)
                        nursery.cancel_scope.cancel()
                return signal.Signals(signum).name

            try:
                stopped_by = trio.run(main)
            except* (WrongChain, SchemaMismatch, CorruptDatabase) as group:
                raise click.ClickException(_not_this_chain(base_path / "db", _leaf(group))) from None
            (base_path / ENDPOINTS_FILE).unlink(missing_ok=True)
            log.info("stopped (%s): database closed", stopped_by)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM while starting, before the node could take the signal
            log.info("stopped while starting")


def _leaf(error: BaseException) -> BaseException:
    """The first error a (nested) exception group holds."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _not_this_chain(db: Path, exc: BaseException) -> str:
    """What to tell an operator whose base path holds a database this node cannot run."""
    why = ("It was begun by another version of Cairn's runtime or from another chain spec (the genesis block "
           "holds both)" if isinstance(exc, WrongChain) else
           "It was written by another version of Cairn's node, or is not a chain database" if
           isinstance(exc, SchemaMismatch) else "It is damaged")
    return f"{db} holds a chain this node cannot run: {exc}. {why}; delete that folder to start over, or use " \
           "another --base-path"


@click.command("chain-spec")
@click.option("--preset", "preset_name", type=click.Choice(sorted(PRESETS)), default="dev", show_default=True,
              help="Which built-in chain to describe.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the spec here instead of standard output.")
def chain_spec(preset_name: str, output: Path | None) -> None:
    """Write a chain spec (JSON) for a preset; its genesis hash goes to standard error."""
    spec = preset(preset_name)
    _, genesis, _ = spec.build()
    text = json.dumps(spec.to_json(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
    click.echo(f"genesis hash 0x{genesis.hash.hex()}", err=True)
