"""``fedavg``: one federated round's global model from its participants' updates, with a contribution
score per update.

Inputs: ``updates.0`` … ``updates.{n-1}`` (1 ≤ n ≤ ``MAX_UPDATES``; models of one architecture and one
input normalisation: participants train the round's global model further), optionally ``base`` (that
global model: every update must keep its architecture and normalisation) and optionally ``validation``
(a labelled dataset). Output: ``model.safetensors``. An update that is no model of the round (a file that
does not load as a model, or one that left the base model's architecture or normalisation, or the first
loadable update's without a base) is left out: it scores 0 and shares nothing, and the result lists it
(``excluded``). One participant's bad file used to fail the whole round. Params:

- ``aggregation``: ``mean`` (FedAvg: the average weighted by ``weights``, each participant's sample count,
  equal if omitted), ``median`` (coordinate-wise) or ``trimmed_mean`` (coordinate-wise, dropping the
  ``trim`` largest and ``trim`` smallest values; needs n ≥ 2·trim + 2 so that leaving one out still
  leaves values). The robust two ignore ``weights`` (refused if given), as in Yin et al. 2018: a weight
  is a claim a poisoner could inflate.
- ``features``: the validation set's width, declared exactly when there is one (else the kind refuses the
  inputs), and which the set must have. The chain sees only sizes, and a validation set's size does not tell
  it from one more update, whose costs differ by orders of magnitude: ``features`` says which the last input
  is (``kinds.estimate``), and lets the estimate count the passes' samples (at most S / (4 × features) in S
  bytes). It is not recorded in the output model.
- Sums run in float64 in update order and end in float32, so the model is the same everywhere. The
  aggregation stays on the host with any ``xp`` (it is cheap, and numpy's sort and median have no CuPy
  twin of the same order); ``xp`` runs the validation forward passes.

**Contribution scores.** With ``validation``: leave-one-out under the weighted mean, ``score_i = loss(mean
without i) − loss(mean of all)`` — how much worse the validation loss gets without update i (positive:
it helps). The mean is used whatever the aggregation, because a robust aggregator bounds each update's
influence by design, so leaving one out of it moves the loss by next to nothing for honest and
poisoned updates alike and cannot tell them apart; under the mean a poisoned update's harm shows in
full. Without ``validation``: ``score_i = max(0, 1 − d_i / (3m))``, where ``d_i`` is the L2 distance of
update i from the coordinate-wise median of all updates (a centre a minority cannot move far, whatever
the aggregation) and ``m`` the median of those distances: an update over three median distances out, the
usual outlier cut, scores 0 (if m = 0, an update scores 1 exactly when it is the median).

**Reward shares** (``shares_ppm``, parts per million, rounded down) are proportional to a non-negative
weight per update: its score on the distance basis; on the validation basis ``max(0, 1 + 2·score / L)``
with L the loss of the mean of all — leave-one-out scores of honest updates are small and of either sign,
so they share about equally, more for an update whose absence hurts, and nothing for one whose absence
would cut the validation loss by half or more. If every weight is 0, shares are equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import numpy.typing as npt

from compute_pallet.formats import MAX_FEATURES, Dataset, FormatError, Model, load_dataset, load_model, save_model
from compute_pallet.kinds import mlp
from compute_pallet.kinds.evaluate import max_samples, pass_macs
from compute_pallet.kinds.params import ChoiceField, IntField, IntListField, InvalidParams, parse_params
from compute_pallet.kinds.types import InvalidInputs, KindOutput, Resources, ceil_div, expect_inputs

__all__ = ["FIELDS", "MAX_UPDATES", "FedAvgParams", "parse", "fewest_updates", "aggregate", "check", "run", "resources"]

MAX_UPDATES = 64
PPM = 1_000_000

FIELDS = {
    "aggregation": ChoiceField(choices=("mean", "median", "trimmed_mean"), default="mean"),
    "trim": IntField(low=1, high=(MAX_UPDATES - 2) // 2, default=1),
    "weights": IntListField(low=1, high=1 << 53, min_length=1, max_length=MAX_UPDATES, default=None),
    "features": IntField(low=0, high=MAX_FEATURES, default=0),
}


@dataclass(frozen=True)
class FedAvgParams:
    aggregation: str
    trim: int
    """Values dropped at each end of every coordinate (``trimmed_mean`` only)."""
    weights: tuple[int, ...] | None
    """Each update's sample count (``mean`` only); None: equal weights."""
    features: int = 0
    """The validation set's width; 0: the job has no validation set."""


def parse(params: bytes) -> FedAvgParams:
    p = parse_params(params, FIELDS, FedAvgParams)
    if p.weights is not None and p.aggregation != "mean":
        raise InvalidParams(f"weights: {p.aggregation} is unweighted")
    return p


def resources(params: bytes, input_sizes: Mapping[str, int]) -> Resources:
    """n + 2 aggregations of the model values and, with validation data, n + 2 forward passes over it (the
    result, the mean of all, and each leave-one-out mean), each costed as ``evaluate`` costs its one.
    Memory, for updates of S bytes in all, the largest M: their bytes and decoded tensors (2 S); the float64
    copy one coordinate's values are combined in (2 S at most, for models of one tensor); what is held beside
    it, each a few tensors of one model: the median's float64 output and its check, the result and the
    distance centre, a squared difference, the output's encoding (8 M); the base model's bytes and tensors;
    and the validation set's bytes, its arrays, a chunked pass (``mlp.FORWARD_BUDGET_BYTES``) and each
    sample's loss term and prediction (16 B). Measured peaks, base and inputs included, run from 10.3 S for
    one update of one 61 MiB tensor (14 M counted) to 3.9 S for 64 updates of 4 MB (4.2 S)."""
    p = parse(params)
    updates = [size for name, size in input_sizes.items() if name.startswith("updates.")]
    n, model = len(updates), max(updates, default=0)
    validation = input_sizes.get("validation", 0)
    values = ceil_div(model, 4)
    # a sort of n values per coordinate for the median: n·log2(n) compares, log2 bounded by n's bit length
    samples = max_samples(validation, p.features)
    macs = (n + 2) * n * values * n.bit_length() + (n + 2) * pass_macs(samples, model)
    passes = mlp.FORWARD_BUDGET_BYTES + 16 * samples if validation else 0
    held = 4 * sum(updates) + 8 * model + 2 * input_sizes.get("base", 0)
    return Resources.for_work(macs, held + 3 * validation + passes)


def _coordinates(models: Sequence[Model]) -> list[list[npt.NDArray[np.float32]]]:
    """For each parameter tensor (weights, then biases), its value in every model."""
    return [[tensors[j] for tensors in (m.weights + m.biases for m in models)]
            for j in range(2 * len(models[0].weights))]


def aggregate(models: Sequence[Model], p: FedAvgParams, weights: Sequence[float]) -> Model:
    """The models' coordinate-wise combination under ``p.aggregation`` (``weights`` for ``mean``)."""
    combined = []
    for values in _coordinates(models):
        stacked = np.stack(values, dtype=np.float64)  # one float64 copy of the values, which median and sort reorder
        if p.aggregation == "median":
            tensor = np.median(stacked, axis=0, overwrite_input=True)
        elif p.aggregation == "trimmed_mean":
            stacked.sort(axis=0)
            kept = stacked[p.trim : len(values) - p.trim]
            tensor = kept.sum(axis=0) / len(kept)
        else:
            total = sum(weights)
            tensor = np.zeros_like(stacked[0])
            for weight, value in zip(weights, stacked):
                tensor += (weight / total) * value
        combined.append(tensor.astype(np.float32))
    layers = len(models[0].weights)
    return Model(tuple(combined[:layers]), tuple(combined[layers:]), models[0].mean, models[0].std)


def _updates(inputs: Mapping[str, bytes]) -> tuple[list[Model | None], Model]:
    """Each update loaded, or ``None`` where it is no model of the round (it does not load, or leaves the
    reference's architecture or input normalisation), and that reference: the base model, else the first update
    that loads. One participant's bad file costs its own update, not the round."""
    n = sum(1 for name in inputs if name.startswith("updates."))
    expect_inputs(inputs, required=[f"updates.{i}" for i in range(n)], optional=("base", "validation"))
    if not 1 <= n <= MAX_UPDATES:
        raise InvalidInputs(f"{n} updates; expected 1 to {MAX_UPDATES}")
    loaded = [_loaded(inputs[f"updates.{i}"]) for i in range(n)]
    if "base" in inputs:
        reference = load_model(inputs["base"])
    elif (reference := next((model for model in loaded if model is not None), None)) is None:
        raise InvalidInputs(f"none of the {n} updates is a model")
    return [model if model is not None and _fits(model, reference) else None for model in loaded], reference


def _loaded(data: bytes) -> Model | None:
    try:
        return load_model(data)
    except FormatError:
        return None


def _fits(model: Model, reference: Model) -> bool:
    """Whether ``model`` keeps ``reference``'s layers and input normalisation."""
    if model.layer_sizes != reference.layer_sizes:
        return False
    return all((mine is None) == (theirs is None) and (mine is None or np.array_equal(mine, theirs))
               for mine, theirs in ((model.mean, reference.mean), (model.std, reference.std)))


def _distance(a: Model, b: Model) -> float:
    total = 0.0
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        difference = np.subtract(x, y, dtype=np.float64)  # squared in place: one float64 copy of the tensor
        total += float(np.square(difference, out=difference).sum())
    return math.sqrt(total)


def _shares(weights: Sequence[float]) -> list[int]:
    """Parts per million proportional to non-negative ``weights`` (equal if all are 0), rounded down."""
    total = sum(weights)
    if total == 0:
        return [PPM // len(weights)] * len(weights)
    return [math.floor(PPM * weight / total) for weight in weights]


def _validation_set(inputs: Mapping[str, bytes], p: FedAvgParams, reference: Model) -> Dataset | None:
    """The validation set, if the job has one, once it fits the params and the models' sizes."""
    if "validation" not in inputs:
        return None
    validation = load_dataset(inputs["validation"])
    assert validation.y is not None  # load_dataset requires labels
    if validation.X.shape[1] != p.features:
        raise InvalidInputs(f"the params declare {p.features} features, the validation set has "
                            f"{validation.X.shape[1]}")
    if validation.X.shape[1] != reference.layer_sizes[0] or validation.y.max() >= reference.classes:
        raise InvalidInputs("validation data does not fit the updates' input or output size")
    return validation


def _checked(inputs: Mapping[str, bytes], p: FedAvgParams) -> tuple[list[Model | None], Dataset | None]:
    """The updates (``None`` for one that is no model of the round) and the validation set, once it fits the
    params and the round's model."""
    if ("validation" in inputs) != (p.features > 0):  # first: the chain's estimate read the inputs by features
        raise InvalidInputs("a validation set was given: its width must be declared (features)"
                            if "validation" in inputs else "features declares a validation set: none was given")
    updates, reference = _updates(inputs)
    return updates, _validation_set(inputs, p, reference)


def check(inputs: Mapping[str, bytes], params: bytes) -> None:
    """Raise what :func:`run` would refuse these inputs and params with, short of the checks that count the
    updates, and without aggregating (a federated task's base model and validation set, checked as a round
    whose one update is the base model, before the task holds anything)."""
    _checked(inputs, parse(params))


def fewest_updates(p: FedAvgParams) -> int:
    """Usable updates the aggregation needs: 2 × ``trim`` + 2 for ``trimmed_mean`` (so that leaving one out still
    leaves a mean of two), else one."""
    return 2 * p.trim + 2 if p.aggregation == "trimmed_mean" else 1


def run(inputs: Mapping[str, bytes], params: bytes, seed: bytes, *, xp: ModuleType = np) -> KindOutput:
    p = parse(params)
    updates, validation = _checked(inputs, p)
    n = len(updates)
    if p.weights is not None and len(p.weights) != n:
        raise InvalidInputs(f"{len(p.weights)} weights for {n} updates")
    kept = [i for i, model in enumerate(updates) if model is not None]
    if not kept:
        raise InvalidInputs(f"none of the {n} updates is a model of the round's architecture")
    if len(kept) < fewest_updates(p):
        raise InvalidInputs(f"trimmed_mean with trim {p.trim} needs at least {fewest_updates(p)} usable updates, "
                            f"got {len(kept)}")
    models = [updates[i] for i in kept]
    weights = [float(p.weights[i]) if p.weights is not None else 1.0 for i in kept]
    m = len(models)
    result_model = aggregate(models, p, weights)
    result: dict[str, object] = {"aggregation": p.aggregation, "updates": n}
    if len(kept) < n:
        result["excluded"] = [i for i in range(n) if updates[i] is None]

    if validation is not None:
        assert validation.y is not None  # load_dataset requires labels
        X, y = xp.asarray(validation.X), xp.asarray(validation.y)
        measure = lambda model: mlp.metrics(mlp.on(xp, model), X, y)  # noqa: E731
        check = measure(result_model)
        mean = FedAvgParams("mean", p.trim, None)
        everyone = measure(aggregate(models, mean, weights)).loss
        scores = [0.0] * m if m == 1 else [
            measure(aggregate(models[:i] + models[i + 1 :], mean, weights[:i] + weights[i + 1 :])).loss - everyone
            for i in range(m)
        ]
        reward_weights = [max(0.0, 1 + 2 * score / everyone) if everyone > 0 else 1.0 for score in scores]
        result |= {"score_basis": "leave-one-out validation loss", "validation_loss": check.loss,
                   "validation_accuracy": check.accuracy}
    else:
        centre = aggregate(models, FedAvgParams("median", p.trim, None), weights)
        distances = [_distance(model, centre) for model in models]
        cut = 3 * float(np.median(distances))
        scores = [max(0.0, 1.0 - d / cut) if cut else float(d == 0) for d in distances]
        reward_weights = scores
        result["score_basis"] = "distance to the median"
    all_scores, shares = [0.0] * n, [0] * n  # an excluded update scores 0 and shares nothing
    for i, score, share in zip(kept, scores, _shares(reward_weights)):
        all_scores[i], shares[i] = score, share
    result |= {"scores": all_scores, "shares_ppm": shares}
    training = {"kind": "fedavg", "aggregation": p.aggregation, "trim": p.trim,
                "weights": None if p.weights is None else list(p.weights), "updates": n}
    output = Model(result_model.weights, result_model.biases, result_model.mean, result_model.std, training)
    return KindOutput({"model.safetensors": save_model(output)}, result)
