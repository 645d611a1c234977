"""``cairn da-node``: run a DA node against any Cairn node's JSON-RPC.

    cairn da-node --chain-rpc ws://127.0.0.1:9944 --key //Eve --base-path /tmp/da-0 --http-port 0

``--key`` is the operator's account (a ``//Name`` URI, or a file holding a secret URI or ``0x`` seed); the
node's BLS key is derived from it, so a restart with the same key is the same node. Once it listens and is
registered, the node writes ``<base-path>/endpoints.json`` (``{"pid": ..., "ports": {"http": ...}}``,
written to a temporary name and renamed, removed on a clean stop), the convention the devnet launcher and
the tests read ports from. Cells live in ``<base-path>/cells``; a file ``<base-path>/withhold`` makes the
node withhold its cells (see :mod:`da_layer.service.daemon`). SIGINT and SIGTERM stop it.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import click
import trio

from da_layer.service.daemon import DaNode, DaNodeConfig, RegistrationFailed
from da_layer.service.store import CellStore
from runtime.keyring import Keypair
from sdk.chain import AsyncClient, ChainClientError
from sdk.cli import key_argument
from sdk.da.chain import PALLET
from sdk.da.pool import KzgPool
from sdk.serving import ENDPOINTS_FILE, write_endpoints

__all__ = ["da_node", "ENDPOINTS_FILE"]

log = logging.getLogger("cairn.da_node")


@click.command("da-node")
@click.option("--chain-rpc", default="ws://127.0.0.1:9944", show_default=True,
              help="A Cairn node's JSON-RPC WebSocket.")
@click.option("--key", required=True, help="The operator's account: a //Name URI or a file holding the secret.")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where the cells, the endpoints file and the withhold switch live.")
@click.option("--http-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port of the cell API (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--public-host", default=None, help="Host to register in the endpoint [default: --host].")
@click.option("--stake", type=click.IntRange(min=1), default=None,
              help="Stake to register with [default: the chain's minimum DA stake].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes verifying and recovering cells [default: one per core].")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def da_node(chain_rpc: str, key: str, base_path: Path, http_port: int, host: str, public_host: str | None,
            stake: int | None, workers: int | None, log_level: str) -> None:
    """Run a DA node: custody, attestations, cells served, audits answered."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)-5s %(name)s  %(message)s")
    account = key_argument(key)
    base_path.mkdir(parents=True, exist_ok=True)
    (base_path / ENDPOINTS_FILE).unlink(missing_ok=True)  # a dead run's port must not be read as ours
    try:
        stopped_by = trio.run(_main, chain_rpc, account, base_path, http_port, host, public_host, stake, workers)
    except (ChainClientError, RegistrationFailed, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        (base_path / ENDPOINTS_FILE).unlink(missing_ok=True)
    log.info("stopped (%s)", stopped_by)


async def _main(chain_rpc: str, account: Keypair, base_path: Path, http_port: int, host: str,
                public_host: str | None, stake: int | None, workers: int | None) -> str:
    store = await trio.to_thread.run_sync(CellStore.open, base_path / "cells")
    if store.corrupt_found:
        log.warning("%d undecodable cell files set aside: their blobs will be recovered", store.corrupt_found)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals, KzgPool(workers) as pool:
        async with AsyncClient(chain_rpc) as client, trio.open_nursery() as nursery:
            config = DaNodeConfig(base_path, stake or client.get_constant(PALLET, "MinStake"), host=host,
                                  http_port=http_port, public_host=public_host)
            node = DaNode(client, account, store, pool, config)
            await pool.warm()
            port = await nursery.start(node.run)
            write_endpoints(base_path, {"http": port})
            signum = await anext(signals)
            nursery.cancel_scope.cancel()
    return signal.Signals(signum).name

