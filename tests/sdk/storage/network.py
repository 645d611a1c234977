"""A real storage network for the storage client's tests: one dev validator and six storage node processes.

The chain is the storage node tests' (``tests.storage_node.service.chain``: the ``dev`` preset with the
``//Storage<i>`` accounts endowed), with the parameter overrides a test module needs (a small segment size
keeps many-segment files small). The storage nodes are the storage node tests' processes too
(``tests.storage_node.service.cluster``); :func:`start_network` returns once every one of them is registered
on chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from sdk.chain import Client
from tests.integration.nodes import NodeProcess, wait_until
from tests.storage_node.service.chain import start_storage_chain, ws_url
from tests.storage_node.service.cluster import StorageNodeProcess, start_cluster

__all__ = ["StorageNetwork", "start_network"]

START_TIMEOUT = 60.0


@dataclass
class StorageNetwork:
    chain: NodeProcess
    nodes: list[StorageNodeProcess]

    @property
    def url(self) -> str:
        return ws_url(self.chain)

    def node_of(self, account: bytes) -> StorageNodeProcess:
        return next(n for n in self.nodes if n.account == account)

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
        network.nodes = start_cluster(ws_url(chain), folder, storage_nodes)
        with Client(ws_url(chain)) as client:
            def registered() -> bool:
                return sum(1 for _ in client.query_map("StorageNodes", "Nodes")) >= storage_nodes

            wait_until(registered, START_TIMEOUT, f"{storage_nodes} storage nodes registered")
    except BaseException:
        network.stop()
        raise
    return network
