"""The devnet launcher: N validators as separate ``cairn node`` processes on loopback.

Layout under the base path (default ``./devnet-data``)::

    chain-spec.json        the generated spec every node starts from
    devnet.json            what is running: pids, ports, RPC endpoints (for ``status`` / ``down``)
    node-<i>/              each node's --base-path (database, network key)
    node-<i>/node.log      each node's log

Node ``i`` listens on p2p ``base_p2p + i``, RPC ``base_rpc + i`` and Prometheus ``base_prometheus + i``;
node ``i`` gets every earlier node as a bootnode, so the validators form a full mesh and any of them may
fail (peer ids are known up front: each node's key file is written before it starts).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from node.chain_spec import ChainSpec

__all__ = ["DevnetNode", "Devnet", "start", "status", "stop", "rpc_call", "free_port", "free_port_range", "wait_until"]

STATE_FILE = "devnet.json"


@dataclass(frozen=True)
class DevnetNode:
    name: str
    pid: int
    p2p_port: int
    rpc_port: int
    prometheus_port: int
    base_path: str
    log: str

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.rpc_port}"


@dataclass(frozen=True)
class Devnet:
    base_path: str
    chain_spec: str
    nodes: tuple[DevnetNode, ...]

    def save(self) -> None:
        Path(self.base_path, STATE_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @staticmethod
    def load(base_path: Path) -> "Devnet":
        doc = json.loads(Path(base_path, STATE_FILE).read_text())
        return Devnet(doc["base_path"], doc["chain_spec"], tuple(DevnetNode(**n) for n in doc["nodes"]))


def _node_command(spec_path: Path, node_dir: Path, name: str, key: str, p2p: int, rpc: int, prometheus: int,
                  bootnodes: list[str], log_level: str) -> list[str]:
    command = [sys.executable, "-m", "node", "--chain", str(spec_path), "--base-path", str(node_dir),
               "--name", name, "--validator", "--key", key, "--port", str(p2p), "--rpc-port", str(rpc),
               "--prometheus-port", str(prometheus), "--log-level", log_level]
    for bootnode in bootnodes:
        command += ["--bootnodes", bootnode]
    return command


def start(spec: ChainSpec, base_path: Path, *, base_p2p: int = 30333, base_rpc: int = 9944,
          base_prometheus: int = 9615, log_level: str = "info") -> Devnet:
    """Write the spec and start one node per authority; returns once every process is spawned."""
    from node.network.identity import NodeKey

    base_path.mkdir(parents=True, exist_ok=True)
    spec_path = base_path / "chain-spec.json"
    spec.save(spec_path)
    nodes = []
    bootnodes: list[str] = []
    for i, authority in enumerate(spec.authorities):
        node_dir = base_path / f"node-{i}"
        node_dir.mkdir(parents=True, exist_ok=True)
        node_key = NodeKey.load_or_create(node_dir / "network" / "secret_ed25519")
        p2p, rpc, prometheus = base_p2p + i, base_rpc + i, base_prometheus + i
        log_path = node_dir / "node.log"
        command = _node_command(spec_path, node_dir, authority.name, f"//{authority.name}", p2p, rpc, prometheus,
                                bootnodes, log_level)
        with log_path.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        nodes.append(DevnetNode(authority.name, process.pid, p2p, rpc, prometheus, str(node_dir), str(log_path)))
        bootnodes = bootnodes + [f"/ip4/127.0.0.1/tcp/{p2p}/p2p/{node_key.peer_id}"]
    devnet = Devnet(str(base_path), str(spec_path), tuple(nodes))
    devnet.save()
    return devnet


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(count: int, *, avoid: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    """The first of ``count`` consecutive loopback ports that are all free now (and not in ``avoid``)."""
    for _ in range(200):
        start = free_port()
        ports = range(start, start + count)
        if start + count > 65535 or avoid.intersection(ports):
            continue
        try:
            sockets = []
            for port in ports:
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return start
    raise OSError(f"no {count} consecutive free ports found")


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.5) -> object:
    """Poll ``predicate`` until it returns something truthy (returned), treating nodes that do not answer
    yet as not ready; raises ``TimeoutError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, RuntimeError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s: {what} (last: {last!r})")


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 2.0) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["result"]


def status(devnet: Devnet) -> list[dict]:
    """Per node: alive, best and finalized heights, peers (``None`` where it does not answer)."""
    rows = []
    for node in devnet.nodes:
        row: dict = {"name": node.name, "pid": node.pid, "alive": _alive(node.pid), "rpc": node.ws_url}
        try:
            best = rpc_call(node.rpc_url, "chain_getHeader")
            finalized = rpc_call(node.rpc_url, "chain_getHeader", [rpc_call(node.rpc_url, "chain_getFinalizedHead")])
            row.update(best=int(best["number"], 16), finalized=int(finalized["number"], 16),  # type: ignore[index]
                       peers=rpc_call(node.rpc_url, "system_health")["peers"])  # type: ignore[index]
        except (OSError, RuntimeError, ValueError, KeyError):
            row.update(best=None, finalized=None, peers=None)
        rows.append(row)
    return rows


def stop(devnet: Devnet, *, timeout: float = 10.0) -> None:
    """SIGTERM every node, then SIGKILL what is still running after ``timeout``."""
    for node in devnet.nodes:
        _signal(node.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(n.pid) for n in devnet.nodes):
        time.sleep(0.1)
    for node in devnet.nodes:
        _signal(node.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours counts as dead
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass
