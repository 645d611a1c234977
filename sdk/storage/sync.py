"""``Client.storage``: :class:`~sdk.storage.api.StorageApi` for blocking code, run in the client's event loop.

Each method runs the asynchronous one through the blocking client's portal (as every chain method of
:class:`sdk.chain.Client` does), so both clients share one implementation. A ``progress`` callback is
called from the loop's thread.
"""

from __future__ import annotations

from sdk.chain.sync import BlockingApi, blocking
from sdk.storage.api import StorageApi

__all__ = ["BlockingStorageApi"]


class BlockingStorageApi(BlockingApi[StorageApi]):
    """The blocking face of :class:`StorageApi` (same methods, same arguments, same errors)."""

    upload = blocking(StorageApi.upload)
    planned_id = blocking(StorageApi.planned_id)
    download = blocking(StorageApi.download)
    read = blocking(StorageApi.read)
    info = blocking(StorageApi.info)
    ls = blocking(StorageApi.ls)
    delete = blocking(StorageApi.delete)
    delete_all = blocking(StorageApi.delete_all)
    renew = blocking(StorageApi.renew)
    register_key = blocking(StorageApi.register_key)
    grant = blocking(StorageApi.grant)
    grant_all = blocking(StorageApi.grant_all)
    revoke = blocking(StorageApi.revoke)
    access_log = blocking(StorageApi.access_log)
    nodes = blocking(StorageApi.nodes)
    leave = blocking(StorageApi.leave)
