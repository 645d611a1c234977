"""A real DA network on loopback for tests: one dev node and DA node processes (``python -m da_layer.service``).

DA nodes run as ``//Bob`` .. ``//Eve`` (endowed by the dev chain spec; ``//Alice`` submits), each with its
own base path, bind port 0 and report the port in ``endpoints.json``; a restart reuses the port it got, so
the endpoint the node registered stays right (:class:`tests.integration.daemons.DaemonProcess`).

A test module defines a module-scoped ``network`` fixture (:func:`start_da_network`) and imports ``pools``
and ``da`` from here: ``da`` is ``client.da`` on that network, signed by ``//Alice``, on KZG pools the
module's tests share.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Mapping

import pytest

from da_layer.kzg import PRECOMPUTE_COMPUTE
from da_layer.service.daemon import WITHHOLD_FILE
from node.chain_spec import PRESET_PARAMS, preset
from runtime.cairn import runtime_params
from sdk.client import AsyncClient
from sdk.da.api import DaApi
from sdk.da.pool import KzgPool
from tests.integration.daemons import DaemonProcess
from tests.integration.nodes import NodeProcess, wait_until

__all__ = ["DaNodeProcess", "DaNetwork", "start_da_network", "DA_KEYS", "KzgPools", "da_api", "pools", "da"]

DA_KEYS = ("//Bob", "//Charlie", "//Dave", "//Eve")


@dataclass
class DaNodeProcess(DaemonProcess):
    MODULE = "da_layer.service"

    host: str = "127.0.0.1"
    """Where it listens, and the host of the endpoint it registers (a restart on another loopback address
    moves it)."""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def cells_folder(self) -> Path:
        return self.base_path / "cells"

    def extra_args(self) -> list[str]:
        return ["--workers", "1", "--host", self.host]

    def withhold(self, on: bool) -> None:
        """Make the node withhold its cells (``cairn devnet withhold``'s switch), or serve them again."""
        switch = self.base_path / WITHHOLD_FILE
        if on:
            switch.touch()
        else:
            switch.unlink(missing_ok=True)


@dataclass
class DaNetwork:
    chain: NodeProcess
    nodes: list[DaNodeProcess]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.chain.rpc_port}"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.chain.stop()


def start_da_network(base: Path, count: int = len(DA_KEYS), *,
                     params: Mapping[str, Mapping[str, Any]] | None = None) -> DaNetwork:
    """The dev chain (``params``: runtime parameter overrides, by pallet, over the dev preset's) and ``count``
    DA nodes, all ready."""
    if params:
        layers = (PRESET_PARAMS["dev"], params)
        merged = {pallet: {k: v for layer in layers for k, v in layer.get(pallet, {}).items()}
                  for pallet in {name for layer in layers for name in layer}}
        base.mkdir(parents=True, exist_ok=True)
        spec_path = base / "spec.json"
        replace(preset("dev"), runtime=runtime_params(merged)).save(spec_path)
        args = ["--chain", str(spec_path), "--validator", "--key", "//Alice"]  # what --dev is, on that spec
    else:
        args = ["--dev"]
    chain = NodeProcess(args, base / "chain", 0, 0, base / "chain.log").start()
    network = DaNetwork(chain, [])
    try:
        wait_until(lambda: chain.finalized() >= 1, 60, "first finalized block")
        url = f"ws://127.0.0.1:{chain.rpc_port}"
        for index, key in enumerate(DA_KEYS[:count]):
            network.nodes.append(DaNodeProcess(key, url, base / f"da-{index}").spawn())
        for node in network.nodes:
            node.wait_ready()
    except BaseException:
        network.stop()
        raise
    return network


@dataclass
class KzgPools:
    """One verifying and one encoding pool (one worker each) that a module's tests share: a test pays for
    neither loading the trusted setup nor starting workers."""

    verify: KzgPool = field(default_factory=lambda: KzgPool(1))
    encode: KzgPool = field(default_factory=lambda: KzgPool(1, precompute=PRECOMPUTE_COMPUTE))

    def close(self) -> None:
        self.verify.close()
        self.encode.close()


@asynccontextmanager
async def da_api(network: DaNetwork, pools: KzgPools, signer: str = "//Alice") -> AsyncIterator[DaApi]:
    """``client.da`` on the network's chain, on the shared pools (left running for the next test)."""
    async with AsyncClient(network.url, signer=signer) as client:
        api = DaApi(client, client.signer, pool=pools.verify, encoder=pools.encode)
        try:
            yield api
        finally:
            await api.peers.aclose()


@pytest.fixture(scope="module")
def pools() -> Iterator[KzgPools]:
    shared = KzgPools()
    yield shared
    shared.close()


@pytest.fixture
async def da(network: DaNetwork, pools: KzgPools) -> AsyncIterator[DaApi]:
    async with da_api(network, pools) as api:
        yield api
