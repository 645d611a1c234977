"""CuPy's one departure from numpy's float32 bits, simulated on the CPU: it compiles every kernel with
``-ftz=true``, so float32 operands and results below 2**-126 are read and written as signed zeros (float64
is not flushed). ``FlushingNumpy`` is numpy with that rule, as an array module for the kinds: training on
digits meets subnormals and flushes them, yet ends in the same digest; a model built with subnormal weights
shows where the two part (see ``kernels``: what is not guaranteed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from compute_pallet.formats import Model, save_model
from compute_pallet.kinds import KindOutput, evaluate, fedavg, infer, result_digest, train
from tests.compute_pallet.kinds.conftest import SEED, TRAIN_PARAMS

TINY = np.finfo(np.float32).tiny


class Flushing(np.ndarray):
    """A numpy array whose ufuncs flush float32 subnormal inputs and outputs to signed zeros, counting them."""

    flushed = 0

    @staticmethod
    def flush(value: Any) -> Any:
        if isinstance(value, (np.ndarray, np.float32)) and value.dtype == np.float32:
            plain = np.asarray(value).view(np.ndarray)
            subnormal = (plain != 0) & (np.abs(plain) < TINY)
            Flushing.flushed += int(subnormal.sum())
            return np.where(subnormal, np.copysign(np.float32(0), plain), plain).astype(np.float32)
        return value.view(np.ndarray) if isinstance(value, np.ndarray) else value

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.pop("out", None)
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) for o in out)
        result = getattr(ufunc, method)(*map(self.flush, inputs), **kwargs)
        if out is not None:
            for o in kwargs["out"]:
                o[...] = self.flush(o)
            return out[0]
        results = result if isinstance(result, tuple) else (result,)
        flushed = tuple(self.flush(r).view(Flushing) if isinstance(r, np.ndarray) else self.flush(r) for r in results)
        return flushed if isinstance(result, tuple) else flushed[0]


class FlushingNumpy:
    """numpy as an array module whose arrays are ``Flushing``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    def asarray(self, array: npt.ArrayLike) -> Flushing:
        return np.array(array).view(Flushing)


def _digest(output: KindOutput) -> bytes:
    return result_digest(output.outputs, output.result)


def test_digits_training_flushes_subnormals_and_keeps_its_digest(digits: tuple[bytes, bytes], trained: KindOutput) -> None:
    Flushing.flushed = 0
    flushed = train.run({"dataset": digits[0]}, TRAIN_PARAMS, SEED, xp=FlushingNumpy())
    assert Flushing.flushed > 0
    assert _digest(flushed) == _digest(trained)


def test_evaluate_infer_and_fedavg_on_digits_keep_their_digests_when_flushed(digits: tuple[bytes, bytes],
                                                                            trained: KindOutput) -> None:
    model = trained.outputs["model.safetensors"]
    forward = {"model": model, "dataset": digits[1]}
    round_inputs = {"updates.0": model, "updates.1": model, "validation": digits[1]}
    for run, inputs, params in ((evaluate.run, forward, b"{}"), (infer.run, forward, b"{}"),
                                (fedavg.run, round_inputs, b'{"features": 64, "weights": [1, 2]}')):
        assert _digest(run(inputs, params, b"", xp=FlushingNumpy())) == _digest(run(inputs, params, b""))


def test_a_model_with_subnormal_weights_predicts_differently_when_flushed(digits: tuple[bytes, bytes]) -> None:
    """Class c's weights are (c + 1)·2**-130: exactly, the last class wins every sample; flushed, every logit
    is 0 and the first class wins the tie."""
    weights = np.repeat(np.arange(1, 11, dtype=np.float32)[:, None] * np.float32(TINY / 16), 64, axis=1)
    model = save_model(Model((weights,), (np.zeros(10, np.float32),), None, None))
    inputs = {"model": model, "dataset": digits[1]}
    exact, flushed = evaluate.run(inputs, b"{}", b""), evaluate.run(inputs, b"{}", b"", xp=FlushingNumpy())
    assert [c["predicted"] for c in exact.result["per_class"]] == [0] * 9 + [359]
    assert [c["predicted"] for c in flushed.result["per_class"]] == [359] + [0] * 9
