"""The compute provider role: ``cairn provider`` processes following the devnet's validators.

Provider ``i`` acts as ``//Provider<i>``, except provider 0, which acts as ``//Storage0``: the operator of
storage node 0 rents out its compute too, so the chain's assignment can be seen preferring a provider that
already stores fragments of a job's inputs (data locality). The accounts are endowed in the devnet's chain
spec through :attr:`devnet.role.Role.account` (``//Storage0`` already is, as storage node 0's). Each follows
validator ``i mod n``'s RPC, serves ``/v1/health`` and ``/metrics`` on the ``http`` port it reports and keeps
its jobs' journal under its data folder. Three by default: a job with redundancy 2 has a third provider
for its dispute round or a no-show's replacement. Started after the storage nodes (the registry's order),
since a job's inputs and outputs live there.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from devnet.role import Launch, ProcessPaths, Reading, Role, http_health
from devnet.state import ProcessRecord

__all__ = ["PROVIDER", "provider_account"]

NAME = "provider"


def provider_account(index: int) -> str:
    return "//Storage0" if index == 0 else f"//Provider{index}"


def provider_command(launch: Launch, index: int, ports: Mapping[str, int], paths: ProcessPaths) -> list[str]:
    return [sys.executable, "-m", "compute_pallet.service", *launch.follow_args(index, "providers"),
            "--key", provider_account(index), "--base-path", str(paths.data), "--http-port", str(ports["http"]),
            "--gpu", "auto"]


def provider_status(record: ProcessRecord) -> dict[str, Reading]:
    """Jobs run, stake and reputation, as the provider's health endpoint answers them."""
    url = record.url("http")
    health = http_health(record)
    try:
        jobs = health["jobs"]
        columns: dict[str, Reading] = {"jobs run": int(jobs.get("run", 0) + jobs.get("refused", 0)),
                                       "active": int(health["active_jobs"])}
        if health.get("registered", True):
            columns |= {"stake": int(health["stake"]), "reputation": int(health["reputation"])}
            if health.get("leaving"):
                columns["market"] = "leaving (no new jobs)"
        else:
            columns["market"] = "left (not registered)"
        columns["http"] = url
    except (KeyError, TypeError, AttributeError, ValueError):
        return {"http": f"{url} (not answering)"}
    if health.get("fault"):
        columns["fault"] = str(health["fault"])
    return columns


PROVIDER = Role(name=NAME, section="providers", ports=("http",), command=provider_command, status=provider_status,
                default_count=3, min_count=0, max_count=32, account=provider_account)
