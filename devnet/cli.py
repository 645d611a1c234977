"""``cairn devnet``: the local development network."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import click

from devnet import launcher
from node.chain_spec import preset
from runtime.keyring import DEV_ACCOUNTS, Keypair


@click.group()
def devnet() -> None:
    """Run a local development network: validators (and, as they land, storage, DA and compute nodes)."""


def _print_endpoints(network: launcher.Devnet) -> None:
    click.echo(f"devnet under {network.base_path} (chain spec {network.chain_spec}):")
    for node in network.nodes:
        click.echo(f"  {node.name:<8} rpc {node.ws_url}  p2p :{node.p2p_port}  metrics :{node.prometheus_port}"
                   f"  log {node.log}")
    click.echo("dev accounts (sr25519, SS58 prefix 42):")
    for name in DEV_ACCOUNTS:
        click.echo(f"  //{name:<8} {Keypair.from_uri('//' + name).ss58_address()}")


@devnet.command("up")
@click.option("--validators", type=click.IntRange(1, 32), default=4, show_default=True,
              help="How many validator processes (4: one may fail and finality continues).")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), default=Path("devnet-data"),
              show_default=True, help="Where specs, databases and logs go.")
@click.option("--rpc-port", type=int, default=9944, show_default=True, help="RPC port of the first node (+1 each).")
@click.option("--p2p-port", type=int, default=30333, show_default=True, help="P2P port of the first node (+1 each).")
@click.option("--prometheus-port", type=int, default=9615, show_default=True,
              help="Metrics port of the first node (+1 each).")
@click.option("--detach", is_flag=True, help="Start the processes and return (stop them with `cairn devnet down`).")
@click.option("--fresh", is_flag=True, help="Delete the base path's previous chain data first.")
def devnet_up(validators: int, base_path: Path, rpc_port: int, p2p_port: int, prometheus_port: int, detach: bool,
              fresh: bool) -> None:
    """Start N validators as separate processes on loopback; Ctrl-C stops them all."""
    if (base_path / launcher.STATE_FILE).exists():
        previous = launcher.Devnet.load(base_path)
        if any(row["alive"] for row in launcher.status(previous)):
            raise click.ClickException(f"a devnet is already running under {base_path}: `cairn devnet down` first")
    if fresh and base_path.exists():
        shutil.rmtree(base_path)
    spec = preset("local", validators=validators)
    network = launcher.start(spec, base_path, base_p2p=p2p_port, base_rpc=rpc_port, base_prometheus=prometheus_port)
    _print_endpoints(network)
    if detach:
        click.echo("running in the background: `cairn devnet status`, `cairn devnet down`")
        return
    click.echo("press Ctrl-C to stop")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill`/timeouts stop the nodes too, not only Ctrl-C
    try:
        while True:
            time.sleep(10)
            rows = launcher.status(network)
            click.echo("  ".join(f"{r['name']}: #{r['best']} (final #{r['finalized']}, {r['peers']} peers)"
                                 if r["alive"] else f"{r['name']}: down" for r in rows))
    except KeyboardInterrupt:
        click.echo("stopping the devnet…")
        launcher.stop(network)


@devnet.command("status")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), default=Path("devnet-data"),
              show_default=True)
def devnet_status(base_path: Path) -> None:
    """Show each node: alive, best and finalized block, peers."""
    network = _load(base_path)
    for row in launcher.status(network):
        state = "up" if row["alive"] else "down"
        click.echo(f"{row['name']:<8} {state:<4} best #{row['best']}  finalized #{row['finalized']}  "
                   f"peers {row['peers']}  {row['rpc']}")


@devnet.command("down")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), default=Path("devnet-data"),
              show_default=True)
def devnet_down(base_path: Path) -> None:
    """Stop every node of the devnet under the base path."""
    launcher.stop(_load(base_path))
    click.echo("devnet stopped")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _load(base_path: Path) -> launcher.Devnet:
    try:
        return launcher.Devnet.load(base_path)
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"no devnet under {base_path}: {exc}") from None
