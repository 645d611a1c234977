"""A real dev node (``cairn node --dev`` on loopback ports) for the chain client's tests.

One node serves the whole package's tests that only read or transfer; tests that stop, pause or restart
a node start their own (``own_node``).
"""

from __future__ import annotations

import pytest

from sdk.chain import AsyncClient
from tests.integration.nodes import NodeProcess, wait_until


def start_dev_node(base) -> NodeProcess:
    node = NodeProcess(["--dev"], base / "data", 0, 0, base / "node.log").start()
    wait_until(lambda: node.finalized() >= 1, 60, "first finalized block")
    return node


def ws_url(node: NodeProcess) -> str:
    return f"ws://127.0.0.1:{node.rpc_port}"


@pytest.fixture(scope="session")
def dev_node(tmp_path_factory):
    node = start_dev_node(tmp_path_factory.mktemp("sdk-dev-node"))
    yield node
    node.stop()


@pytest.fixture
def own_node(tmp_path):
    node = start_dev_node(tmp_path)
    yield node
    node.stop()


@pytest.fixture
def url(dev_node) -> str:
    return ws_url(dev_node)


@pytest.fixture
async def client(url):
    async with AsyncClient(url) as client:
        yield client
