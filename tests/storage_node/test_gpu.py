"""The CuPy backend on a real GPU: skipped cleanly without CuPy or a CUDA device."""

from __future__ import annotations

import numpy as np
import pytest

from storage_node.erasure import BackendUnavailableError, ErasureCoder, get_backend

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cp():
    cupy = pytest.importorskip("cupy")
    try:
        get_backend("cupy")
    except BackendUnavailableError as error:
        pytest.skip(str(error))
    return cupy


@pytest.mark.parametrize("k, m, length", [(10, 4, 64 << 20), (4, 2, 1), (1, 255, 100_000), (17, 3, 12345)])
def test_device_input_matches_isal_without_leaving_the_gpu(cp, k, m, length):
    host = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8)
    reference = ErasureCoder(k, m, "isal").encode(host)
    coder = ErasureCoder(k, m, "cupy")
    fragments = coder.encode(cp.asarray(host))
    assert all(isinstance(fragment.payload, cp.ndarray) for fragment in fragments)
    assert all(np.array_equal(f.payload.get(), r.payload) for f, r in zip(fragments, reference))
    survivors = {f.index: f for f in fragments[min(m, k):]}
    decoded = coder.decode(survivors)
    assert isinstance(decoded, cp.ndarray) and np.array_equal(decoded.get(), host)


def test_host_input_is_pipelined_and_matches_isal(cp, monkeypatch):
    from storage_node.erasure.backends import cupy_backend

    monkeypatch.setattr(cupy_backend, "STAGING_BYTES", 1 << 20)       # many slices through both slots
    host = np.random.default_rng(1).integers(0, 256, 20_000_003, dtype=np.uint8)
    reference = ErasureCoder(10, 4, "isal").encode(host)
    coder = ErasureCoder(10, 4, "cupy")
    fragments = coder.encode(host)
    assert all(isinstance(fragment.payload, np.ndarray) for fragment in fragments)
    assert all(np.array_equal(f.payload, r.payload) for f, r in zip(fragments, reference))
    assert np.array_equal(coder.decode(fragments[4:]), host)


def test_batch_of_segments_in_one_launch(cp):
    segments = [cp.asarray(np.random.default_rng(n).integers(0, 256, 1 << 20, dtype=np.uint8)) for n in range(8)]
    batch = ErasureCoder(6, 3, "cupy").encode_batch(segments)
    reference = ErasureCoder(6, 3, "isal")
    for segment, fragments in zip(segments, batch):
        expected = reference.encode(segment.get())
        assert all(np.array_equal(f.payload.get(), e.payload) for f, e in zip(fragments, expected))
