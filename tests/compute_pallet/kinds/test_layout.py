"""A job's inputs by position → the names its kind runs with, as the federated pallet orders them."""

from __future__ import annotations

import numpy as np
import pytest

from compute_pallet.formats import (MAX_DATASET_BYTES, MAX_MODEL_BYTES, Dataset, Model, load_model, save_dataset,
                                    save_model)
from compute_pallet.kinds import (
    InvalidInputs, UnknownKind, estimate, fedavg, input_limits, input_sizes, named_inputs)


def _model(width: int) -> bytes:
    return save_model(Model((np.ones((2, width), np.float32),), (np.zeros(2, np.float32),), None, None))


DATASET = save_dataset(Dataset(np.zeros((3, 2), np.float32), np.array([0, 1, 0], np.int64)))


def test_train_evaluate_and_infer_name_their_inputs_by_position() -> None:
    model = _model(2)
    assert named_inputs("train", [DATASET], b"{}") == {"dataset": DATASET}
    assert named_inputs(0, [DATASET, model], b"{}") == {"dataset": DATASET, "model": model}
    assert named_inputs("evaluate", [model, DATASET], b"{}") == {"model": model, "dataset": DATASET}
    assert named_inputs("infer", [model], b"{}") == {"model": model}  # the kind reports the missing dataset


def test_fedavg_takes_the_base_then_updates_then_a_validation_set_when_its_params_declare_one() -> None:
    base, a, b = _model(2), _model(2), _model(2)
    assert named_inputs("fedavg", [base, a, b], b"{}") == {"base": base, "updates.0": a, "updates.1": b}
    assert named_inputs("fedavg", [base, a, DATASET], b'{"features": 2}') == {
        "base": base, "updates.0": a, "validation": DATASET}
    # an update is a participant's file, whatever its first bytes: without features it is an update
    assert named_inputs("fedavg", [base, a, DATASET], b"{}") == {"base": base, "updates.0": a, "updates.1": DATASET}
    assert input_sizes("fedavg", [10, 20, 30]) == {"base": 10, "updates.0": 20, "updates.1": 30}


def test_each_input_is_bounded_by_its_format_and_fedavg_s_last_by_the_larger() -> None:
    model, dataset = MAX_MODEL_BYTES, MAX_DATASET_BYTES
    assert input_limits("train", 2) == [dataset, model]
    assert input_limits("evaluate", 2) == input_limits("infer", 2) == [model, dataset]
    assert input_limits("fedavg", 1) == [model]
    assert input_limits("fedavg", 3) == [model, model, dataset]  # an update, or the validation set


def test_more_inputs_than_a_kind_takes_or_an_unknown_kind_are_refused() -> None:
    with pytest.raises(InvalidInputs, match="at most 2"):
        named_inputs("evaluate", [b"a", b"b", b"c"], b"{}")
    with pytest.raises(InvalidInputs, match="at most 2"):
        input_limits("evaluate", 3)
    with pytest.raises(UnknownKind):
        named_inputs(9, [b"a"], b"{}")


def test_fedavg_leaves_out_updates_that_are_no_model_of_the_round_and_gives_them_nothing() -> None:
    """One participant's bad file (no model, or another architecture) costs its own update, not the round."""
    good = _model(2)
    inputs = named_inputs("fedavg", [_model(2), good, b"not a model", _model(3), good], b"{}")
    result = fedavg.run(inputs, b"{}", b"").result
    assert result["updates"] == 4 and result["excluded"] == [1, 2]
    assert result["scores"][1] == result["scores"][2] == 0 and result["shares_ppm"][1:3] == [0, 0]
    assert sum(result["shares_ppm"]) > 999_000
    alone = fedavg.run(named_inputs("fedavg", [_model(2), good, good], b"{}"), b"{}", b"")
    aggregated = load_model(fedavg.run(inputs, b"{}", b"").outputs["model.safetensors"])
    expected = load_model(alone.outputs["model.safetensors"])  # the good updates' model alone (its record differs)
    assert all(np.array_equal(x, y) for x, y in zip(aggregated.weights + aggregated.biases,
                                                   expected.weights + expected.biases))
    assert "excluded" not in alone.result
    with pytest.raises(InvalidInputs, match="none of the 2 updates"):
        fedavg.run(named_inputs("fedavg", [_model(2), b"junk", _model(3)], b"{}"), b"{}", b"")


@pytest.mark.parametrize("kind", ["train", "evaluate", "infer", "fedavg"])
def test_estimates_are_exact_integers_the_chain_may_size_jobs_with(kind) -> None:
    """The chain sizes a job's memory and commit window from these: integer arithmetic only, so every node
    computes the same numbers (no float rounding, nor a libm's logarithm)."""
    sizes = [4 * (10**21 + 1)] * (3 if kind == "fedavg" else 2)
    run = estimate(kind, b"{}", sizes)
    assert all(type(value) is int for value in (run.cpu_cores, run.memory_bytes, run.seconds))
    if kind in ("evaluate", "infer"):  # (10**21 + 1)² multiply-adds and 1,000 classes' softmax, at 2e8 a second
        assert run.seconds == -(-((10**21 + 1) * (10**21 + 1 + 1_000 * 40)) // 200_000_000)


def test_the_largest_result_a_kind_writes_is_one_the_sdk_reads() -> None:
    """``evaluate`` of a model of ``MAX_CLASSES`` classes writes a confusion matrix of a million counts."""
    from compute_pallet.formats import MAX_CLASSES
    from compute_pallet.kinds import canonical_json, evaluate
    from sdk.compute.api import MAX_RESULT_BYTES

    model = Model((np.zeros((MAX_CLASSES, 2), np.float32),), (np.zeros(MAX_CLASSES, np.float32),), None, None)
    dataset = save_dataset(Dataset(np.zeros((3, 2), np.float32), np.array([0, MAX_CLASSES - 1, 7], np.int64)))
    result = evaluate.run({"model": save_model(model), "dataset": dataset}, b"{}", bytes(32)).result
    assert 1 << 20 < len(canonical_json(result)) <= MAX_RESULT_BYTES // 2
