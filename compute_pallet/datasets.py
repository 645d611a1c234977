"""The datasets bundled with scikit-learn (digits, breast cancer, wine) in the compute market's format.

They ship inside the scikit-learn wheel, so tests, demos and benchmarks get real data without a network.
``split`` cuts one into a training and a held-out part by a fixed permutation (the same on every machine:
``kinds.draws`` under the seed ``b"cairn/datasets"``), so a model trained on the first can be judged on the
second by ``evaluate`` or independently.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import datasets as sklearn_datasets
from sklearn.utils import Bunch

from compute_pallet.formats import Dataset, load_dataset, save_dataset
from compute_pallet.kinds import draws

__all__ = ["NAMES", "HELD_OUT", "load", "shard", "split"]

_LOADERS: dict[str, Callable[..., Bunch]] = {
    "digits": sklearn_datasets.load_digits,  # 1797 × 64 (8×8 pixel intensities 0-16), 10 classes
    "breast_cancer": sklearn_datasets.load_breast_cancer,  # 569 × 30, 2 classes
    "wine": sklearn_datasets.load_wine,  # 178 × 13, 3 classes
}
NAMES = tuple(_LOADERS)
HELD_OUT = 0.2
_SEED = b"cairn/datasets"


def load(name: str) -> Dataset:
    """The whole dataset ``name`` (one of ``NAMES``), X as float32 and y as int64."""
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(NAMES)}")
    bunch = _LOADERS[name]()
    return Dataset(np.asarray(bunch.data, dtype=np.float32), np.asarray(bunch.target, dtype=np.int64))


def split(name: str, held_out: float = HELD_OUT) -> tuple[bytes, bytes]:
    """``name``'s training and held-out parts as ``.npz`` bytes; ``held_out`` of the samples (rounded
    down) go to the second."""
    if not 0 < held_out < 1:
        raise ValueError(f"held_out {held_out} is not a share strictly between 0 and 1")
    dataset = load(name)
    assert dataset.y is not None
    order = draws.permutation(_SEED, name.encode(), len(dataset.y))
    cut = int(len(order) * held_out)
    held, kept = np.sort(order[:cut]), np.sort(order[cut:])
    return (save_dataset(Dataset(dataset.X[kept], dataset.y[kept])),
            save_dataset(Dataset(dataset.X[held], dataset.y[held])))


def shard(data: bytes, index: int, count: int) -> bytes:
    """Every ``count``-th sample of the labelled dataset ``data`` from the ``index``-th on, as ``.npz`` bytes:
    ``count`` disjoint shards that together hold every sample, e.g. the local data of federated participants."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index} of {count} does not exist")
    dataset = load_dataset(data)
    assert dataset.y is not None
    return save_dataset(Dataset(dataset.X[index::count], dataset.y[index::count]))
