"""``evaluate``: a model's metrics on a labelled dataset, as JSON (no output files).

Inputs: ``model`` and ``dataset``. Result: ``samples``, ``classes``, ``accuracy``, ``loss`` (mean softmax
cross-entropy, computed with the fixed-order kernels, so it is the same double everywhere), ``per_class``
(for each class: ``support`` = samples labelled with it, ``predicted`` = samples predicted as it,
``correct``) and ``confusion`` (rows: true class, columns: predicted class).

Params: ``features``, optional: the samples' width, which the dataset must have (else the kind refuses it).
Given, it lets the cost estimate count samples (a dataset of S bytes holds at most S / (4 × features) of
them) rather than assume one feature each, so the chain gives a large job the commit window it needs and not
a far longer one, or refuses it past the longest job (see ``ComputeJobs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from compute_pallet.formats import MAX_FEATURES, Dataset, Model, load_dataset, load_model
from compute_pallet.kinds import mlp
from compute_pallet.kinds.params import Field, IntField, parse_params
from compute_pallet.kinds.types import InvalidInputs, KindOutput, Resources, ceil_div, expect_inputs

__all__ = ["FIELDS", "ForwardParams", "parse", "run", "resources", "matched_inputs"]

FIELDS: dict[str, Field] = {"features": IntField(low=0, high=MAX_FEATURES, default=0)}


@dataclass(frozen=True)
class ForwardParams:
    features: int
    """The dataset's width, declared for the cost estimate; 0: not declared (one feature per sample assumed)."""


def parse(params: bytes) -> ForwardParams:
    return parse_params(params, FIELDS, ForwardParams)


def matched_inputs(inputs: Mapping[str, bytes], params: ForwardParams, *,
                   require_labels: bool) -> tuple[Model, Dataset]:
    """The ``model`` and ``dataset`` inputs, decoded and checked to fit each other and the params."""
    expect_inputs(inputs, required=("model", "dataset"))
    model = load_model(inputs["model"])
    dataset = load_dataset(inputs["dataset"], require_labels=require_labels)
    if params.features and dataset.X.shape[1] != params.features:
        raise InvalidInputs(f"the params declare {params.features} features, the dataset has {dataset.X.shape[1]}")
    if dataset.X.shape[1] != model.layer_sizes[0]:
        raise InvalidInputs(f"model takes {model.layer_sizes[0]} features, dataset has {dataset.X.shape[1]}")
    if require_labels and dataset.y is not None and dataset.y.max() >= model.classes:
        raise InvalidInputs(f"label {dataset.y.max()} is past the model's {model.classes} classes")
    return model, dataset


def resources(params: bytes, input_sizes: Mapping[str, int]) -> Resources:
    """One forward pass of the model over the dataset: at most S / (4 × features) samples in a dataset of S
    bytes (one feature each when undeclared), each costing at most one multiply-add per model value (M/4 for
    a model of M bytes)."""
    features = max(1, parse(params).features)
    dataset, model = input_sizes.get("dataset", 0), input_sizes.get("model", 0)
    return Resources.for_work(ceil_div(dataset, 4 * features) * ceil_div(model, 4), 3 * dataset + 2 * model)


def run(inputs: Mapping[str, bytes], params: bytes, seed: bytes, *, xp: ModuleType = np) -> KindOutput:
    model, dataset = matched_inputs(inputs, parse(params), require_labels=True)
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
