"""``cairn storage-node``: run a storage node against a chain.

    cairn storage-node --chain-rpc ws://127.0.0.1:9944 --key //Ferdie --base-path ./storage-0 --http-port 0 \\
        [--capacity 10GiB] [--min-free-disk 256MiB] [--stake AMOUNT] [--http-host 127.0.0.1] [--public-url URL]

The node registers its account (``--key``: a ``//Name`` URI, a ``0x`` seed, or a file holding either) with
the stake and capacity given, serves fragments on ``--http-port`` (0: any free port), and keeps its fragments
under ``--base-path``. Once ready it writes ``<base-path>/endpoints.json`` (``{"pid": ..., "ports": {"http":
port}}``, as ``cairn node`` does), which is how the devnet and tests learn the port it got. SIGINT or SIGTERM
stop it; everything acknowledged is on disk already.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import click

from sdk.account.api import chain_token
from sdk.chain import AsyncClient
from sdk.cli import AMOUNT, key_argument, units_of
from sdk.serving import ENDPOINTS_FILE, DaemonRun, chain_rpc_option, daemon_logging, public_url_option, run_daemon
from storage_node.service.daemon import NodeConfig, RegistrationFailed, StorageNode

__all__ = ["storage_node", "ENDPOINTS_FILE"]

_SIZE = re.compile(r"(\d+)\s*(|B|KiB|MiB|GiB|TiB)", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_size(text: str) -> int:
    """``"10GiB"``, ``"512 MiB"``, ``"4096"`` → bytes."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (e.g. 4096, 512MiB, 10GiB)")
    return int(match[1]) * _UNITS[match[2].lower()]


def _size_option(text: str, flag: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{flag}'") from None


@click.command("storage-node")
@chain_rpc_option
@click.option("--key", required=True, help="The operator account: //Name, 0x seed, or a key file (cairn account new).")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where fragments and endpoints.json live.")
@click.option("--http-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port of the fragment API (0: any free port, written to endpoints.json).")
@click.option("--http-host", default="127.0.0.1", show_default=True, help="Address the fragment API binds.")
@public_url_option
@click.option("--capacity", default="10GiB", show_default=True, help="Bytes offered (e.g. 512MiB, 10GiB).")
@click.option("--min-free-disk", default="256MiB", show_default=True,
              help="Disk space to keep free: uploads that would leave less are refused (507).")
@click.option("--stake", type=AMOUNT, default=None,
              help="Stake to hold on registration: 150CAIRN, or base units [default: the chain's minimum].")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def storage_node(chain_rpc: tuple[str, ...], key: str, base_path: Path, http_port: int, http_host: str,
                 public_url: str | None, capacity: str, min_free_disk: str, stake: str | None, log_level: str) -> None:
    """Run a storage node: register, store fragments, answer audits, repair."""
    daemon_logging(log_level)
    keypair = key_argument(key)
    capacity_bytes = _size_option(capacity, "--capacity")
    min_free_bytes = _size_option(min_free_disk, "--min-free-disk")

    @asynccontextmanager
    async def node() -> AsyncIterator[DaemonRun]:
        async with AsyncClient(chain_rpc) as client:
            config = NodeConfig(base_path=base_path, capacity=capacity_bytes,
                                stake=client.get_constant("StorageNodes", "MinStake") if stake is None
                                else units_of(await chain_token(client), stake, "'--stake'"),
                                http_host=http_host, http_port=http_port, public_url=public_url,
                                min_free_disk=min_free_bytes)
            yield StorageNode(client, keypair, config).run

    run_daemon(base_path, chain_rpc, node, refusals=(RegistrationFailed,))

