"""The validator role: ``cairn node --validator`` processes, one per authority of the devnet's chain spec.

Validator ``i`` signs with authority ``i``'s session key (``//Alice``, ``//Bob``, ...) and gets every earlier
validator as a bootnode. Nodes re-dial their bootnodes after a disconnection, so the validators form a full
mesh that heals when any of them is killed and restarted (a restart keeps the ports it had).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from devnet.config import ConfigError
from devnet.role import Launch, ProcessPaths, Reading, Role, read_endpoints
from devnet.rpc import rpc_call
from devnet.state import DevnetError, ProcessRecord

__all__ = ["VALIDATOR"]

NAME = "validator"


def validator_command(launch: Launch, index: int, ports: Mapping[str, int], paths: ProcessPaths) -> list[str]:
    authorities = launch.spec.authorities
    if index >= len(authorities):
        raise ConfigError(f"validators.count asks for {index + 1} validators; the chain spec has "
                          f"{len(authorities)} authorities")
    name = authorities[index].name
    command = [sys.executable, "-m", "node", "--chain", str(launch.spec_path), "--base-path", str(paths.data),
               "--name", name, "--validator", "--key", f"//{name}", "--port", str(ports["p2p"]),
               "--rpc-port", str(ports["rpc"]), "--prometheus-port", str(ports["prometheus"])]
    for peer in launch.started_of(NAME):
        command += ["--bootnodes", _peer_address(peer)]
    return command


def _peer_address(peer: ProcessRecord) -> str:
    endpoints = read_endpoints(Path(peer.data), peer.pid)
    if endpoints is None:
        raise DevnetError(f"{peer.name} stopped before the next validator could learn its peer id")
    return f"/ip4/127.0.0.1/tcp/{peer.ports['p2p']}/p2p/{endpoints['peer_id']}"


def validator_status(record: ProcessRecord) -> dict[str, Reading]:
    """Best and finalized block and peer count, as the node answers them."""
    url, ws = record.url("rpc"), record.url("rpc", "ws")
    try:
        best = _number(rpc_call(url, "chain_getHeader"))
        finalized = _number(rpc_call(url, "chain_getHeader", [rpc_call(url, "chain_getFinalizedHead")]))
        peers = rpc_call(url, "system_health")["peers"]  # type: ignore[index]
    except (OSError, RuntimeError, ValueError, KeyError, TypeError):
        return {"rpc": f"{ws} (not answering)"}
    return {"best": best, "finalized": finalized, "peers": peers, "rpc": ws}


def _number(header: object) -> int:
    return int(header["number"], 16)  # type: ignore[index]


VALIDATOR = Role(name=NAME, section="validators", ports=("p2p", "rpc", "prometheus"), command=validator_command,
                 status=validator_status, default_count=4, min_count=1, max_count=32)
