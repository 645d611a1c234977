"""Real node processes on loopback for integration tests: start, wait until they answer, stop, kill.

Give a node port 0 and read the port it got from ``NodeProcess.rpc_port`` / ``p2p_port`` / ``ports`` once
``start`` returned (the node reports them in ``<base-path>/endpoints.json``): nothing is picked first and bound
later, so parallel or repeated runs never race for a port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devnet.launcher import wait_until
from devnet.role import read_endpoints
from devnet.rpc import rpc_call

__all__ = ["NodeProcess", "free_port", "killed_output", "rpc", "wait_until"]


def killed_output(process: subprocess.Popen) -> tuple[bytes, bytes]:
    """A child's output for a failed assertion's message, the child killed first: still running past a
    deadline, it would never end, and ``communicate()`` would wait on it for ever."""
    process.kill()
    return process.communicate(timeout=30)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now (racy: prefer port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc(port: int, method: str, params: list | None = None, timeout: float = 15.0):
    """One JSON-RPC call over HTTP. The deadline is generous: a node that just started may take seconds to answer
    while the whole suite shares two cores."""
    return rpc_call(f"http://127.0.0.1:{port}", method, params, timeout)


@dataclass
class NodeProcess:
    args: list[str]
    base_path: Path
    rpc_port: int
    p2p_port: int
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)
    ports: dict[str, int] = field(default_factory=dict)
    """Every port the running node reported (``p2p``, ``rpc``, ``prometheus`` when it serves metrics)."""

    def start(self, *, wait: float = 120.0) -> "NodeProcess":
        """Start the node and return once it listens; ports given as 0 are replaced by the ones it got (a
        restart keeps those)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        command = [sys.executable, "-m", "node", *self.args, "--base-path", str(self.base_path),
                   "--rpc-port", str(self.rpc_port), "--port", str(self.p2p_port)]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}")
            endpoints = read_endpoints(self.base_path, self.process.pid)
            if endpoints is not None:
                self.ports = endpoints["ports"]
                self.rpc_port, self.p2p_port = self.ports["rpc"], self.ports["p2p"]
                return self
            time.sleep(0.1)
        raise TimeoutError(f"node did not listen within {wait}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def kill(self) -> None:
        """``kill -9``: no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def best(self) -> int:
        return int(rpc(self.rpc_port, "chain_getHeader")["number"], 16)

    def finalized(self) -> int:
        return int(rpc(self.rpc_port, "chain_getHeader", [rpc(self.rpc_port, "chain_getFinalizedHead")])["number"], 16)

    def hash_at(self, number: int) -> str | None:
        return rpc(self.rpc_port, "chain_getBlockHash", [number])
