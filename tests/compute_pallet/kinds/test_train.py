"""``train``, ``evaluate`` and ``infer`` on digits: accuracy checked three ways, bit-exact determinism
across BLAS kernels, thread counts and SIMD levels, and typed refusals."""

from __future__ import annotations

import io
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy

from compute_pallet.formats import Dataset, MalformedDataset, TooLarge, load_model, save_dataset
from compute_pallet.kinds import InvalidInputs, KindOutput, evaluate, infer, result_digest, train
from tests.compute_pallet.kinds.conftest import SEED, TRAIN_PARAMS


def _plain_numpy_accuracy(model_bytes: bytes, dataset_bytes: bytes) -> float:
    """The model's accuracy read with the safetensors library and numpy's own matmul: no project code."""
    tensors = safetensors.numpy.load(model_bytes)
    data = np.load(io.BytesIO(dataset_bytes))
    h = (data["X"] - tensors["input.mean"]) / tensors["input.std"]
    layers = sum(1 for name in tensors if name.endswith(".weight"))
    for i in range(layers):
        h = h @ tensors[f"layers.{i}.weight"].T + tensors[f"layers.{i}.bias"]
        if i < layers - 1:
            h = np.maximum(h, 0)
    return float((h.argmax(axis=1) == data["y"]).mean())


def test_digits_model_reaches_95_percent_on_held_out_data(digits: tuple[bytes, bytes], trained: KindOutput) -> None:
    model = trained.outputs["model.safetensors"]
    measured = evaluate.run({"model": model, "dataset": digits[1]}, b"{}", b"")
    assert measured.outputs == {}
    assert measured.result["accuracy"] >= 0.95
    assert measured.result["accuracy"] == pytest.approx(_plain_numpy_accuracy(model, digits[1]), abs=1e-9)
    per_class = measured.result["per_class"]
    assert sum(c["support"] for c in per_class) == measured.result["samples"] == 359
    assert sum(c["correct"] for c in per_class) == round(measured.result["accuracy"] * 359)
    assert trained.result["layers"] == [64, 64, 10]
    assert trained.result["validation_accuracy"] >= 0.95
    training = load_model(model).training
    assert training is not None and training["seed"] == SEED.hex() and training["params"]["epochs"] == 20


def test_infer_predicts_what_evaluate_counts(digits: tuple[bytes, bytes], trained: KindOutput) -> None:
    model = trained.outputs["model.safetensors"]
    features_only = save_dataset(Dataset(np.load(io.BytesIO(digits[1]))["X"], None))
    predicted = infer.run({"model": model, "dataset": features_only}, b"{}", b"")
    arrays = np.load(io.BytesIO(predicted.outputs["predictions.npz"]))
    confusion = np.array(evaluate.run({"model": model, "dataset": digits[1]}, b"{}", b"").result["confusion"])
    assert predicted.result["counts"] == confusion.sum(axis=0).tolist()
    assert arrays["labels"].dtype == np.int64 and arrays["probabilities"].shape == (359, 10)
    assert np.array_equal(arrays["probabilities"].argmax(axis=1), arrays["labels"])
    assert np.allclose(arrays["probabilities"].sum(axis=1), 1.0, atol=1e-5)


def test_infer_refuses_predictions_past_the_largest_output_before_computing_any(
        digits: tuple[bytes, bytes], trained: KindOutput, monkeypatch: pytest.MonkeyPatch) -> None:
    """Predictions larger than the storage network takes could never be uploaded: every honest provider that
    committed to them was slashed for not revealing. (The bound lowered here to what digits' 359 rows make.)"""
    monkeypatch.setattr(infer, "MAX_OUTPUT_BYTES", 359 * (4 * 10 + 8) - 1)
    with pytest.raises(TooLarge, match="359 samples of 10 classes make 17232 bytes of predictions"):
        infer.run({"model": trained.outputs["model.safetensors"], "dataset": digits[1]}, b"{}", b"")
    monkeypatch.setattr(infer, "MAX_OUTPUT_BYTES", 359 * (4 * 10 + 8))
    assert infer.run({"model": trained.outputs["model.safetensors"], "dataset": digits[1]}, b"{}", b"").outputs


def test_training_is_a_function_of_inputs_params_and_seed(digits: tuple[bytes, bytes], trained: KindOutput) -> None:
    again = train.run({"dataset": digits[0]}, TRAIN_PARAMS, SEED)
    assert result_digest(again.outputs, again.result) == result_digest(trained.outputs, trained.result)
    other = train.run({"dataset": digits[0]}, TRAIN_PARAMS, b"another seed")
    assert other.outputs["model.safetensors"] != trained.outputs["model.safetensors"]


_CHILD = """
import hashlib, sys
import numpy as np
from compute_pallet.kinds import result_digest, train
out = train.run({"dataset": sys.stdin.buffer.read()}, b'{"epochs": 3}', b"env")
rng = np.random.default_rng(0)
a, b = rng.standard_normal((256, 64), dtype=np.float32), rng.standard_normal((64, 64), dtype=np.float32)
print(result_digest(out.outputs, out.result).hex(), hashlib.sha256((a @ b).tobytes()).hexdigest(),
      hashlib.sha256(np.exp(a).tobytes()).hexdigest())
"""

_ENVIRONMENTS = {
    "one thread": {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    "two threads": {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"},
    "Prescott BLAS kernels": {"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1"},
    "numpy without AVX": {"NPY_DISABLE_CPU_FEATURES": "AVX512_ICL X86_V4 X86_V3", "OPENBLAS_NUM_THREADS": "2"},
}


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the BLAS core types and SIMD levels are x86's")
def test_digest_is_identical_across_blas_kernels_threads_and_simd_levels(digits: tuple[bytes, bytes]) -> None:
    """Each environment trains in its own process; each also hashes numpy's own matmul and float32 exp,
    which those environments do change, so the digests' agreement is the kernels' doing."""
    runs = {
        name: subprocess.run([sys.executable, "-c", _CHILD], input=digits[0], env={**os.environ, **env},
                             check=True, capture_output=True, timeout=300).stdout.decode().split()
        for name, env in _ENVIRONMENTS.items()
    }
    assert len({digest for digest, _, _ in runs.values()}) == 1, runs
    assert runs["Prescott BLAS kernels"][1] != runs["one thread"][1]
    assert runs["numpy without AVX"][2] != runs["one thread"][2]


def test_training_continues_from_a_given_model(digits: tuple[bytes, bytes], trained: KindOutput) -> None:
    model = trained.outputs["model.safetensors"]
    more = train.run({"dataset": digits[0], "model": model}, b'{"epochs": 1, "learning_rate": 0.01}', SEED)
    before, after = load_model(model), load_model(more.outputs["model.safetensors"])
    assert after.layer_sizes == before.layer_sizes
    assert np.array_equal(after.mean, before.mean) and not np.array_equal(after.weights[0], before.weights[0])
    with pytest.raises(InvalidInputs, match="hidden"):
        train.run({"dataset": digits[0], "model": model}, b'{"hidden": [32]}', SEED)
    with pytest.raises(InvalidInputs, match="classes"):
        train.run({"dataset": digits[0], "model": model}, b'{"classes": 12}', SEED)


def test_no_hidden_layers_is_multinomial_logistic_regression(digits: tuple[bytes, bytes]) -> None:
    out = train.run({"dataset": digits[0]}, b'{"hidden": [], "epochs": 5}', SEED)
    assert out.result["layers"] == [64, 10] and out.result["validation_accuracy"] >= 0.9


def test_divergence_is_a_typed_outcome(digits: tuple[bytes, bytes]) -> None:
    with pytest.raises(train.Diverged, match="epoch 0"):
        train.run({"dataset": digits[0]}, b'{"learning_rate": 10, "momentum": 0.99, "epochs": 3}', SEED)


def test_bad_inputs_are_refused(digits: tuple[bytes, bytes], trained: KindOutput) -> None:
    model = trained.outputs["model.safetensors"]
    with pytest.raises(InvalidInputs, match="missing"):
        train.run({}, b"{}", SEED)
    with pytest.raises(InvalidInputs, match="unknown"):
        train.run({"dataset": digits[0], "extra": b""}, b"{}", SEED)
    with pytest.raises(MalformedDataset):
        train.run({"dataset": b"not a zip"}, b"{}", SEED)
    narrow = save_dataset(Dataset(np.zeros((4, 3), np.float32), np.zeros(4, np.int64)))
    with pytest.raises(InvalidInputs, match="features"):
        evaluate.run({"model": model, "dataset": narrow}, b"{}", b"")
    too_many_labels = save_dataset(Dataset(np.zeros((2, 64), np.float32), np.array([0, 10], np.int64)))
    with pytest.raises(InvalidInputs, match="label"):
        evaluate.run({"model": model, "dataset": too_many_labels}, b"{}", b"")
    with pytest.raises(InvalidInputs, match="label"):
        train.run({"dataset": too_many_labels}, b'{"classes": 5}', SEED)
    with pytest.raises(MalformedDataset, match="labels"):
        evaluate.run({"model": model, "dataset": save_dataset(Dataset(np.zeros((1, 64), np.float32), None))},
                     b"{}", b"")


def test_declared_features_shrink_the_forward_estimate_and_must_match_the_dataset(
        digits: tuple[bytes, bytes], trained: KindOutput) -> None:
    model = trained.outputs["model.safetensors"]
    sizes = {"model": 200_000, "dataset": 188_000_000}  # an MNIST-sized evaluation
    undeclared, declared = evaluate.resources(b"{}", sizes), evaluate.resources(b'{"features": 784}', sizes)
    assert (undeclared.seconds, declared.seconds) == (21_150, 27)  # samples counted at 784 features, not one
    predictions = infer.resources(b'{"features": 784}', sizes)  # and its output: 1,000 probabilities at most a row
    assert predictions.seconds == declared.seconds
    row = 4 * 1_000 + 8  # a sample's probabilities and label, held three times and an eighth
    assert predictions.memory_bytes == declared.memory_bytes + -(-188_000_000 // (4 * 784)) * (3 * row + row // 8 + 1)
    exact = evaluate.run({"model": model, "dataset": digits[1]}, b"{}", b"")
    assert evaluate.run({"model": model, "dataset": digits[1]}, b'{"features": 64}', b"") == exact
    for run in (evaluate.run, infer.run):  # a declaration the dataset belies is refused, the same everywhere
        with pytest.raises(InvalidInputs, match="declare 32 features"):
            run({"model": model, "dataset": digits[1]}, b'{"features": 32}', b"")


def test_declared_features_shrink_the_training_estimate_and_must_match_the_dataset(digits: tuple[bytes, bytes]) -> None:
    sizes = {"dataset": 60_000 * (784 * 4 + 8)}  # MNIST-sized: 60,000 samples of 784 features
    undeclared = train.resources(b'{"epochs": 20}', sizes)
    declared = train.resources(b'{"epochs": 20, "features": 784}', sizes)
    assert (undeclared.seconds, declared.seconds) == (6_615, 940)  # 60,000 samples counted, not 15.7 million
    assert (undeclared.memory_bytes >> 20, declared.memory_bytes >> 20) == (15_855, 1_750)  # with a fresh model
    params = b'{"epochs": 2, "hidden": [16]}'
    plain = train.run({"dataset": digits[0]}, params, SEED)
    assert train.run({"dataset": digits[0]}, b'{"epochs": 2, "hidden": [16], "features": 64}', SEED) \
        == plain  # the same model, to the byte: the declaration only sizes the estimate
    with pytest.raises(InvalidInputs, match="declare 32 features"):
        train.run({"dataset": digits[0]}, b'{"epochs": 2, "features": 32}', SEED)


def test_a_starting_model_sizes_the_training_estimate_by_its_weights_not_the_default_layers() -> None:
    """The params' defaults say nothing of a starting model's layers: a wide one must not be estimated as the
    default 64-wide layer (its run would outlast the commit window on every honest provider)."""
    sizes = {"dataset": 1_797 * (64 * 4 + 8), "model": 4 * (64 * 1024 + 1024 * 1024 + 1024 * 10)}
    fresh = train.resources(b'{"epochs": 5, "features": 64}', {"dataset": sizes["dataset"]})
    resumed = train.resources(b'{"epochs": 5, "features": 64}', sizes)
    steps, softmax = 5 * -(-1_797 // 32) * train.STEP_MACS, 6 * 1_797 * 1_000 * 40  # classes: up to 1,000
    assert resumed.seconds == -(-((3 * 5 + 1) * 1_797 * (sizes["model"] // 4) + softmax + steps) // 200_000_000)
    assert resumed.seconds > 10 * fresh.seconds
    declared = train.resources(b'{"epochs": 5, "features": 64, "hidden": [1024, 1024], "classes": 10}', sizes)
    assert declared.seconds < resumed.seconds and declared.memory_bytes < resumed.memory_bytes  # 10 classes, not 1,000


def test_more_classes_than_the_estimate_assumed_must_be_declared() -> None:
    rng = np.random.default_rng(0)
    letters = save_dataset(Dataset(rng.standard_normal((52, 4)).astype(np.float32), np.arange(52) % 26))
    with pytest.raises(InvalidInputs, match="labels reach 25: declare classes"):
        train.run({"dataset": letters}, b'{"epochs": 1}', SEED)
    assert train.run({"dataset": letters}, b'{"epochs": 1, "classes": 26}', SEED).result["layers"] == [4, 64, 26]


def test_small_batches_cost_their_steps() -> None:
    sizes = {"dataset": 100_000 * (4 + 8)}  # 100,000 one-feature samples: the work is the steps themselves
    one, many = (train.resources(f'{{"epochs": 20, "features": 1, "batch_size": {b}}}'.encode(), sizes)
                 for b in (1, 32))
    assert one.seconds == -(-(61 * 100_000 * (64 + 64 * 10) + 21 * 100_000 * 10 * 40
                              + 20 * 100_000 * train.STEP_MACS) // 200_000_000)
    assert one.seconds > 10 * many.seconds


def test_resources_grow_with_the_work() -> None:
    small = train.resources(b'{"epochs": 1}', {"dataset": 1 << 20})
    large = train.resources(b'{"epochs": 50, "hidden": [256, 256]}', {"dataset": 1 << 20})
    assert small.cpu_cores == 1 and small.seconds < large.seconds and small.memory_bytes < large.memory_bytes
