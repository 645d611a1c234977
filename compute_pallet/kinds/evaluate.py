"""``evaluate``: a model's metrics on a labelled dataset, as JSON (no output files).

Inputs: ``model`` and ``dataset``. Result: ``samples``, ``classes``, ``accuracy``, ``loss`` (mean softmax
cross-entropy, computed with the fixed-order kernels, so it is the same double everywhere), ``per_class``
(for each class: ``support`` = samples labelled with it, ``predicted`` = samples predicted as it,
``correct``) and ``confusion`` (rows: true class, columns: predicted class).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import numpy as np

from compute_pallet.formats import Dataset, Model, load_dataset, load_model
from compute_pallet.kinds import mlp
from compute_pallet.kinds.params import Field, NoParams, parse_params
from compute_pallet.kinds.types import InvalidInputs, KindOutput, Resources, ceil_div, expect_inputs

__all__ = ["FIELDS", "parse", "run", "resources", "matched_inputs", "forward_resources"]

FIELDS: dict[str, Field] = {}


def parse(params: bytes) -> NoParams:
    return parse_params(params, FIELDS, NoParams)


def matched_inputs(inputs: Mapping[str, bytes], *, require_labels: bool) -> tuple[Model, Dataset]:
    """The ``model`` and ``dataset`` inputs, decoded and checked to fit each other."""
    expect_inputs(inputs, required=("model", "dataset"))
    model = load_model(inputs["model"])
    dataset = load_dataset(inputs["dataset"], require_labels=require_labels)
    if dataset.X.shape[1] != model.layer_sizes[0]:
        raise InvalidInputs(f"model takes {model.layer_sizes[0]} features, dataset has {dataset.X.shape[1]}")
    if require_labels and dataset.y is not None and dataset.y.max() >= model.classes:
        raise InvalidInputs(f"label {dataset.y.max()} is past the model's {model.classes} classes")
    return model, dataset


def forward_resources(input_sizes: Mapping[str, int]) -> Resources:
    """One forward pass of the model over the dataset: at most S/4 samples (dataset of S bytes), each
    costing at most one multiply-add per model value (M/4 for a model of M bytes)."""
    dataset, model = input_sizes.get("dataset", 0), input_sizes.get("model", 0)
    return Resources.for_work(ceil_div(dataset, 4) * ceil_div(model, 4), 3 * dataset + 2 * model)


def resources(params: bytes, input_sizes: Mapping[str, int]) -> Resources:
    parse(params)
    return forward_resources(input_sizes)


def run(inputs: Mapping[str, bytes], params: bytes, seed: bytes, *, xp: ModuleType = np) -> KindOutput:
    parse(params)
    model, dataset = matched_inputs(inputs, require_labels=True)
    y = dataset.y
    assert y is not None  # required above
    measured = mlp.metrics(mlp.on(xp, model), xp.asarray(dataset.X), xp.asarray(y))
    classes = model.classes
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (y, measured.predictions), 1)
    per_class = [
        {"class": c, "support": int(confusion[c].sum()), "predicted": int(confusion[:, c].sum()),
         "correct": int(confusion[c, c])}
        for c in range(classes)
    ]
    result: dict[str, object] = {
        "samples": len(y),
        "classes": classes,
        "accuracy": measured.accuracy,
        "loss": measured.loss,
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }
    return KindOutput({}, result)
