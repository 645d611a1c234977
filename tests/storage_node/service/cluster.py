"""Storage node processes (``python -m storage_node.service``) for integration and client tests: start, stop, kill.

A node binds port 0 and reports the port it got in ``<base>/endpoints.json`` once it is registered on chain
and serving (the launcher's readiness convention); :meth:`StorageNodeProcess.start` waits for that.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devnet.role import read_endpoints
from runtime.keyring import Keypair


@dataclass
class StorageNodeProcess:
    key: str
    """The operator account's secret URI."""
    chain_rpc: str
    base_path: Path
    capacity: str = "1GiB"
    process: subprocess.Popen | None = field(default=None, repr=False)
    port: int = 0

    @property
    def account(self) -> bytes:
        return Keypair.from_uri(self.key).public

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.base_path.with_suffix(".log")

    def spawn(self) -> "StorageNodeProcess":
        self.base_path.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "storage_node.service", "--chain-rpc", self.chain_rpc, "--key", self.key,
                 "--base-path", str(self.base_path), "--http-port", str(self.port), "--capacity", self.capacity],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 90.0) -> "StorageNodeProcess":
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.key} exited with {self.process.returncode}:\n{self.log_tail()}")
            endpoints = read_endpoints(self.base_path, self.process.pid)
            if endpoints is not None:
                self.port = endpoints["ports"]["http"]
                return self
            time.sleep(0.2)
        raise TimeoutError(f"{self.key} not ready within {timeout}s:\n{self.log_tail()}")

    def fragment_files(self) -> list[Path]:
        """The fragments it stores (``<file id>/<segment>.<fragment>``)."""
        return sorted((self.base_path / "store" / "fragments").glob("*/*"))

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else "(no log)"

    def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signum)
            if signum in (signal.SIGKILL, signal.SIGTERM):
                self.process.wait(15)
                self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)
            self.kill(signal.SIGTERM)


def start_cluster(chain_rpc: str, folder: Path, count: int) -> list[StorageNodeProcess]:
    """``count`` storage nodes (``//Storage0`` ..), started together, returned once all are ready."""
    nodes = [StorageNodeProcess(f"//Storage{i}", chain_rpc, folder / f"storage-{i}").spawn() for i in range(count)]
    try:
        for node in nodes:
            node.wait_ready()
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes
