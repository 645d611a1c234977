"""Backends: the same GF(2^8) coding done by ISA-L (CPU), CuPy (GPU) or NumPy (reference).

All produce identical bytes; they differ only in where they run and how fast. :func:`get_backend` picks
one by name. ``"auto"`` prefers the GPU when CuPy sees a CUDA device, then ISA-L, then NumPy; falling
back to NumPy because ISA-L is missing is announced by one :class:`IsalMissingWarning` per process.
A backend named explicitly that cannot run raises :class:`BackendUnavailableError` instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import cache

from storage_node.erasure.backends.base import Backend, Batch
from storage_node.erasure.errors import BackendUnavailableError, InvalidParametersError


class IsalMissingWarning(RuntimeWarning):
    """ISA-L could not be loaded: the much slower NumPy backend is used."""


def _isal() -> Backend:
    from storage_node.erasure.backends.isal_backend import IsalBackend

    return IsalBackend()


def _cupy() -> Backend:
    from storage_node.erasure.backends.cupy_backend import CupyBackend

    return CupyBackend()


def _numpy() -> Backend:
    from storage_node.erasure.backends.numpy_backend import NumpyBackend

    return NumpyBackend()


BACKEND_FACTORIES: dict[str, Callable[[], Backend]] = {"cupy": _cupy, "isal": _isal, "numpy": _numpy}
BACKEND_NAMES = ("auto", *BACKEND_FACTORIES)


@cache
def get_backend(name: str = "auto") -> Backend:
    """The backend called ``name`` (one instance per process), or the best available for ``"auto"``."""
    if name == "auto":
        return _best_available()
    factory = BACKEND_FACTORIES.get(name)
    if factory is None:
        raise InvalidParametersError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    return factory()


def available_backends() -> list[str]:
    """Names of the backends that can run in this process."""
    names = []
    for name in BACKEND_FACTORIES:
        try:
            get_backend(name)
        except BackendUnavailableError:
            continue
        names.append(name)
    return names


def _best_available() -> Backend:
    try:
        return get_backend("cupy")
    except BackendUnavailableError:
        pass
    try:
        return get_backend("isal")
    except BackendUnavailableError as missing:
        warnings.warn(f"{missing}. Falling back to the NumPy backend, about 20x slower.",
                      IsalMissingWarning, stacklevel=3)
    return get_backend("numpy")


__all__ = ["Backend", "Batch", "BACKEND_NAMES", "IsalMissingWarning", "available_backends", "get_backend"]
