"""``train``: an MLP classifier fitted to a labelled dataset, bit for bit the same on every honest machine.

Inputs: ``dataset`` (a labelled ``.npz``) and optionally ``model``, a model to start from (federated
participants train the round's global model further): its architecture and input normalisation are kept,
and ``hidden`` / ``classes``, if given, must match it (fresh models default to one hidden layer of 64 and
one class more than the largest label, up to 10 unless ``classes`` is declared). Output:
``model.safetensors``, whose metadata records the params and the seed.

Params: the recipe's (below) and ``features``, optional: the samples' width, which the dataset must have
(else the kind refuses it, the same on every provider). Declared, it lets the cost estimate count the
samples a dataset of S bytes can hold (S / (4 × features + 8)) instead of assuming the worst of both: as
many samples as 12-byte rows allow and as many feature values as S / 4, so an MNIST-sized job is estimated
at a quarter of the time (see ``resources``), and the chain sizes its commit window to match.

The recipe, all of it drawn from the job's seed (``draws``): a validation share of the samples is held
out by a seeded permutation; inputs are standardised with the training part's mean and standard
deviation (a constant feature keeps std 1); weights start He-uniform (±sqrt(6 / fan_in)), biases at 0;
each epoch visits the training samples in a freshly drawn order in minibatches of ``batch_size`` (the
last one smaller), and each step is SGD with classical momentum and L2 weight decay:
``v = momentum * v + (grad + weight_decay * W)``, ``W = W - learning_rate * v``.

**Determinism.** Every product and reduction goes through ``kernels`` (fixed order, no BLAS, no fused
multiply-add, own ``exp`` / ``log``), so the model's bytes and the reported losses depend only on the
inputs, params and seed, not on the BLAS core type, the thread count or the SIMD level; a test trains
in processes with different ``OPENBLAS_CORETYPE``, thread counts and disabled numpy CPU features and
compares digests. Disagreeing providers therefore disagree on the work itself, and the pallet needs no
tolerance check. The price is the kernels' speed (see ``kernels``): digits trains in under a second.
With ``xp=cupy`` the same steps run on the GPU, with the same bits unless a float32 subnormal, which CuPy
flushes to zero, decides the outcome (see ``kernels``); the seeded draws and the standardisation stay on
the host.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from compute_pallet.formats import (MAX_CLASSES, MAX_FEATURES, MAX_WIDTH, Dataset, Model, load_dataset, load_model,
                                    save_model)
from compute_pallet.kinds import draws, mlp
from compute_pallet.kinds.params import FloatField, IntField, IntListField, parse_params
from compute_pallet.kinds.types import InvalidInputs, KindOutput, Resources, ceil_div, expect_inputs

__all__ = ["FIELDS", "DEFAULT_HIDDEN", "STEP_MACS", "TrainParams", "Diverged", "parse", "check", "run", "resources"]

FIELDS = {
    "hidden": IntListField(low=1, high=MAX_WIDTH, min_length=0, max_length=4, default=None),
    "classes": IntField(low=0, high=MAX_CLASSES, default=0),
    "epochs": IntField(low=1, high=1000, default=20),
    "batch_size": IntField(low=1, high=4096, default=32),
    "learning_rate": FloatField(low=1e-6, high=10.0, default=0.05),
    "momentum": FloatField(low=0.0, high=0.99, default=0.9),
    "weight_decay": FloatField(low=0.0, high=1.0, default=0.0),
    "validation_split": FloatField(low=0.0, high=0.5, default=0.1),
    "features": IntField(low=0, high=MAX_FEATURES, default=0),
}

DEFAULT_HIDDEN = (64,)
_ESTIMATED_CLASSES = 10
"""Classes ``resources`` counts when ``classes`` is left to the labels of a fresh model; labels past it are
refused unless ``classes`` is declared (a 1,000-class dataset would outlast its estimate a hundredfold)."""
FRESH_MODEL_BYTES = 32
"""Bytes per parameter of a fresh model: weights, gradients and velocity (float32 each), and while a layer is
initialised, its draws (``draws.uniform``: the byte stream, its shifted bits and two float32 steps). Without
it, params of a fresh model wider than its input (``{"hidden": [4096], "features": 65536}`` on a tiny dataset)
were estimated at a tenth of what they need, and every provider ran out of memory (and was slashed)."""
STEP_MACS = 40_000
"""A minibatch step's fixed cost (Python and array set-up: ~77 µs measured at batch size 1) in multiply-adds
at ``MACS_PER_SECOND``, with the same margin: batches of one sample would otherwise be estimated at nothing."""


class Diverged(InvalidInputs):
    """Training overflowed (a weight became infinite or NaN): the learning rate is too high for the data.
    Every honest provider stops at the same step, so this too is a reproducible outcome."""


@dataclass(frozen=True)
class TrainParams:
    hidden: tuple[int, ...] | None
    """Hidden layer widths; None: the starting model's, or ``DEFAULT_HIDDEN``."""
    classes: int
    """Output width; 0: the starting model's, or one more than the largest label."""
    epochs: int
    batch_size: int
    learning_rate: float
    momentum: float
    weight_decay: float
    validation_split: float
    """Share of samples held out (rounded down) to report validation loss and accuracy."""
    features: int
    """The dataset's width, declared for the cost estimate; 0: not declared."""


def parse(params: bytes) -> TrainParams:
    return parse_params(params, FIELDS, TrainParams)


def resources(params: bytes, input_sizes: Mapping[str, int]) -> Resources:
    """An upper bound of one run, from the dataset's size S and the starting model's size M (stored ``.npz``
    members only: ``load_dataset`` refuses compressed ones, whose bytes would not bound their arrays).

    Samples: at most S / (4d + 8) with ``features`` d declared (4 B of X per feature, 8 B of y), else S / 12.
    Work: per epoch, three passes (forward, backward, update) over every sample, then one forward pass over
    all of them for the metrics, the softmax of each of those forward passes (``mlp.SOFTMAX_MACS`` per class),
    and a fixed cost per minibatch step (``STEP_MACS``). Without a starting
    model the layers are the params' (or the defaults, with at most ``_ESTIMATED_CLASSES`` classes: more
    labels than that are refused unless ``classes`` is declared); with d declared each sample goes through
    every layer, undeclared at most S / 4 feature values reach the first one. A starting model decides the
    layers whatever the params say: a sample costs one multiply-add per weight, at most M / 4, and its
    activations are counted from ``hidden`` and ``classes`` when declared (the kind checks them against the
    model), else bounded by M / 4 too, which only a declaration tightens.
    Memory: the input's bytes and its decoded arrays, the float64 copies that standardising the inputs holds
    at once (``_start``: 6 B per input byte), the model three times (weights, gradients, velocity; a fresh one
    counted from its layers, :data:`FRESH_MODEL_BYTES` per parameter, its first layer's width the declared
    ``features`` or at most S / 4), and per
    sample its activations (4 B per unit) and the softmax's float64 temporaries (``mlp.SOFTMAX_BYTES`` per
    class), since the metrics pass holds them for every training row at once."""
    p = parse(params)
    size, model = input_sizes.get("dataset", 0), input_sizes.get("model", 0)
    samples = ceil_div(size, 4 * p.features + 8) if p.features else ceil_div(size, 12)
    fresh = 0
    if model:
        macs = samples * ceil_div(model, 4)
        classes = p.classes or MAX_CLASSES
        units = ceil_div(model, 4) if p.hidden is None else sum(p.hidden) + classes
    else:
        layers = [*(DEFAULT_HIDDEN if p.hidden is None else p.hidden), p.classes or _ESTIMATED_CLASSES]
        later = sum(a * b for a, b in zip(layers, layers[1:]))
        first = samples * p.features if p.features else ceil_div(size, 4)
        macs = first * layers[0] + samples * later
        classes, units = layers[-1], sum(layers)
        width = p.features or min(ceil_div(size, 4), MAX_FEATURES)  # the first layer's inputs
        fresh = FRESH_MODEL_BYTES * (width * layers[0] + later + sum(layers))
    steps = p.epochs * ceil_div(samples, p.batch_size)
    softmax = (p.epochs + 1) * samples * classes * mlp.SOFTMAX_MACS
    memory = 8 * size + (3 * model if model else fresh) + samples * (4 * units + mlp.SOFTMAX_BYTES * classes)
    return Resources.for_work((3 * p.epochs + 1) * macs + softmax + steps * STEP_MACS, memory)


def _start(dataset: Dataset, train_rows: np.ndarray, hidden: tuple[int, ...], classes: int, seed: bytes) -> Model:
    """A fresh model: He-uniform weights, zero biases, the training rows' standardisation."""
    X = dataset.X[train_rows].astype(np.float64)
    mean = X.sum(axis=0) / len(X)
    std = np.sqrt(((X - mean) ** 2).sum(axis=0) / len(X))
    std[std == 0] = 1.0
    sizes = (dataset.X.shape[1], *hidden, classes)
    weights = tuple(draws.uniform(seed, f"init/{i}".encode(), (out, fan_in), math.sqrt(6.0 / fan_in))
                    for i, (fan_in, out) in enumerate(zip(sizes, sizes[1:])))
    biases = tuple(np.zeros(out, dtype=np.float32) for out in sizes[1:])
    return Model(weights, biases, mean.astype(np.float32), std.astype(np.float32))


def _resume(data: bytes, p: TrainParams, features: int) -> Model:
    """The given model, as writable copies, after checking it fits the params and the dataset."""
    model = load_model(data)
    sizes = model.layer_sizes
    if sizes[0] != features:
        raise InvalidInputs(f"model takes {sizes[0]} features, dataset has {features}")
    if p.hidden is not None and p.hidden != sizes[1:-1]:
        raise InvalidInputs(f"hidden {list(p.hidden)} does not match the model's {list(sizes[1:-1])}")
    if p.classes and p.classes != model.classes:
        raise InvalidInputs(f"classes {p.classes} does not match the model's {model.classes}")
    return Model(tuple(w.copy() for w in model.weights), tuple(b.copy() for b in model.biases),
                 model.mean, model.std)


def _prepared(inputs: Mapping[str, bytes], p: TrainParams, seed: bytes) -> tuple[Model, Dataset, np.ndarray,
                                                                                  np.ndarray]:
    """The starting model, the dataset and its validation and training rows, every input checked."""
    expect_inputs(inputs, required=("dataset",), optional=("model",))
    dataset = load_dataset(inputs["dataset"])
    X, y = dataset.X, dataset.y
    assert y is not None  # load_dataset requires labels
    if p.features and X.shape[1] != p.features:
        raise InvalidInputs(f"the params declare {p.features} features, the dataset has {X.shape[1]}")
    order = draws.permutation(seed, b"split", len(y))
    held_out = int(len(y) * p.validation_split)
    validation_rows, train_rows = order[:held_out], order[held_out:]
    if "model" in inputs:
        model = _resume(inputs["model"], p, X.shape[1])
    else:
        hidden = DEFAULT_HIDDEN if p.hidden is None else p.hidden
        if not p.classes and y.max() >= _ESTIMATED_CLASSES:
            raise InvalidInputs(f"labels reach {y.max()}: declare classes (the estimate assumed at most "
                                f"{_ESTIMATED_CLASSES} when it is left to the labels)")
        model = _start(dataset, train_rows, hidden, p.classes or int(y.max()) + 1, seed)
    if y.max() >= model.classes:
        raise InvalidInputs(f"label {y.max()} is past the model's {model.classes} classes")
    return model, dataset, validation_rows, train_rows


def check(inputs: Mapping[str, bytes], params: bytes) -> None:
    """Raise what :func:`run` would refuse these inputs and params with, without training (a federated
    participant's local data, checked against the task's model before it stakes anything)."""
    _prepared(inputs, parse(params), bytes(32))


def run(inputs: Mapping[str, bytes], params: bytes, seed: bytes, *, xp: ModuleType = np) -> KindOutput:
    p = parse(params)
    model, dataset, validation_rows, train_rows = _prepared(inputs, p, seed)
    X, y = dataset.X, dataset.y
    assert y is not None  # load_dataset requires labels
    model, X, y = mlp.on(xp, model), xp.asarray(X), xp.asarray(y)
    validation_rows, train_rows = xp.asarray(validation_rows), xp.asarray(train_rows)

    rate, momentum, decay = np.float32(p.learning_rate), np.float32(p.momentum), np.float32(p.weight_decay)
    values = [*model.weights, *model.biases]
    velocity = [xp.zeros_like(value) for value in values]
    for epoch in range(p.epochs):
        rows = train_rows[xp.asarray(draws.permutation(seed, f"epoch/{epoch}".encode(), len(train_rows)))]
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught below, once per epoch
            for start in range(0, len(rows), p.batch_size):
                step = rows[start : start + p.batch_size]
                weight_grads, bias_grads = mlp.gradients(model, X[step], y[step])
                for value, grad, v in zip(values, [*weight_grads, *bias_grads], velocity):
                    v *= momentum
                    v += grad + decay * value
                    value -= rate * v
        if not all(xp.isfinite(value).all() for value in values):
            raise Diverged(f"weights overflowed in epoch {epoch}")

    fit = mlp.metrics(model, X[train_rows], y[train_rows])
    result: dict[str, object] = {
        "layers": list(model.layer_sizes),
        "train_samples": len(train_rows),
        "train_loss": fit.loss,
        "train_accuracy": fit.accuracy,
        "validation_samples": len(validation_rows),
    }
    if len(validation_rows):
        held = mlp.metrics(model, X[validation_rows], y[validation_rows])
        result |= {"validation_loss": held.loss, "validation_accuracy": held.accuracy}
    record = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(p).items()
              if k != "features"}  # it only sized the estimate: declared or not, the same model
    training = {"kind": "train", "params": record, "seed": seed.hex()}
    trained = dataclasses.replace(mlp.on(np, model), training=training)
    return KindOutput({"model.safetensors": save_model(trained)}, result)
