"""``fedavg``: the aggregates by hand, poisoned updates resisted and scored lowest, scores deterministic."""

from __future__ import annotations

import io

import numpy as np
import pytest

from compute_pallet.formats import Dataset, FormatError, Model, load_model, save_dataset, save_model
from compute_pallet.kinds import InvalidInputs, KindOutput, estimate, fedavg, result_digest, train
from tests.compute_pallet.kinds.conftest import SEED


def _model(weight: list[list[float]], bias: list[float], mean: list[float] | None = None) -> bytes:
    std = None if mean is None else [1.0] * len(mean)
    as32 = lambda v: None if v is None else np.array(v, dtype=np.float32)  # noqa: E731
    return save_model(Model((as32(weight),), (as32(bias),), as32(mean), as32(std)))


def _updates(*models: bytes) -> dict[str, bytes]:
    return {f"updates.{i}": model for i, model in enumerate(models)}


def _aggregate(inputs: dict[str, bytes], params: bytes) -> Model:
    return load_model(fedavg.run(inputs, params, b"").outputs["model.safetensors"])


A = _model([[1, 2], [3, 4]], [0, 1])
B = _model([[3, 2], [1, 0]], [2, 1])
C = _model([[2, 8], [2, -4]], [7, 1])
D = _model([[0, 0], [100, 0]], [0, -50])


def test_the_weighted_mean_is_the_hand_computed_one() -> None:
    model = _aggregate(_updates(A, B), b'{"weights": [1, 3]}')
    assert np.array_equal(model.weights[0], [[2.5, 2], [1.5, 1]]) and np.array_equal(model.biases[0], [1.5, 1])
    equal = _aggregate(_updates(A, B), b"{}")
    assert np.array_equal(equal.weights[0], [[2, 2], [2, 2]]) and np.array_equal(equal.biases[0], [1, 1])


def test_the_median_and_trimmed_mean_are_the_hand_computed_ones() -> None:
    median = _aggregate(_updates(A, B, C), b'{"aggregation": "median"}')
    assert np.array_equal(median.weights[0], [[2, 2], [2, 0]]) and np.array_equal(median.biases[0], [2, 1])
    even = _aggregate(_updates(A, B, C, D), b'{"aggregation": "median"}')
    assert np.array_equal(even.weights[0], [[1.5, 2], [2.5, 0]]) and np.array_equal(even.biases[0], [1, 1])
    trimmed = _aggregate(_updates(A, B, C, D), b'{"aggregation": "trimmed_mean", "trim": 1}')
    assert np.array_equal(trimmed.weights[0], [[1.5, 2], [2.5, 0]]) and np.array_equal(trimmed.biases[0], [1, 1])


@pytest.fixture(scope="module")
def round_inputs(digits: tuple[bytes, bytes], trained: KindOutput) -> dict[str, bytes]:
    """Three honest updates (the trained model, one more epoch on a third of digits each) and a poisoned
    one (huge random values), with the held-out part as validation data."""
    base = trained.outputs["model.safetensors"]
    data = np.load(io.BytesIO(digits[0]))
    honest = []
    for shard in range(3):
        part = save_dataset(Dataset(data["X"][shard::3], data["y"][shard::3]))
        honest.append(train.run({"dataset": part, "model": base}, b'{"epochs": 1}', SEED).outputs["model.safetensors"])
    model = load_model(base)
    noise = np.random.default_rng(0)
    huge = lambda a: (noise.standard_normal(a.shape) * 1e4).astype(np.float32)  # noqa: E731
    poisoned = save_model(Model(tuple(map(huge, model.weights)), tuple(map(huge, model.biases)), model.mean, model.std))
    return {**_updates(*honest, poisoned), "validation": digits[1]}


@pytest.mark.parametrize("aggregation", ["mean", "median", "trimmed_mean"])
def test_a_poisoned_update_gets_the_lowest_score_and_no_reward(round_inputs: dict[str, bytes], aggregation: str) -> None:
    without = {k: v for k, v in round_inputs.items() if k != "validation"}
    for inputs, features in ((round_inputs, ', "features": 64'), (without, "")):
        result = fedavg.run(inputs, f'{{"aggregation": "{aggregation}"{features}}}'.encode(), b"").result
        scores, shares = result["scores"], result["shares_ppm"]
        assert min(range(4), key=scores.__getitem__) == 3, result
        assert shares[3] == 0 and all(share > 0 for share in shares[:3]) and sum(shares) <= 1_000_000


def test_the_robust_aggregations_resist_a_poisoned_update(round_inputs: dict[str, bytes]) -> None:
    accuracy = {aggregation: fedavg.run(round_inputs, f'{{"aggregation": "{aggregation}", "features": 64}}'.encode(),
                                        b"").result["validation_accuracy"]
                for aggregation in ("mean", "median", "trimmed_mean")}
    assert accuracy["median"] >= 0.95 and accuracy["trimmed_mean"] >= 0.95
    honest_only = {k: v for k, v in round_inputs.items() if k != "updates.3"}
    honest_round = fedavg.run(honest_only, b'{"features": 64}', b"").result
    assert honest_round["validation_accuracy"] >= 0.95
    assert all(250_000 < share < 420_000 for share in honest_round["shares_ppm"]), honest_round
    assert accuracy["mean"] < 0.5


def test_scores_are_deterministic(round_inputs: dict[str, bytes]) -> None:
    runs = [fedavg.run(round_inputs, b'{"aggregation": "median", "features": 64}', b"") for _ in range(2)]
    assert result_digest(runs[0].outputs, runs[0].result) == result_digest(runs[1].outputs, runs[1].result)


def test_updates_that_do_not_fit_the_first_are_left_out_and_what_cannot_be_run_is_refused() -> None:
    wider = save_model(Model((np.ones((3, 2), np.float32),), (np.ones(3, np.float32),), None, None))
    assert fedavg.run(_updates(A, wider), b"{}", b"").result["excluded"] == [1]  # other layers
    normalised = _model([[1, 2], [3, 4]], [0, 1], mean=[0.5, 0])
    assert fedavg.run(_updates(A, normalised), b"{}", b"").result["excluded"] == [1]  # other normalisation
    with pytest.raises(InvalidInputs, match="at least 4 usable updates"):
        fedavg.run(_updates(A, B, C), b'{"aggregation": "trimmed_mean"}', b"")
    with pytest.raises(InvalidInputs, match="2 weights for 3 updates"):
        fedavg.run(_updates(A, B, C), b'{"weights": [1, 2]}', b"")
    with pytest.raises(InvalidInputs, match="missing inputs"):
        fedavg.run({"updates.0": A, "updates.2": B}, b"{}", b"")
    with pytest.raises(InvalidInputs, match="0 updates"):
        fedavg.run({}, b"{}", b"")
    with pytest.raises(InvalidInputs, match="validation data"):
        fedavg.run({**_updates(A, B), "validation": save_dataset(Dataset(np.zeros((1, 3), np.float32),
                                                                            np.zeros(1, np.int64)))},
                    b'{"features": 3}', b"")


def test_features_tell_the_estimate_whether_the_last_input_is_the_validation_set() -> None:
    """The chain knows only sizes: a 188 MB last input may be one more update or a validation set whose passes,
    one per update and two more, cost far more. The params say which (the kind refuses inputs that belie them),
    and the samples' width sizes those passes."""
    sizes = [200_000] * 4 + [188_000_000]  # a base model, three updates, then an update or a validation set
    as_update = estimate("fedavg", b"{}", sizes)
    assert as_update == fedavg.resources(b"{}", {"base": 200_000, **{f"updates.{i}": size
                                                                     for i, size in enumerate(sizes[1:])}})
    as_validation = estimate("fedavg", b'{"features": 784}', sizes)  # 60,000 samples a pass
    assert as_validation == fedavg.resources(b'{"features": 784}', {
        "base": 200_000, **{f"updates.{i}": 200_000 for i in range(3)}, "validation": 188_000_000})
    assert (as_update.seconds, as_validation.seconds) == (17, 135)


def test_the_validation_set_must_be_declared_exactly_when_given_and_only_sizes_the_estimate(
        round_inputs: dict[str, bytes]) -> None:
    declared = fedavg.run(round_inputs, b'{"features": 64}', b"")
    assert "features" not in load_model(declared.outputs["model.safetensors"]).training
    with pytest.raises(InvalidInputs, match="declared"):
        fedavg.run(round_inputs, b"{}", b"")
    updates_only = {name: data for name, data in round_inputs.items() if name != "validation"}
    with pytest.raises(InvalidInputs, match="none was given"):
        fedavg.run(updates_only, b'{"features": 64}', b"")
    with pytest.raises(InvalidInputs, match="declare 32 features"):
        fedavg.run(round_inputs, b'{"features": 32}', b"")


def test_check_refuses_what_run_would_without_aggregating(round_inputs: dict[str, bytes]) -> None:
    """A federated task's base model and validation set are checked before the task is created, as a round
    whose one update is the base model: what the round would refuse whatever its updates."""
    base = round_inputs["updates.0"]
    task_round = {"base": base, "updates.0": base, "validation": round_inputs["validation"]}
    fedavg.check(task_round, b'{"features": 64}')
    for params, refusal in ((b'{"features": 32}', "declare 32 features"), (b"{}", "declared")):
        for call in (fedavg.check, lambda inputs, p: fedavg.run(inputs, p, b"")):
            with pytest.raises(InvalidInputs, match=refusal):
                call(task_round, params)
    with pytest.raises(FormatError):
        fedavg.check({**task_round, "validation": base}, b'{"features": 64}')  # a model as the validation set
    with pytest.raises(FormatError):
        fedavg.check({"base": round_inputs["validation"], "updates.0": round_inputs["validation"]}, b"{}")
