"""Real node processes on loopback for integration tests: start, wait until they answer, stop, kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devnet.launcher import free_port, rpc_call, wait_until

__all__ = ["NodeProcess", "free_port", "rpc", "wait_until"]


def rpc(port: int, method: str, params: list | None = None, timeout: float = 5.0):
    return rpc_call(f"http://127.0.0.1:{port}", method, params, timeout)


@dataclass
class NodeProcess:
    args: list[str]
    base_path: Path
    rpc_port: int
    p2p_port: int
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, *, wait: float = 30.0) -> "NodeProcess":
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
            try:
                rpc(self.rpc_port, "system_health", timeout=1)
                return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"node did not answer RPC within {wait}s:\n{self.log_path.read_text()[-3000:]}")

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
