"""``cairn node``: run a validator or full node. Flags and defaults follow Substrate's node.

    cairn node --dev                                   # one validator (//Alice), temporary base path
    cairn node --chain local --validator --key //Bob --base-path /tmp/bob --port 30334 --rpc-port 9945 \\
               --bootnodes /ip4/127.0.0.1/tcp/30333/p2p/<alice's peer id>
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

import click
import trio

from node.chain_spec import PRESETS, ChainSpec, InvalidChainSpec, preset
from node.metrics import CONTENT_TYPE, Metrics
from node.network import NetworkConfig, NetworkService, NodeKey, PeerAddress
from node.rpc.config import RpcConfig
from node.rpc.http import HttpResponse
from node.rpc.server import RpcServer
from node.service import Node, NodeConfig
from runtime.primitives import SignatureScheme
from runtime.keyring import InvalidSecretUri, Keypair

__all__ = ["node", "chain_spec"]


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
    try:
        Keypair.from_uri(text, SignatureScheme.Ed25519)
    except InvalidSecretUri as exc:
        raise click.BadParameter(str(exc), param_hint="--key") from None
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
    return metrics


@click.command("node")
@click.option("--dev", is_flag=True, help="Shortcut for --chain dev --validator --key //Alice and a temporary base path.")
@click.option("--chain", default=None, help="Chain spec: a preset (dev, local) or a JSON file.")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the database and network key live.")
@click.option("--validator", is_flag=True,
              help="Author blocks and vote on finality with the keystore's key in the authority set.")
@click.option("--key", default=None,
              help="Put this session key into the keystore: a //Name URI or a file holding the secret URI/seed.")
@click.option("--name", default=None, help="Human-readable node name.")
@click.option("--port", type=int, default=30333, show_default=True, help="P2P TCP port.")
@click.option("--listen-addr", default="127.0.0.1", show_default=True, help="P2P listen address.")
@click.option("--rpc-port", type=int, default=9944, show_default=True, help="JSON-RPC port (HTTP and WebSocket).")
@click.option("--rpc-external", is_flag=True, help="Listen for RPC on all interfaces instead of loopback.")
@click.option("--rpc-methods", type=click.Choice(["auto", "safe", "unsafe"]), default="auto", show_default=True)
@click.option("--rpc-cors", default="all", show_default=True, help='"all" or a comma-separated list of origins.')
@click.option("--bootnodes", multiple=True, help="Peer address /ip4/<ip>/tcp/<port>/p2p/<peer id> (repeatable).")
@click.option("--prometheus-port", type=int, default=None, help="Serve Prometheus metrics on this port.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def node(dev: bool, chain: str | None, base_path: Path | None, validator: bool, key: str | None, name: str | None,
         port: int, listen_addr: str, rpc_port: int, rpc_external: bool, rpc_methods: str, rpc_cors: str,
         bootnodes: tuple[str, ...], prometheus_port: int | None, log_level: str, log_format: str) -> None:
    """Run a Cairn node."""
    _setup_logging(log_level, log_format)
    if dev:
        chain, validator, key = chain or "dev", True, key or "//Alice"
        base_path = base_path or Path(tempfile.mkdtemp(prefix="cairn-dev-"))
    if chain is None:
        raise click.UsageError("--chain (or --dev) is required")
    if base_path is None:
        raise click.UsageError("--base-path (or --dev) is required")
    try:
        spec = preset(chain) if chain in PRESETS else ChainSpec.load(Path(chain))
    except (InvalidChainSpec, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    session_key_uri = _session_key_uri(key) if key is not None else None
    try:
        boot = tuple(PeerAddress.parse(b) for b in bootnodes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--bootnodes") from None
    node_key = NodeKey.load_or_create(base_path / "network" / "secret_ed25519")
    network = NetworkService(node_key, NetworkConfig(listen_host=listen_addr, listen_port=port, bootnodes=boot))
    rpc_config = RpcConfig(host="0.0.0.0" if rpc_external else "127.0.0.1", port=rpc_port, rpc_methods=rpc_methods,
                           cors="all" if rpc_cors == "all" else tuple(o.strip() for o in rpc_cors.split(",")))
    config = NodeConfig(spec=spec, base_path=base_path, name=name or f"cairn-{node_key.peer_id}"[:32],
                        validator=validator, session_key_uri=session_key_uri)
    holder: dict = {}

    def rpc_factory(module):  # noqa: ANN001, ANN202 - the node hands over its method module
        return RpcServer(module, rpc_config, health=lambda: holder["node"].health())

    the_node = Node(config, network, rpc_factory)
    holder["node"] = the_node
    logging.getLogger("cairn.node").info("peer id %s, p2p %s:%d, rpc %s:%d", node_key.peer_id, listen_addr, port,
                                         rpc_config.host, rpc_port)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(the_node.run)
            if prometheus_port is not None:
                metrics = _metrics(the_node, network)

                async def serve_metrics(request):  # noqa: ANN001, ANN202
                    return HttpResponse(200, metrics.render().encode(), CONTENT_TYPE)

                server = _MetricsServer(prometheus_port, serve_metrics)
                await nursery.start(server.run)

    try:
        trio.run(main)
    except KeyboardInterrupt:
        logging.getLogger("cairn.node").info("stopped")


class _MetricsServer:
    """``/metrics`` on its own port, through the RPC package's HTTP server with no JSON-RPC methods."""

    def __init__(self, port: int, handler) -> None:  # noqa: ANN001
        from node.rpc.registry import RpcModule

        self._server = RpcServer(RpcModule(), RpcConfig(port=port), routes={"/metrics": handler})

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._server.run(task_status=task_status)


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
