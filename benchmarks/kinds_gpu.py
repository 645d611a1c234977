"""The job kinds on a GPU through CuPy against the CPU: the same digests, and the time each takes.

On the digits dataset (shipped with scikit-learn), each case runs once with ``xp=numpy`` and once with
``xp=cupy`` after one untimed CuPy warm-up of the same case (NVRTC compiles each ufunc kernel on first use):

- ``train``: the market's default job (one hidden layer of 64, 20 epochs, batch 32) and a larger one
  (two hidden layers of 256, 10 epochs, batch 256), whose wider products suit a GPU better;
- ``evaluate`` and ``infer``: the default model on the held-out split;
- ``fedavg``: three updates (the default model, one more epoch of it on each half of the training split)
  under the weighted mean, with the held-out split as validation data: n + 2 forward passes.

Every case must give the same result digest on both (the kinds' fixed-order kernels; see
``compute_pallet.kinds.kernels`` for the one thing not guaranteed, float32 subnormals, which CuPy flushes):
a differing digest is recorded and the script exits with status 1. Times are wall seconds, the best of
``--repeat`` runs; CuPy's include copying the inputs to the GPU and the outputs back. Appends the figures to
``benchmarks/RESULTS.md``. Needs CuPy and a CUDA device; without them it says so and exits with status 2.

    python benchmarks/kinds_gpu.py [--repeat 3] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from compute_pallet.datasets import split
from compute_pallet.formats import Dataset, save_dataset
from compute_pallet.kinds import KindOutput, evaluate, fedavg, infer, result_digest, train

RESULTS = Path(__file__).with_name("RESULTS.md")
DEFAULT_TRAIN = b'{"hidden": [64], "epochs": 20}'
LARGER_TRAIN = b'{"hidden": [256, 256], "epochs": 10, "batch_size": 256}'
SEED = b"kinds-gpu"

Case = Callable[[ModuleType], KindOutput]


@dataclass(frozen=True)
class Timing:
    name: str
    numpy_s: float
    cupy_s: float
    equal: bool


def cupy_or_exit() -> ModuleType:
    """CuPy, if it imports and sees a CUDA device; otherwise the reason, and exit status 2."""
    try:
        import cupy  # type: ignore[import-not-found]

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
    except Exception as exc:  # ImportError, CUDARuntimeError, a driver mismatch: no usable GPU
        print(f"kinds_gpu: needs CuPy and a CUDA device ({type(exc).__name__}: {exc}); nothing measured",
              file=sys.stderr)
        sys.exit(2)
    return cupy


def cases() -> dict[str, Case]:
    """The runs to compare, each a function of the array module (its inputs prepared once, on numpy)."""
    training, held_out = split("digits")
    model = train.run({"dataset": training}, DEFAULT_TRAIN, SEED).outputs["model.safetensors"]
    data = np.load(io.BytesIO(training))
    halves = [save_dataset(Dataset(data["X"][i::2], data["y"][i::2])) for i in range(2)]
    updates = [model, *(train.run({"dataset": half, "model": model}, b'{"epochs": 1}', SEED)
                        .outputs["model.safetensors"] for half in halves)]
    round_inputs = {**{f"updates.{i}": update for i, update in enumerate(updates)}, "validation": held_out}
    forward = {"model": model, "dataset": held_out}
    return {
        "train (64, 20 epochs, batch 32)": lambda xp: train.run({"dataset": training}, DEFAULT_TRAIN, SEED, xp=xp),
        "train (256-256, 10 epochs, batch 256)": lambda xp: train.run({"dataset": training}, LARGER_TRAIN, SEED,
                                                                       xp=xp),
        "evaluate (359 samples)": lambda xp: evaluate.run(forward, b"{}", b"", xp=xp),
        "infer (359 samples)": lambda xp: infer.run(forward, b"{}", b"", xp=xp),
        "fedavg (3 updates, validation)": lambda xp: fedavg.run(round_inputs, b'{"features": 64, "weights": [2, 1, 1]}',
                                                                b"", xp=xp),
    }


def best_of(repeat: int, case: Case, xp: ModuleType) -> tuple[float, bytes]:
    """The fastest of ``repeat`` runs, in wall seconds, and the run's digest."""
    best, digest = float("inf"), b""
    for _ in range(repeat):
        started = time.perf_counter()
        output = case(xp)
        best = min(best, time.perf_counter() - started)
        digest = result_digest(output.outputs, output.result)
    return best, digest


def measure(cupy: ModuleType, repeat: int) -> list[Timing]:
    timings = []
    for name, case in cases().items():
        case(cupy)  # warm-up: NVRTC compiles the kernels this case uses
        numpy_s, numpy_digest = best_of(repeat, case, np)
        cupy_s, cupy_digest = best_of(repeat, case, cupy)
        timings.append(Timing(name, numpy_s, cupy_s, numpy_digest == cupy_digest))
        print(f"{name}: numpy {numpy_s:.3f} s, cupy {cupy_s:.3f} s, digests "
              f"{'equal' if numpy_digest == cupy_digest else 'DIFFER'}", flush=True)
    return timings


def report(timings: list[Timing]) -> str:
    rows = [f"| {t.name} | {t.numpy_s:.3f} | {t.cupy_s:.3f} | {t.numpy_s / t.cupy_s:.2f}x | "
            f"{'equal' if t.equal else 'DIFFER'} |" for t in timings]
    return "| case | numpy s | cupy s | speed-up | digests |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case and module; the best is kept")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    cupy = cupy_or_exit()
    timings = measure(cupy, args.repeat)
    summary = report(timings)
    print(summary)
    if not args.no_record:
        device = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        device = device.decode() if isinstance(device, bytes) else str(device)
        command = " ".join(["python benchmarks/kinds_gpu.py", *sys.argv[1:]])
        with RESULTS.open("a") as out:
            out.write(f"\n## Job kinds on a GPU (CuPy) against numpy — "
                      f"{datetime.datetime.now().isoformat(timespec='seconds')}\n\n"
                      f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, {device}, Linux {platform.release()}, "
                      f"Python {platform.python_version()}, numpy {np.__version__}, CuPy {cupy.__version__}\n"
                      f"- command: `{command}`\n\n{summary}")
    if not all(t.equal for t in timings):
        sys.exit("kinds_gpu: a case's digest differs between numpy and CuPy (see above)")


if __name__ == "__main__":
    main()
