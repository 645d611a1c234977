"""Backend selection, locating ISA-L, and the GPU kernel's launch plan run on the CPU."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from storage_node.erasure import BackendUnavailableError, ErasureCoder, backends
from storage_node.erasure.backends import IsalMissingWarning, get_backend, isal_library
from storage_node.erasure.backends import gpu_kernel
from storage_node.erasure.backends.numpy_backend import NumpyBackend


@pytest.fixture
def without_isal(monkeypatch):
    def missing():
        raise BackendUnavailableError("ISA-L not found (test)")

    monkeypatch.setitem(backends.BACKEND_FACTORIES, "isal", missing)
    monkeypatch.setitem(backends.BACKEND_FACTORIES, "cupy", missing)
    get_backend.cache_clear()
    yield
    get_backend.cache_clear()


def test_auto_falls_back_to_numpy_with_one_warning(without_isal):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = ErasureCoder(4, 2).backend
        second = ErasureCoder(4, 2).backend
    assert isinstance(first, NumpyBackend) and second is first
    assert [warning.category for warning in caught] == [IsalMissingWarning]
    assert "ISA-L not found" in str(caught[0].message)


def test_named_backend_that_cannot_run_raises(without_isal):
    with pytest.raises(BackendUnavailableError):
        ErasureCoder(4, 2, "isal")


def test_auto_prefers_isal_without_a_gpu():
    if "cupy" in backends.available_backends():
        pytest.skip("a GPU is present: auto picks cupy")
    assert ErasureCoder(4, 2).backend.name == "isal"


def test_isal_is_found_in_the_pyeclib_wheel_first():
    library, path = isal_library.load_isal()
    assert "libisal" in path
    candidates = list(isal_library.candidate_paths())
    assert candidates.index(path) < candidates.index("libisal.so.2")


def test_configured_isal_path_is_tried_first(monkeypatch):
    monkeypatch.setenv(isal_library.LIBRARY_ENVIRONMENT_VARIABLE, "/opt/isal/libisal.so.2")
    assert next(isal_library.candidate_paths()) == "/opt/isal/libisal.so.2"


def test_kernel_handles_many_rows_and_batches(cpu_kernel_backend):
    rng = np.random.default_rng(7)
    rows = rng.integers(0, 256, (9, 5), dtype=np.uint8)        # more rows than ROW_TILE
    sources = [list(rng.integers(0, 256, (5, 4096), dtype=np.uint8)) for _ in range(3)]
    expected = [[np.empty(4096, np.uint8) for _ in range(9)] for _ in range(3)]
    actual = [[np.empty(4096, np.uint8) for _ in range(9)] for _ in range(3)]
    reference = NumpyBackend()
    reference.apply(reference.prepare(rows), sources, expected)
    cpu_kernel_backend.apply(cpu_kernel_backend.prepare(rows), sources, actual)
    assert all(np.array_equal(a, e) for a_row, e_row in zip(actual, expected) for a, e in zip(a_row, e_row))


def test_launch_plan_splits_large_batches(monkeypatch):
    monkeypatch.setattr(gpu_kernel, "MAX_SEGMENTS_PER_LAUNCH", 2)
    shards = [[np.zeros(1024, np.uint8)] for _ in range(5)]
    launches = gpu_kernel.plan_launches(shards, shards, lambda vector: vector.ctypes.data)
    assert [launch.grid for launch in launches] == [(1, 2), (1, 2), (1, 1)]
    assert launches[0].columns == 64 and launches[0].block == (gpu_kernel.THREADS_PER_BLOCK,)


def test_launch_plan_refuses_misaligned_shards():
    misaligned = np.zeros(1040, np.uint8)[1:1025]
    with pytest.raises(ValueError, match="multiples of 16"):
        gpu_kernel.plan_launches([[misaligned]], [[misaligned]], lambda vector: vector.ctypes.data)
