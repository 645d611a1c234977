"""Fixtures: a dev chain built from the real chain spec, the real client driven against it, dev keys."""

from __future__ import annotations

import pytest
from substrateinterface import Keypair as ClientKeypair

from node.chain_spec import preset
from devnet.local_chain import LocalChain
from tests.runtime.offline_client import offline_substrate


@pytest.fixture
def chain() -> LocalChain:
    return LocalChain(preset("dev"))


@pytest.fixture
def substrate(chain: LocalChain):
    client = offline_substrate(chain)
    client.init_runtime()
    return client


@pytest.fixture(scope="session")
def alice() -> ClientKeypair:
    return ClientKeypair.create_from_uri("//Alice")


@pytest.fixture(scope="session")
def bob() -> ClientKeypair:
    return ClientKeypair.create_from_uri("//Bob")
