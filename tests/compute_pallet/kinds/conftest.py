"""Digits, split once, and one model trained on it, shared by the kinds' tests (training takes ~0.5 s);
the array modules the kinds run on (CuPy's cases marked ``gpu``, skipped cleanly without a CUDA device)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from compute_pallet import datasets
from compute_pallet.kinds import KindOutput, train

TRAIN_PARAMS = b'{"epochs": 20, "hidden": [64]}'
SEED = b"test-seed"


@pytest.fixture(scope="session")
def digits() -> tuple[bytes, bytes]:
    """Digits' training part and held-out part, as dataset bytes."""
    return datasets.split("digits")


@pytest.fixture(scope="session")
def trained(digits: tuple[bytes, bytes]) -> KindOutput:
    return train.run({"dataset": digits[0]}, TRAIN_PARAMS, SEED)


@pytest.fixture(scope="module", params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request: pytest.FixtureRequest) -> ModuleType:
    if request.param == "numpy":
        return np
    cupy = pytest.importorskip("cupy")
    try:
        devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError, a driver mismatch: no usable GPU
        pytest.skip(f"no usable CUDA device: {exc}")
    if devices < 1:
        pytest.skip("no CUDA device")
    return cupy
