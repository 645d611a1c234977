"""``infer``: a model's predictions for a batch of samples.

Inputs: ``model`` and ``dataset`` (its ``y``, if present, is ignored). Output: ``predictions.npz`` with
``labels`` (int64, n: the class of the largest logit, the first on ties) and ``probabilities`` (float32,
n×classes: the softmax, computed with the fixed-order kernels). Result: ``samples``, ``classes`` and
``counts`` (how many samples were predicted as each class). Predictions past ``formats.MAX_OUTPUT_BYTES``
are refused (``TooLarge``) before any is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import numpy as np

from compute_pallet.formats import MAX_OUTPUT_BYTES, TooLarge, save_arrays
from compute_pallet.kinds import kernels, mlp
from compute_pallet.kinds import evaluate
from compute_pallet.kinds.evaluate import FIELDS, dataset_samples, matched_inputs, max_classes, parse
from compute_pallet.kinds.types import KindOutput, Resources

__all__ = ["FIELDS", "parse", "run", "resources"]  # params are evaluate's


def resources(params: bytes, input_sizes: Mapping[str, int]) -> Resources:
    """``evaluate``'s (one forward pass), and the predictions it returns: each sample's probabilities
    (float32) and label (int64), held three times at the peak (the arrays, a member's ``.npy`` and the
    ``.npz`` growing, or the arrays, the ``.npz`` and its bytes returned: ``formats.save_arrays``), with an
    eighth more for the buffer's growth. Counted twice, an infer of 150,000 samples of 1,000 classes ran out
    of the memory its job was given, on every provider."""
    forward = evaluate.resources(params, input_sizes)
    samples, classes = dataset_samples(params, input_sizes), max_classes(input_sizes.get("model", 0))
    per_sample = 3 * (4 * classes + 8) + (4 * classes + 8) // 8 + 1
    return Resources(forward.cpu_cores, forward.memory_bytes + samples * per_sample, forward.seconds)


def run(inputs: Mapping[str, bytes], params: bytes, seed: bytes, *, xp: ModuleType = np) -> KindOutput:
    model, dataset = matched_inputs(inputs, parse(params), require_labels=False)
    predicted = len(dataset.X) * (4 * model.classes + 8)
    if predicted > MAX_OUTPUT_BYTES:
        raise TooLarge(f"{len(dataset.X)} samples of {model.classes} classes make {predicted} bytes of predictions, "
                       f"at most {MAX_OUTPUT_BYTES}")
    labels = np.empty(len(dataset.X), np.int64)
    probabilities = np.empty((len(dataset.X), model.classes), np.float32)
    for rows, z in mlp.chunks(mlp.on(xp, model), xp.asarray(dataset.X)):
        labels[rows] = kernels.to_host(z).argmax(axis=1)
        probabilities[rows] = kernels.to_host(mlp.probabilities(z))
    counts = np.bincount(labels, minlength=model.classes)
    predictions = save_arrays({"labels": labels, "probabilities": probabilities})
    result: dict[str, object] = {"samples": len(labels), "classes": model.classes, "counts": counts.tolist()}
    return KindOutput({"predictions.npz": predictions}, result)
