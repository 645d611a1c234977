"""A real storage network for the storage client's tests: one dev validator and six storage node processes.

The chain is the storage node tests' (``tests.storage_node.service.chain``: the ``dev`` preset with the
``//Storage<i>`` accounts endowed), with the parameter overrides a test module needs (a small segment size
keeps many-segment files small). Each storage node is a ``python -m storage_node.service`` process on an
HTTP port it picks itself (read from its ``endpoints.json``); :func:`start_network` returns once every one
of them is registered on chain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import httpx

from devnet.role import read_endpoints
from runtime.keyring import Keypair
from sdk.chain import Client
from tests.integration.nodes import NodeProcess, wait_until
from tests.storage_node.service.chain import start_storage_chain, ws_url

__all__ = ["StorageProcess", "StorageNetwork", "start_network"]

START_TIMEOUT = 60.0


@dataclass
class StorageProcess:
    """One ``cairn storage-node`` process."""

    index: int
    base_path: Path
    chain_rpc: str
    process: subprocess.Popen | None = field(default=None, repr=False)
    http_port: int = 0

    @property
    def account_uri(self) -> str:
        return f"//Storage{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> "StorageProcess":
        self.base_path.mkdir(parents=True, exist_ok=True)
        log = (self.base_path.parent / f"storage-{self.index}.log").open("ab")
        command = [sys.executable, "-m", "storage_node.service", "--chain-rpc", self.chain_rpc, "--key", self.account_uri,
                   "--base-path", str(self.base_path), "--http-port", str(self.http_port), "--capacity", "1GiB"]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"storage node {self.index} exited with {self.process.returncode}")
            found = read_endpoints(self.base_path, self.process.pid)
            if found is not None:
                self.http_port = found["ports"]["http"]
                return self
            time.sleep(0.1)
        raise TimeoutError(f"storage node {self.index} did not listen within {START_TIMEOUT}s")

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(10)
        self.process = None

    def fragment_files(self) -> list[Path]:
        """The fragments it stores (``<file id>/<segment>.<fragment>``)."""
        return sorted((self.base_path / "store" / "fragments").glob("*/*"))


@dataclass
class StorageNetwork:
    chain: NodeProcess
    nodes: list[StorageProcess]

    @property
    def url(self) -> str:
        return ws_url(self.chain)

    def node_of(self, account: bytes) -> StorageProcess:
        return next(n for n in self.nodes if Keypair.from_uri(n.account_uri).public == account)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.chain.stop()


def start_network(folder: Path, params: Mapping[str, Mapping[str, Any]] | None = None, *,
                  storage_nodes: int = 6) -> StorageNetwork:
    folder.mkdir(parents=True, exist_ok=True)
    chain = start_storage_chain(folder, params)
    network = StorageNetwork(chain, [])
    try:
        for index in range(storage_nodes):
            network.nodes.append(StorageProcess(index, folder / f"storage-{index}", ws_url(chain)).start())
        with Client(ws_url(chain)) as client:
            def registered() -> bool:
                return sum(1 for _ in client.query_map("StorageNodes", "Nodes")) >= storage_nodes

            wait_until(registered, START_TIMEOUT, f"{storage_nodes} storage nodes registered")
    except BaseException:
        network.stop()
        raise
    return network
