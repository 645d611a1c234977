"""Pinned digests of train, evaluate, infer and fedavg on digits, computed before the kinds became generic
over the array module: any drift of a single bit in the CPU path (a reduction reordered, a signed zero
lost) fails here, on any machine, since the digests agree across BLAS kernels and SIMD levels; and the
GPU path (``xp=cupy``, where a CUDA device is) must reach the very same digests."""

from __future__ import annotations

import io
from types import ModuleType

import numpy as np
import pytest

from compute_pallet.formats import Dataset, save_dataset
from compute_pallet.kinds import KindOutput, evaluate, fedavg, infer, mlp, result_digest, train
from tests.compute_pallet.kinds.conftest import SEED, TRAIN_PARAMS


def _digest(output: KindOutput) -> str:
    return result_digest(output.outputs, output.result).hex()


@pytest.fixture(scope="module")
def trained_here(digits: tuple[bytes, bytes], xp: ModuleType) -> KindOutput:
    """The shared trained model, trained again with ``xp``."""
    return train.run({"dataset": digits[0]}, TRAIN_PARAMS, SEED, xp=xp)


@pytest.fixture(scope="module")
def deep(digits: tuple[bytes, bytes], xp: ModuleType) -> KindOutput:
    """Two hidden layers, weight decay and a last minibatch of 38 samples (1438 training rows, batches of 50)."""
    params = b'{"hidden": [32, 16], "epochs": 3, "batch_size": 50, "weight_decay": 0.001, "validation_split": 0.0}'
    return train.run({"dataset": digits[0]}, params, b"pinned", xp=xp)


@pytest.fixture(scope="module")
def updates(digits: tuple[bytes, bytes], trained_here: KindOutput, xp: ModuleType) -> dict[str, bytes]:
    """The trained model and one more epoch of it on each of two halves of digits."""
    base = trained_here.outputs["model.safetensors"]
    data = np.load(io.BytesIO(digits[0]))
    halves = [save_dataset(Dataset(data["X"][i::2], data["y"][i::2])) for i in range(2)]
    more = [train.run({"dataset": half, "model": base}, b'{"epochs": 1}', SEED, xp=xp).outputs["model.safetensors"]
            for half in halves]
    return {"base": base, "updates.0": base, "updates.1": more[0], "updates.2": more[1]}


def test_training_digests_are_pinned(trained_here: KindOutput, deep: KindOutput) -> None:
    assert _digest(trained_here) == "77264b248fec80e554e92103788986d7560421e2f4c751356645d48a29f3def9"
    assert _digest(deep) == "19c7f1333ebeade2ca55d539db9531340e816d0006bf38a78b98eb7a00dac426"


def test_evaluate_and_infer_digests_are_pinned(digits: tuple[bytes, bytes], deep: KindOutput, xp: ModuleType) -> None:
    inputs = {"model": deep.outputs["model.safetensors"], "dataset": digits[1]}
    assert _digest(evaluate.run(inputs, b"{}", b"", xp=xp)) == (
        "25e39f18f1571d23ce02e72055869be2ced04eb1964bc6ea6da472a3937027d8")
    assert _digest(infer.run(inputs, b"{}", b"", xp=xp)) == (
        "1606b47d93fd7f2043fc84015d4cb84dfc2bc4cf02c5240a4644e04a7dd8763e")


@pytest.mark.parametrize(("params", "validation", "pinned"), [
    (b'{"features": 64, "weights": [3, 1, 2]}', True,
     "6c49c9cba3b613646857159a7e2dd5b824ba0af3f52cb4d9975c2456ad03a8b3"),
    (b'{"aggregation": "median"}', False, "20c0c9ff9e988952cd61e87bc56fa8211845e5a2e79446d0d9d7e8ba14eb8a5d"),
])
def test_fedavg_digests_are_pinned(digits: tuple[bytes, bytes], updates: dict[str, bytes], params: bytes,
                                   validation: bool, pinned: str, xp: ModuleType) -> None:
    inputs = {**updates, "validation": digits[1]} if validation else updates
    assert _digest(fedavg.run(inputs, params, b"", xp=xp)) == pinned


def test_forward_passes_cut_into_chunks_change_no_bit(digits: tuple[bytes, bytes], deep: KindOutput, xp: ModuleType,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``mlp.chunks`` bounds a forward pass's memory; a few rows a chunk must give the very same digests."""
    inputs = {"model": deep.outputs["model.safetensors"], "dataset": digits[1]}
    train_params = b'{"hidden": [32, 16], "epochs": 1, "validation_split": 0.2}'
    runs = {"evaluate": lambda: evaluate.run(inputs, b"{}", b"", xp=xp),
            "infer": lambda: infer.run(inputs, b"{}", b"", xp=xp),
            "train": lambda: train.run({"dataset": digits[0]}, train_params, SEED, xp=xp)}
    whole = {name: _digest(run()) for name, run in runs.items()}
    monkeypatch.setattr(mlp, "FORWARD_BUDGET_BYTES", 5_000)  # 4 rows a chunk for the deep model
    assert {name: _digest(run()) for name, run in runs.items()} == whole
