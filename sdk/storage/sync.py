"""``Client.storage``: :class:`~sdk.storage.api.StorageApi` for blocking code, run in the client's event loop.

Each method runs the asynchronous one through the blocking client's portal (as every chain method of
:class:`sdk.chain.Client` does), so both clients share one implementation. A ``progress`` callback is
called from the loop's thread.
"""

from __future__ import annotations

from anyio.from_thread import BlockingPortal

from sdk.chain.sync import _blocking
from sdk.storage.api import StorageApi

__all__ = ["BlockingStorageApi"]


class BlockingStorageApi:
    """The blocking face of :class:`StorageApi` (same methods, same arguments, same errors)."""

    def __init__(self, portal: BlockingPortal, api: StorageApi) -> None:
        self._portal = portal
        self._client = api  # the name ``_blocking`` calls through

    @property
    def api(self) -> StorageApi:
        """The asynchronous API behind this one."""
        return self._client

    upload = _blocking(StorageApi.upload)
    download = _blocking(StorageApi.download)
    info = _blocking(StorageApi.info)
    ls = _blocking(StorageApi.ls)
    delete = _blocking(StorageApi.delete)
    register_key = _blocking(StorageApi.register_key)
    grant = _blocking(StorageApi.grant)
    revoke = _blocking(StorageApi.revoke)
    access_log = _blocking(StorageApi.access_log)
    nodes = _blocking(StorageApi.nodes)
