"""Cairn SDK: the client library and the ``cairn`` command line.

``Client`` (blocking) and ``AsyncClient`` (``anyio``) are the user-facing clients: the chain client of
:mod:`sdk.chain` with a signer and the networks' namespaces (``storage``); :mod:`sdk.client` says how.
They are imported on first use, so that ``import sdk.chain`` (daemons, the devnet) does not load the
networks' coding and crypto stacks.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["Client", "AsyncClient"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("sdk.client"), name)
    raise AttributeError(f"module 'sdk' has no attribute {name!r}")
