"""``Client.da``: :class:`~sdk.da.api.DaApi` for blocking code, run in the client's event loop.

Each method runs the asynchronous one through the blocking client's portal, as every chain method of
:class:`sdk.chain.Client` does, so both clients share one implementation. A ``progress`` callback is called
from the loop's thread.
"""

from __future__ import annotations

from sdk.chain.sync import BlockingApi, blocking
from sdk.da.api import DaApi

__all__ = ["BlockingDaApi"]


class BlockingDaApi(BlockingApi[DaApi]):
    """The blocking face of :class:`DaApi` (same methods, same arguments, same errors)."""

    submit = blocking(DaApi.submit)
    status = blocking(DaApi.status)
    sample = blocking(DaApi.sample)
    get = blocking(DaApi.get)
    nodes = blocking(DaApi.nodes)
    leave = blocking(DaApi.leave)
    bond = blocking(DaApi.bond)
