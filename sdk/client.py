"""The user-facing client: the chain client plus a signer, accounts, and one namespace per network.

``AsyncClient`` (``anyio``: trio or asyncio) and ``Client`` (blocking) are the chain clients of
:mod:`sdk.chain`, every chain method unchanged, with the account that signs (``signer``: a key pair or a
secret URI such as ``"//Alice"``) and the networks' namespaces, each built on first use and kept::

    with Client("ws://127.0.0.1:9944", signer="//Alice") as client:
        file_id = client.storage.upload("dataset.npz")
        client.storage.download(file_id, "copy.npz")

``file_cache=PublicFileCache(folder, max_bytes)`` keeps the public files downloaded on disk, to read them
again without fetching (:mod:`sdk.storage.cache`).

A namespace is a cached property of both classes: the asynchronous API built over the client, and for
``Client`` that API behind the client's portal.
"""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import Any, Sequence

from runtime.keyring import Keypair
from sdk import chain
from sdk.account.api import AccountApi
from sdk.account.sync import BlockingAccountApi
from sdk.chain.client import DEFAULT_URL
from sdk.chain.errors import BadArgument
from sdk.compute.api import ComputeApi
from sdk.compute.fl import FlApi
from sdk.compute.sync import BlockingComputeApi, BlockingFlApi
from sdk.da.api import DaApi
from sdk.da.sync import BlockingDaApi
from sdk.storage.api import StorageApi
from sdk.storage.cache import PublicFileCache
from sdk.storage.sync import BlockingStorageApi

__all__ = ["AsyncClient", "Client"]


def _keypair(signer: Keypair | str | None) -> Keypair | None:
    if signer is None or isinstance(signer, Keypair):
        return signer
    if isinstance(signer, str):
        return Keypair.from_uri(signer)  # InvalidSecretUri (a ValueError) for anything else
    raise BadArgument(f"signer must be a Keypair or a secret URI, got {type(signer).__name__}")


class AsyncClient(chain.AsyncClient):
    """The chain client with a ``signer`` and the ``account``, ``storage``, ``da``, ``compute`` and ``fl``
    namespaces. Takes the chain client's options."""

    def __init__(self, url: str | Sequence[str] = DEFAULT_URL, *, signer: Keypair | str | None = None,
                 file_cache: PublicFileCache | None = None, **chain_options: Any) -> None:
        self.signer = _keypair(signer)
        """The account that signs transactions and requests (``None``: read-only)."""
        self.file_cache = file_cache
        """Where ``storage.download`` keeps public files and reads them again (``None``: it always fetches)."""
        super().__init__(url, **chain_options)

    @cached_property
    def account(self) -> AccountApi:
        """Balances, holds and transfers, and the chain's token (:class:`sdk.account.AccountApi`)."""
        return AccountApi(self, self.signer)

    @cached_property
    def storage(self) -> StorageApi:
        """Files on the storage network (:class:`sdk.storage.StorageApi`)."""
        return StorageApi(self, self.signer, cache=self.file_cache)

    @cached_property
    def da(self) -> DaApi:
        """Blobs on the data-availability layer (:class:`sdk.da.api.DaApi`); its KZG worker processes and
        connections close with this client."""
        return DaApi(self, self.signer)

    @cached_property
    def compute(self) -> ComputeApi:
        """Jobs on the compute market (:class:`sdk.compute.ComputeApi`)."""
        return ComputeApi(self, self.signer, self.storage)

    @cached_property
    def fl(self) -> FlApi:
        """Federated-learning tasks (:class:`sdk.compute.FlApi`)."""
        return FlApi(self, self.signer, self.storage)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            for name in ("da", "storage"):  # the namespaces built, which hold processes and connections
                if name in self.__dict__:
                    await self.__dict__[name].aclose()
        finally:
            await super().__aexit__(exc_type, exc, tb)


class Client(chain.Client):
    """The blocking client with a ``signer`` and the ``account``, ``storage``, ``da``, ``compute`` and ``fl``
    namespaces. Takes :class:`AsyncClient`'s arguments and the event-loop ``backend``."""

    ASYNC_CLIENT = AsyncClient
    _client: AsyncClient

    def __init__(self, url: str | Sequence[str] = DEFAULT_URL, *, signer: Keypair | str | None = None,
                 **options: Any) -> None:
        super().__init__(url, signer=signer, **options)

    @property
    def signer(self) -> Keypair | None:
        return self._client.signer

    @cached_property
    def account(self) -> BlockingAccountApi:
        """Balances, holds and transfers, blocking (:class:`sdk.account.AccountApi`'s methods)."""
        return BlockingAccountApi(self._portal, self._client.account)

    @cached_property
    def storage(self) -> BlockingStorageApi:
        """Files on the storage network, blocking (:class:`sdk.storage.StorageApi`'s methods)."""
        return BlockingStorageApi(self._portal, self._client.storage)

    @cached_property
    def da(self) -> BlockingDaApi:
        """Blobs on the data-availability layer, blocking (:class:`sdk.da.api.DaApi`'s methods)."""
        return BlockingDaApi(self._portal, self._client.da)

    @cached_property
    def compute(self) -> BlockingComputeApi:
        """Jobs on the compute market, blocking (:class:`sdk.compute.ComputeApi`'s methods)."""
        return BlockingComputeApi(self._portal, self._client.compute)

    @cached_property
    def fl(self) -> BlockingFlApi:
        """Federated-learning tasks, blocking (:class:`sdk.compute.FlApi`'s methods)."""
        return BlockingFlApi(self._portal, self._client.fl)
