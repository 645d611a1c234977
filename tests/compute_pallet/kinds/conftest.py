"""Digits, split once, and one model trained on it, shared by the kinds' tests (training takes ~0.5 s)."""

from __future__ import annotations

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
