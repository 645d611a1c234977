"""Byte vectors on the host (NumPy) or on a GPU (CuPy), viewed without copying.

The engine works on 1-D C-contiguous ``uint8`` arrays. :func:`as_byte_vector` turns what callers hand
in (``bytes``, ``bytearray``, ``memoryview``, any C-contiguous NumPy or CuPy array) into such a view;
only a non-contiguous array is copied. CuPy is never imported unless a CuPy array is seen.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

Array = Any
"""A 1-D ``uint8`` ``numpy.ndarray`` or ``cupy.ndarray``."""


def is_device_array(value: object) -> bool:
    """True for a CuPy array (decided from its type, without importing CuPy)."""
    return type(value).__module__.split(".")[0] == "cupy"


def array_module(vector: Array) -> ModuleType:
    """``cupy`` for a CuPy array, ``numpy`` otherwise."""
    if is_device_array(vector):
        import cupy

        return cupy
    return np


def as_byte_vector(data: object) -> Array:
    """A 1-D ``uint8`` view of ``data`` on the memory it already lives in."""
    if is_device_array(data) or isinstance(data, np.ndarray):
        xp = array_module(data)
        return xp.ascontiguousarray(data).reshape(-1).view(xp.uint8)
    return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)


def to_host(vector: Array) -> np.ndarray:
    """``vector`` as a NumPy array: itself on the host, a copy for a CuPy array."""
    return vector.get() if is_device_array(vector) else vector
