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

from compute_pallet.formats import MAX_CLASSES, MAX_FEATURES, Dataset, Model, load_dataset, load_model
from compute_pallet.kinds import mlp
from compute_pallet.kinds.params import Field, IntField, parse_params
from compute_pallet.kinds.types import InvalidInputs, KindOutput, Resources, ceil_div, expect_inputs

__all__ = ["FIELDS", "ForwardParams", "parse", "run", "resources", "max_classes", "max_samples", "pass_macs",
           "dataset_samples", "matched_inputs"]

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
    a model of M bytes) and the softmax of at most ``max_classes(M)`` classes. Memory: the inputs and their
    decoded arrays, the chunked pass's budget (``mlp.FORWARD_BUDGET_BYTES``) and each sample's loss term and
    prediction (16 B)."""
    samples, model = dataset_samples(params, input_sizes), input_sizes.get("model", 0)
    dataset = input_sizes.get("dataset", 0)
    return Resources.for_work(pass_macs(samples, model),
                              3 * dataset + 2 * model + mlp.FORWARD_BUDGET_BYTES + 16 * samples)


def max_classes(model_size: int) -> int:
    """The most outputs a model of ``model_size`` bytes can have: each takes a bias and a weight at least."""
    return max(1, min(MAX_CLASSES, ceil_div(model_size, 8)))


def pass_macs(samples: int, model_size: int) -> int:
    """The most multiply-adds of one forward pass of ``samples`` rows through a model of ``model_size`` bytes,
    softmax included: one per model value, and ``mlp.SOFTMAX_MACS`` per class of at most ``max_classes``."""
    return samples * (ceil_div(model_size, 4) + max_classes(model_size) * mlp.SOFTMAX_MACS)


def max_samples(dataset_size: int, features: int) -> int:
    """The most rows a dataset of ``dataset_size`` bytes holds: 4 bytes per feature each (one feature when the
    width is not declared, ``features`` 0)."""
    return ceil_div(dataset_size, 4 * max(1, features))


def dataset_samples(params: bytes, input_sizes: Mapping[str, int]) -> int:
    """The most rows of the ``dataset`` input, by its size and the declared ``features``."""
    return max_samples(input_sizes.get("dataset", 0), parse(params).features)


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
