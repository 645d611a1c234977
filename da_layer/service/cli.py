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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import click
import trio

from da_layer.service.daemon import DaNode, DaNodeConfig, RegistrationFailed
from da_layer.service.store import CellStore
from sdk.account.api import chain_token
from sdk.chain import AsyncClient
from sdk.cli import AMOUNT, key_argument, units_of
from sdk.da.chain import PALLET
from sdk.da.pool import KzgPool
from sdk.serving import ENDPOINTS_FILE, DaemonRun, chain_rpc_option, daemon_logging, run_daemon

__all__ = ["da_node", "ENDPOINTS_FILE"]

log = logging.getLogger("cairn.da_node")


@click.command("da-node")
@chain_rpc_option
@click.option("--key", required=True, help="The operator's account: a //Name URI or a file holding the secret.")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where the cells, the endpoints file and the withhold switch live.")
@click.option("--http-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port of the cell API (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--public-host", default=None, help="Host to register in the endpoint [default: --host].")
@click.option("--stake", type=AMOUNT, default=None,
              help="Stake to register with: 150CAIRN, or base units [default: the chain's minimum DA stake].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes verifying and recovering cells [default: one per core].")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def da_node(chain_rpc: tuple[str, ...], key: str, base_path: Path, http_port: int, host: str, public_host: str | None,
            stake: str | None, workers: int | None, log_level: str) -> None:
    """Run a DA node: custody, attestations, cells served, audits answered."""
    daemon_logging(log_level)
    account = key_argument(key)

    @asynccontextmanager
    async def node() -> AsyncIterator[DaemonRun]:
        store = await trio.to_thread.run_sync(CellStore.open, base_path / "cells")
        if store.corrupt_found:
            log.warning("%d undecodable cell files set aside: their blobs will be recovered", store.corrupt_found)
        with KzgPool(workers) as pool:
            async with AsyncClient(chain_rpc) as client:
                staked = (client.get_constant(PALLET, "MinStake") if stake is None
                          else units_of(await chain_token(client), stake, "'--stake'"))
                config = DaNodeConfig(base_path, staked, host=host,
                                      http_port=http_port, public_host=public_host)
                await pool.warm()
                yield DaNode(client, account, store, pool, config).run

    run_daemon(base_path, chain_rpc, node, refusals=(RegistrationFailed, OSError))

