"""``Client.compute`` and ``Client.fl``: :class:`~sdk.compute.api.ComputeApi` and :class:`~sdk.compute.fl.FlApi` for
blocking code, run in the client's event loop (as every chain method of :class:`sdk.chain.Client` is), so both
clients share one implementation. A ``progress`` callback is called from the loop's thread.
"""

from __future__ import annotations

from sdk.chain.sync import BlockingApi, blocking
from sdk.compute.api import ComputeApi
from sdk.compute.fl import FlApi

__all__ = ["BlockingComputeApi", "BlockingFlApi"]


class BlockingComputeApi(BlockingApi[ComputeApi]):
    """The blocking face of :class:`ComputeApi` (same methods, same arguments, same errors)."""

    providers = blocking(ComputeApi.providers)
    leave = blocking(ComputeApi.leave)
    stay = blocking(ComputeApi.stay)
    submit = blocking(ComputeApi.submit)
    status = blocking(ComputeApi.status)
    wait = blocking(ComputeApi.wait)
    result = blocking(ComputeApi.result)
    rerun = blocking(ComputeApi.rerun)
    lineage = blocking(ComputeApi.lineage)


class BlockingFlApi(BlockingApi[FlApi]):
    """The blocking face of :class:`FlApi` (same methods, same arguments, same errors)."""

    create_task = blocking(FlApi.create_task)
    join = blocking(FlApi.join)
    participate = blocking(FlApi.participate)
    status = blocking(FlApi.status)
