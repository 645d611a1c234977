"""The blocking ``Client``'s layer APIs have every public method of the async ones (``leave`` was once missing)."""

from __future__ import annotations

import inspect

import pytest

from sdk.account.api import AccountApi
from sdk.account.sync import BlockingAccountApi
from sdk.compute.api import ComputeApi
from sdk.compute.fl import FlApi
from sdk.compute.sync import BlockingComputeApi, BlockingFlApi
from sdk.da.api import DaApi
from sdk.da.sync import BlockingDaApi
from sdk.storage.api import StorageApi
from sdk.storage.sync import BlockingStorageApi

CLOSED_BY_THE_CLIENT = {"aclose"}


@pytest.mark.parametrize(("blocking", "asynchronous"), [
    (BlockingAccountApi, AccountApi), (BlockingStorageApi, StorageApi), (BlockingDaApi, DaApi), (BlockingComputeApi, ComputeApi), (BlockingFlApi, FlApi)])
def test_every_public_coroutine_has_a_blocking_twin(blocking, asynchronous):
    public = {name for name, _ in inspect.getmembers(asynchronous, inspect.iscoroutinefunction)
              if not name.startswith("_")}
    assert public - CLOSED_BY_THE_CLIENT <= set(vars(blocking))
