"""Storage node processes (``python -m storage_node.service``) for integration and client tests: start, stop, kill.

A node binds port 0 and reports the port it got in ``<base>/endpoints.json`` once it is registered on chain
and serving (the launcher's readiness convention); :meth:`StorageNodeProcess.wait_ready` waits for that
(:class:`tests.integration.daemons.DaemonProcess`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.integration.daemons import DaemonProcess


@dataclass
class StorageNodeProcess(DaemonProcess):
    MODULE = "storage_node.service"

    capacity: str = "1GiB"

    def extra_args(self) -> list[str]:
        return ["--capacity", self.capacity]

    def fragment_files(self) -> list[Path]:
        """The fragments it stores (``<file id>/<segment>.<fragment>``)."""
        return sorted((self.base_path / "store" / "fragments").glob("*/*"))


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
