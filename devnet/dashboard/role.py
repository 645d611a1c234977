"""The dashboard role: one ``python -m devnet.dashboard`` process, started after every other role.

It is given every validator's RPC URL (the page and the sampler move to the next when one goes away), so it
comes last in :data:`devnet.registry.ROLES`, once the validators have reported their ports. ``status`` shows
its URL and what its light client has sampled.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from devnet.config import ConfigError
from devnet.role import Launch, ProcessPaths, Reading, Role, http_health
from devnet.state import ProcessRecord

__all__ = ["DASHBOARD", "dashboard_url"]

NAME = "dashboard"


def dashboard_url(record: ProcessRecord) -> str:
    """Where the page is."""
    return record.url("http") + "/"


def dashboard_command(launch: Launch, index: int, ports: Mapping[str, int], paths: ProcessPaths) -> list[str]:
    if not launch.chain_rpc:
        raise ConfigError("the dashboard needs a validator to show: validators.count must be at least 1")
    return [sys.executable, "-m", "devnet.dashboard", "--chain-rpc", *launch.chain_rpc,
            "--base-path", str(paths.data), "--http-port", str(ports["http"])]


def dashboard_status(record: ProcessRecord) -> dict[str, Reading]:
    """The blobs followed and how many of them the page's sampler sampled, and the page's URL."""
    url = dashboard_url(record)
    health = http_health(record)
    try:
        columns: dict[str, Reading] = {"blobs": int(health["blobs"]), "sampled": int(health["sampled"]), "url": url}
    except (KeyError, TypeError, ValueError):
        return {"url": f"{url} (not answering)"}
    if health.get("chain") is None:
        columns["chain"] = "no validator answers"
    return columns


DASHBOARD = Role(name=NAME, section="dashboard", ports=("http",), command=dashboard_command,
                 status=dashboard_status, default_count=1, min_count=0, max_count=1)
