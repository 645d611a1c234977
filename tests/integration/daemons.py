"""Daemon processes for tests (``python -m storage_node.service``, ``python -m da_layer.service``): start, wait
until ready, stop, kill.

Every Cairn daemon takes ``--chain-rpc``, ``--key``, ``--base-path`` and ``--http-port``, binds port 0 when
asked and reports the port it got in ``<base-path>/endpoints.json`` once it is registered on chain and serving
(:func:`sdk.serving.write_endpoints`); :meth:`DaemonProcess.wait_ready` waits for that. A restart reuses the
port it got, so the endpoint the daemon registered stays right. A subclass names its module and adds its own
flags.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

from devnet.role import read_endpoints
from runtime.keyring import Keypair

__all__ = ["DaemonProcess"]


@dataclass
class DaemonProcess:
    MODULE: ClassVar[str]
    """What ``python -m`` runs."""

    key: str
    """The operator account's secret URI."""
    chain_rpc: str
    base_path: Path
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def account(self) -> bytes:
        return Keypair.from_uri(self.key).public

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.base_path.with_suffix(".log")

    def extra_args(self) -> list[str]:
        """The daemon's own flags."""
        return []

    def spawn(self) -> Self:
        """Start the process (:meth:`wait_ready` waits until it serves)."""
        self.base_path.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.MODULE, "--chain-rpc", self.chain_rpc, "--key", self.key,
                 "--base-path", str(self.base_path), "--http-port", str(self.port), *self.extra_args()],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 120.0) -> Self:
        """Return once the process reported its port; ``RuntimeError`` if it exits first."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.MODULE} {self.key} exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            endpoints = read_endpoints(self.base_path, self.process.pid)
            if endpoints is not None:
                self.port = endpoints["ports"]["http"]
                return self
            time.sleep(0.2)
        raise TimeoutError(f"{self.MODULE} {self.key} not ready within {timeout}s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else "(no log)"

    def kill(self, signum: int = signal.SIGKILL) -> None:
        """Send ``signum`` to the process group; after SIGKILL or SIGTERM, wait for the process to end."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signum)
            if signum in (signal.SIGKILL, signal.SIGTERM):
                self.process.wait(15)
                self.process = None

    def stop(self) -> None:
        """A clean stop (a paused process is resumed first); SIGKILL if it does not end in time."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)
            try:
                self.kill(signal.SIGTERM)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None
