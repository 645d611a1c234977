"""Fixtures the provider tests on a real market share; each module starts its own ``market``."""

from __future__ import annotations

import pytest

from sdk.client import Client


@pytest.fixture(scope="module")
def alice(market):
    """The chain client of the module's market, signing as //Alice (who submits the jobs)."""
    with Client(market.url, signer="//Alice") as client:
        yield client
