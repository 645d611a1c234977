"""``Client.da``: :class:`~sdk.da.api.DaApi` for blocking code, run in the client's event loop.

Each method runs the asynchronous one through the blocking client's portal, as every chain method of
:class:`sdk.chain.Client` does, so both clients share one implementation. A ``progress`` callback is called
from the loop's thread.
"""

from __future__ import annotations

from anyio.from_thread import BlockingPortal

from sdk.chain.sync import _blocking
from sdk.da.api import DaApi

__all__ = ["BlockingDaApi"]


class BlockingDaApi:
    """The blocking face of :class:`DaApi` (same methods, same arguments, same errors)."""

    def __init__(self, portal: BlockingPortal, api: DaApi) -> None:
        self._portal = portal
        self._client = api  # the name ``_blocking`` calls through

    @property
    def api(self) -> DaApi:
        """The asynchronous API behind this one."""
        return self._client

    submit = _blocking(DaApi.submit)
    status = _blocking(DaApi.status)
    sample = _blocking(DaApi.sample)
    get = _blocking(DaApi.get)
    nodes = _blocking(DaApi.nodes)
