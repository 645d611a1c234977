"""The MLP of the model format, forward and backward, on the fixed-order kernels.

Layers are ``h = relu(h @ W.T + b)`` with logits out; the loss is the mean softmax cross-entropy. Logits
are float32 like the weights; the softmax and the loss are taken in float64 with the kernels' own
``exp`` / ``log``, so every reported loss is the same double on every machine.

The arrays (model, features, labels) are numpy's or CuPy's, all of one module (``kernels.array_module``):
``on`` moves a model there. Every sum is a kernel's, in numpy's order, or taken on the host (the loss's
mean over samples, and the predictions' argmax with its first-on-ties rule), cheap next to the forward
pass they follow; the row maximum is the module's own, exact in any order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import numpy.typing as npt

from compute_pallet.formats import Model
from compute_pallet.kinds import kernels

__all__ = ["Metrics", "LOSS_CEILING", "FORWARD_BUDGET_BYTES", "SOFTMAX_BYTES", "SOFTMAX_MACS", "on", "logits",
           "chunks", "probabilities", "metrics", "gradients"]

Float32 = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]

LOSS_CEILING = float(np.finfo(np.float32).max)
"""The loss reported for a model whose logits overflow (NaN or above this), so that losses compare."""
FORWARD_BUDGET_BYTES = 64 << 20
"""What a forward pass over a whole dataset holds at once (``metrics``, ``infer``): the rows go through in
chunks whose activations (4 B per unit) and softmax temporaries (``SOFTMAX_BYTES`` per class) fit in it,
whatever the model's widths, so the kinds' memory estimates need no per-sample term for them. Every row's
values are computed from that row alone, so the chunking changes no bit."""
SOFTMAX_BYTES = 64
"""Float64 bytes per row per class that ``_shifted`` and ``kernels.exp`` hold at once (~60 measured)."""
SOFTMAX_MACS = 40
"""The softmax's cost per row per class (``kernels.exp`` and ``log`` are polynomials: ~90 ns measured, ~45
multiply-adds at the measured rate), for the kinds' estimates at ``MACS_PER_SECOND`` with its margin."""


@dataclass(frozen=True)
class Metrics:
    loss: float
    """Mean softmax cross-entropy."""
    accuracy: float
    """Share of samples whose largest logit (the first, on ties) is their label."""
    predictions: Labels
    """Each sample's class, on the host."""


def on(xp: ModuleType, model: Model) -> Model:
    """``model`` with its tensors in ``xp``'s arrays: onto the GPU for ``cupy``, back to the host for
    ``numpy`` (numpy's own stay the same objects)."""
    to = kernels.to_host if xp is np else xp.asarray
    move = lambda tensor: None if tensor is None else to(tensor)  # noqa: E731
    return Model(tuple(map(move, model.weights)), tuple(map(move, model.biases)), move(model.mean),
                 move(model.std), model.training)


def _layers(model: Model, X: Float32) -> tuple[list[Float32], Float32]:
    """Each layer's input (the normalised features first) and the logits."""
    h = X if model.mean is None or model.std is None else (X - model.mean) / model.std
    inputs = []
    for i, (weight, bias) in enumerate(zip(model.weights, model.biases)):
        inputs.append(h)
        z = kernels.matmul(h, weight.T) + bias
        h = z if i == len(model.weights) - 1 else kernels.array_module(z).maximum(z, np.float32(0))
    return inputs, h


def logits(model: Model, X: Float32) -> Float32:
    return _layers(model, X)[1]


def chunks(model: Model, X: Float32) -> Iterator[tuple[slice, Float32]]:
    """The logits of ``X``'s rows a chunk at a time (within ``FORWARD_BUDGET_BYTES``), with each chunk's rows."""
    per_row = 4 * sum(model.layer_sizes) + SOFTMAX_BYTES * model.classes
    step = max(1, FORWARD_BUDGET_BYTES // per_row)
    for start in range(0, len(X), step):
        rows = slice(start, start + step)
        yield rows, logits(model, X[rows])


def _shifted(z: Float32) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Logits minus each row's largest (float64), and each row's sum of their exponentials."""
    shifted = z.astype(np.float64) - z.max(axis=1, keepdims=True)
    return shifted, kernels.row_sums(kernels.exp(shifted))


def probabilities(z: Float32) -> npt.NDArray[np.float64]:
    shifted, total = _shifted(z)
    return kernels.exp(shifted) / total[:, None]


def _losses(z: Float32, y: Labels) -> npt.NDArray[np.float64]:
    """Each row's softmax cross-entropy, on the host."""
    shifted, total = _shifted(z)
    rows = kernels.array_module(z).arange(len(y))
    return kernels.to_host(kernels.log(total) - shifted[rows, y])


def metrics(model: Model, X: Float32, y: Labels) -> Metrics:
    """Loss and accuracy over every row, computed chunk by chunk (``chunks``); the loss is the rows' terms
    summed at once, as over a single chunk, so it has the same bits however the rows were cut."""
    losses, predictions = [], []
    with np.errstate(over="ignore", invalid="ignore"):  # a poisoned model may overflow: see LOSS_CEILING
        for rows, z in chunks(model, X):
            losses.append(_losses(z, y[rows]))
            predictions.append(kernels.to_host(z).argmax(axis=1).astype(np.int64))
    loss = float(np.concatenate(losses).sum() / len(y))
    predicted = np.concatenate(predictions)
    return Metrics(loss if loss < LOSS_CEILING else LOSS_CEILING,  # NaN compares False
                   float((predicted == kernels.to_host(y)).sum() / len(y)), predicted)


def gradients(model: Model, X: Float32, y: Labels) -> tuple[list[Float32], list[Float32]]:
    """Gradients of the mean cross-entropy on (X, y) with respect to each layer's weight and bias."""
    inputs, z = _layers(model, X)
    delta = probabilities(z)
    delta[kernels.array_module(delta).arange(len(y)), y] -= 1.0
    g = (delta / len(y)).astype(np.float32)
    weight_grads: list[Float32] = []
    bias_grads: list[Float32] = []
    for i in range(len(model.weights) - 1, -1, -1):
        weight_grads.append(kernels.matmul(g.T, inputs[i]))
        bias_grads.append(kernels.column_sums(g))
        if i:
            g = kernels.matmul(g, model.weights[i]) * (inputs[i] > 0)
    return weight_grads[::-1], bias_grads[::-1]
