"""``python -m devnet.dashboard``: serve the devnet's dashboard.

    python -m devnet.dashboard --chain-rpc http://127.0.0.1:9944 [URL ...] --http-port 0 --base-path DIR

``--chain-rpc`` takes every validator's JSON-RPC URL (``http://`` or ``ws://``, the same port speaks both):
the page connects to them from the browser in turn, the sampler follows them in turn. Once listening it
writes ``<base-path>/endpoints.json`` (``{"pid": ..., "ports": {"http": port}}``), as the other daemons do;
the page is at ``http://HOST:PORT/``. SIGINT and SIGTERM stop it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import click

from devnet.dashboard.book import DEFAULT_LIMIT, SampleBook
from devnet.dashboard.daemon import Dashboard, DashboardConfig
from devnet.dashboard.sampler import Sampler, SamplerSettings
from devnet.dashboard.server import load_static
from sdk.da.pool import KzgPool
from sdk.serving import DaemonRun, daemon_logging, run_daemon

__all__ = ["dashboard", "websocket_url"]

SCHEMES = {"http": "ws", "ws": "ws"}


def websocket_url(url: str) -> str:
    """``http://host:port`` or ``ws://host:port`` as the ``ws://`` URL the page and the SDK connect to."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:  # 'http://[::1', a port of 99999
        parts = None
    if parts is None or parts.scheme not in SCHEMES or not parts.hostname:
        raise click.BadParameter(f"{url!r} is not an http:// or ws:// URL of a node's JSON-RPC", param_hint="--chain-rpc")
    return parts._replace(scheme=SCHEMES[parts.scheme]).geturl()


@click.command("dashboard")
@click.option("--chain-rpc", "chain_rpc", multiple=True, required=True, metavar="URL [URL ...]",
              help="A validator's JSON-RPC URL; repeat it, or list several after it, for every validator.")
@click.argument("more_rpc", nargs=-1, metavar="[URL]...")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where endpoints.json is written.")
@click.option("--http-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port of the page and its API (0: any free one, written to endpoints.json).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--blobs", type=click.IntRange(1, 256), default=DEFAULT_LIMIT, show_default=True,
              help="How many of the newest available blobs to sample (each once).")
@click.option("--samples", type=click.IntRange(1, 64), default=SamplerSettings.samples, show_default=True,
              help="Cells drawn per blob.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def dashboard(chain_rpc: tuple[str, ...], more_rpc: tuple[str, ...], base_path: Path, http_port: int, host: str,
              blobs: int, samples: int, log_level: str) -> None:
    """Serve the devnet's dashboard and sample the newest available DA blobs."""
    daemon_logging(log_level)
    urls = tuple(websocket_url(url) for url in (*chain_rpc, *more_rpc))
    static = load_static()

    @asynccontextmanager
    async def serving() -> AsyncIterator[DaemonRun]:
        with KzgPool(1) as pool:  # one verifying worker: sampling is one blob at a time
            book = SampleBook(blobs)
            sampler = Sampler(urls, book, pool, SamplerSettings(samples=samples))
            yield Dashboard(DashboardConfig(urls, host, http_port), static, book, sampler).run

    run_daemon(base_path, urls, serving)
