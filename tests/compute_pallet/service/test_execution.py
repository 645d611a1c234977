"""The job subprocess under its limits: a finished run's report, a refused input (or one the kind fails on) as
a deterministic result, and runs ended by the memory, CPU-time and wall-time limits or by a crash, each
reported for what it is."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from compute_pallet import datasets, kinds
from compute_pallet.formats import Dataset, MalformedDataset, save_dataset
from compute_pallet.kinds import canonical_json, mlp
from compute_pallet.service import runner
from compute_pallet.service.execution import INTERPRETER_MARGIN, MAX_REPORT_BYTES, Finished, Killed, Limits, execute
from compute_pallet.service.runner import INPUTS, OUTPUTS, REPORT_FILE, RESULT_FILE, SPEC_FILE
from tests.compute_pallet.test_formats import CRAFTED_DATASETS, _safetensors

SEED = bytes(range(32))
ROOMY = Limits(memory_bytes=1 << 30, wall_seconds=120, cpu_seconds=120, threads=1)


@pytest.fixture(scope="module")
def digits() -> bytes:
    return datasets.split("digits")[0]


def prepare(folder: Path, kind: str, params: bytes, inputs: list[bytes]) -> Path:
    (folder / INPUTS).mkdir(parents=True)
    for index, data in enumerate(inputs):
        (folder / INPUTS / str(index)).write_bytes(data)
    (folder / SPEC_FILE).write_text(json.dumps({"kind": kind, "params": params.hex(), "seed": SEED.hex()}))
    return folder


async def test_a_run_reports_the_digest_the_kind_gives_in_process(tmp_path, digits):
    params = b'{"epochs": 2, "hidden": [16]}'
    outcome = await execute(prepare(tmp_path, "train", params, [digits]), ROOMY)
    expected = kinds.kind("train").run({"dataset": digits}, params, SEED)
    assert outcome == Finished(kinds.result_digest(expected.outputs, expected.result),
                               ("model.safetensors", RESULT_FILE), (), None)
    assert (tmp_path / OUTPUTS / "model.safetensors").read_bytes() == expected.outputs["model.safetensors"]
    assert (tmp_path / OUTPUTS / RESULT_FILE).read_bytes() == canonical_json(expected.result)


async def test_inputs_are_named_for_the_kind_by_their_position_on_chain(tmp_path, digits):
    model = kinds.kind("train").run({"dataset": digits}, b'{"epochs": 1, "hidden": [8]}', SEED).outputs
    outcome = await execute(prepare(tmp_path, "evaluate", b"{}", [model["model.safetensors"], digits]), ROOMY)
    assert isinstance(outcome, Finished) and outcome.refused is None and outcome.outputs == (RESULT_FILE,)
    assert json.loads((tmp_path / OUTPUTS / RESULT_FILE).read_bytes())["samples"] == 1438


@pytest.mark.parametrize("params, inputs, refusal", [
    (b'{}', [b"not an npz"], "MalformedDataset"),
    (b'{"learning_rate": 10.0, "epochs": 3}', [None], "Diverged"),
    (b'{}', [None, None, b"a third input"], "InvalidInputs"),  # train takes a dataset and a model at most
])
async def test_a_refused_input_is_a_result_every_run_agrees_on(tmp_path, digits, params, inputs, refusal):
    inputs = [digits if data is None else data for data in inputs]
    outcomes = [await execute(prepare(tmp_path / str(i), "train", params, inputs), ROOMY) for i in range(2)]
    assert outcomes[0] == outcomes[1]
    outcome = outcomes[0]
    assert isinstance(outcome, Finished) and outcome.refused == refusal and outcome.outputs == (RESULT_FILE,)
    assert json.loads((tmp_path / "0" / OUTPUTS / RESULT_FILE).read_bytes()) == {"refused": refusal}
    assert outcome.digest == kinds.result_digest({}, {"refused": refusal})
    assert json.loads((tmp_path / "0" / REPORT_FILE).read_bytes())["refused"]["message"]  # for the provider's log
    assert kinds.refusal_meaning(refusal)  # what the CLI tells the submitter


@pytest.fixture(scope="module")
def model(digits) -> bytes:
    trained = kinds.kind("train").run({"dataset": digits}, b'{"epochs": 1, "hidden": [8]}', SEED)
    return trained.outputs["model.safetensors"]


@pytest.mark.parametrize("name", CRAFTED_DATASETS)
async def test_a_dataset_the_decoders_fail_on_is_refused_alike_in_every_run(tmp_path, model, name):
    """Before, numpy's ValueError, zlib.error or zipfile's RuntimeError crashed the runner on every provider, and
    every one of them was slashed as a no-show; the record holds none of those libraries' words."""
    inputs = [model, CRAFTED_DATASETS[name]]
    outcomes = [await execute(prepare(tmp_path / str(i), "evaluate", b"{}", inputs), ROOMY) for i in range(2)]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == Finished(kinds.result_digest({}, {"refused": "MalformedDataset"}), (RESULT_FILE,), (),
                                   "MalformedDataset")


async def test_a_model_with_several_bad_tensors_is_refused_alike_in_every_fresh_process(tmp_path, digits, model):
    """The safetensors library hands tensors over in a per-process order: the refusal, digest and message, is
    the first bad tensor's by name."""
    tensors = {name: np.full_like(t, np.nan) if name.startswith("layers.") else t
               for name, t in safetensors.numpy.load(model).items()}
    poisoned = _safetensors(tensors, [64, 8, 10])
    outcomes, messages = set(), set()
    for i in range(3):
        outcomes.add(await execute(prepare(tmp_path / str(i), "evaluate", b"{}", [poisoned, digits]), ROOMY))
        messages.add(json.loads((tmp_path / str(i) / REPORT_FILE).read_bytes())["refused"]["message"])
    assert outcomes == {Finished(kinds.result_digest({}, {"refused": "MalformedModel"}), (RESULT_FILE,), (),
                                 "MalformedModel")}
    assert messages == {"layers.0.bias holds NaN or infinite values"}


async def test_an_input_past_its_format_s_bound_is_refused_unread(tmp_path, model):
    """A sparse file of 4 GiB in the dataset's place, under a limit that could not hold it: refused by its size
    alike on every machine, where reading it would have been a memory kill on some and not others."""
    job = prepare(tmp_path, "evaluate", b"{}", [model, b""])
    with open(job / INPUTS / "1", "wb") as file:
        file.truncate(4 << 30)
    outcome = await execute(job, Limits(memory_bytes=64 << 20, wall_seconds=120, cpu_seconds=120, threads=1))
    assert outcome == Finished(kinds.result_digest({}, {"refused": "TooLarge"}), (RESULT_FILE,), (), "TooLarge")


def _raising(error: BaseException) -> Callable[..., object]:
    def fail(*args: object) -> object:
        raise error

    return fail


def test_an_unexpected_error_in_a_kind_is_a_fixed_refusal_and_running_out_of_memory_is_not(tmp_path, digits, model,
                                                                                           monkeypatch):
    """A kind's bug (injected here into the model's forward pass) raises the same on every honest machine: they
    commit one fixed code, whatever the exception says, and are paid. Memory stays a limit, not a result."""
    digests = set()
    for i, error in enumerate([ZeroDivisionError("float division by zero"), IndexError("index 7 is out of bounds")]):
        monkeypatch.setattr(mlp, "metrics", _raising(error))
        job = prepare(tmp_path / str(i), "evaluate", b"{}", [model, digits])
        runner.run(job)
        report = json.loads((job / REPORT_FILE).read_bytes())
        assert report["refused"] == {"error": kinds.UNEXPECTED, "message": f"{type(error).__name__}: {error}"}
        assert json.loads((job / OUTPUTS / RESULT_FILE).read_bytes()) == {"refused": kinds.UNEXPECTED}
        digests.add(report["digest"])
    assert digests == {kinds.result_digest({}, {"refused": kinds.UNEXPECTED}).hex()}
    monkeypatch.setattr(mlp, "metrics", _raising(MemoryError()))
    with pytest.raises(MemoryError):
        runner.run(prepare(tmp_path / "memory", "evaluate", b"{}", [model, digits]))


def _hiding_memory_error(*args: object) -> object:
    """What zipfile does when a ``MemoryError`` leaves its buffer half written: its cleanup raises another."""
    try:
        raise MemoryError()
    except MemoryError:
        raise ValueError("I/O operation on closed file") from None


def test_running_out_of_memory_under_another_exception_is_still_no_result(tmp_path, digits, model, monkeypatch):
    """It was recorded as the job's result (``UnexpectedError``) on the machine whose limit it met, where another
    machine finished the job: the two disagreed, and one of them was slashed."""
    monkeypatch.setattr(mlp, "metrics", _hiding_memory_error)
    with pytest.raises(MemoryError):
        runner.run(prepare(tmp_path, "evaluate", b"{}", [model, digits]))


class CUDARuntimeError(RuntimeError):
    """An error as CuPy raises for the device (a fault, a failed kernel compile): no kind's deterministic bug."""


CUDARuntimeError.__module__ = "cupy_backends.cuda.api.runtime"


def test_a_device_error_is_no_result(tmp_path, digits, model, monkeypatch):
    failure = CUDARuntimeError("cudaErrorLaunchFailure: unspecified launch failure")
    monkeypatch.setattr(mlp, "metrics", _raising(failure))
    with pytest.raises(CUDARuntimeError):
        runner.run(prepare(tmp_path, "evaluate", b"{}", [model, digits]))


def test_a_refusal_quoting_inputs_at_any_length_leaves_a_report_the_worker_reads(tmp_path, digits, model,
                                                                                monkeypatch):
    """A refusal's message may quote what the inputs hold (a zip's member names, once megabytes of them): the
    report past what the worker reads made every honest provider a no-show. The message is kept short."""
    monkeypatch.setattr(mlp, "metrics", _raising(MalformedDataset("members " + "é" * 3_000_000)))
    job = prepare(tmp_path, "evaluate", b"{}", [model, digits])
    runner.run(job)
    assert (job / REPORT_FILE).stat().st_size < MAX_REPORT_BYTES
    report = json.loads((job / REPORT_FILE).read_bytes())
    assert report["refused"]["error"] == "MalformedDataset"
    assert report["refused"]["message"].startswith("members éé") and len(report["refused"]["message"]) < 2100


async def test_a_run_past_its_memory_is_killed_and_reported(tmp_path, digits):
    limits = Limits(memory_bytes=64 << 20, wall_seconds=120, cpu_seconds=120, threads=1)
    job = prepare(tmp_path, "train", b'{"hidden": [4096, 4096, 4096, 4096]}', [digits])
    outcome = await execute(job, limits)
    assert isinstance(outcome, Killed) and outcome.reason == "memory", outcome


async def test_a_run_past_its_wall_time_is_killed(tmp_path, digits):
    limits = Limits(memory_bytes=1 << 30, wall_seconds=2, cpu_seconds=120, threads=1)
    outcome = await execute(prepare(tmp_path, "train", b'{"epochs": 1000}', [digits]), limits)
    assert isinstance(outcome, Killed) and outcome.reason == "wall-time", outcome


async def test_a_run_past_its_cpu_time_is_killed(tmp_path, digits):
    limits = Limits(memory_bytes=1 << 30, wall_seconds=120, cpu_seconds=1, threads=1)
    outcome = await execute(prepare(tmp_path, "train", b'{"epochs": 1000}', [digits]), limits)
    assert isinstance(outcome, Killed) and outcome.reason == "cpu-time", outcome


async def test_a_crashed_runner_is_reported_with_its_last_words(tmp_path):
    (tmp_path / SPEC_FILE).write_text("{}")  # no inputs folder, no kind
    outcome = await execute(tmp_path, ROOMY)
    assert isinstance(outcome, Killed) and outcome.reason == "crashed" and "exit status 1" in outcome.detail


def test_a_job_s_limits_come_from_its_resources_and_deadline():
    limits = Limits.for_job(memory_mib=512, cpu_cores=2, wall_seconds=10.5)
    assert limits == Limits(memory_bytes=512 << 20, wall_seconds=10.5, cpu_seconds=21, threads=2)


def test_a_gpu_job_has_no_address_space_limit_and_a_cpu_job_has_its_memory_plus_the_interpreter():
    assert Limits.for_job(memory_mib=512, cpu_cores=1, wall_seconds=10, gpu=True).address_space == 0
    assert Limits.for_job(memory_mib=512, cpu_cores=1, wall_seconds=10).address_space == (512 << 20) + INTERPRETER_MARGIN


async def test_a_gpu_job_runs_on_cupy_and_never_falls_back_to_the_cpu_silently(tmp_path, digits):
    """A CPU provider never gets a GPU job (the chain assigns by hardware); one whose CuPy is gone must not
    commit a CPU result in the GPU kernel class: the run crashes and is reported."""
    folder = prepare(tmp_path, "train", b'{"epochs": 1, "hidden": [8]}', [digits])
    spec = json.loads((folder / SPEC_FILE).read_text())
    (folder / SPEC_FILE).write_text(json.dumps({**spec, "gpu": True}))
    outcome = await execute(folder, Limits.for_job(memory_mib=1024, cpu_cores=1, wall_seconds=120, gpu=True))
    if importlib.util.find_spec("cupy") is None:
        assert isinstance(outcome, Killed) and outcome.reason == "crashed" and "cupy" in outcome.detail
    else:  # a machine with CuPy: the same digest as the CPU run (kernels.py says why)
        expected = kinds.kind("train").run({"dataset": digits}, b'{"epochs": 1, "hidden": [8]}', SEED)
        assert isinstance(outcome, Finished) and outcome.digest == kinds.result_digest(expected.outputs, expected.result)


async def test_a_fresh_model_much_wider_than_its_data_runs_within_its_estimate(tmp_path):
    """Two samples of 32,768 features and a hidden layer of 2,048: 67 M parameters, whose weights, gradients
    and velocity the estimate once left out (it counted the data, a few KiB), so the run ran out of memory on
    every honest provider. Run under the limits the estimate gives, as a provider runs it."""
    rng = np.random.default_rng(5)
    dataset = save_dataset(Dataset(rng.standard_normal((2, 32768)).astype(np.float32), np.array([0, 1])))
    params = b'{"classes": 2, "epochs": 1, "hidden": [2048], "validation_split": 0}'
    estimate = kinds.KINDS["train"].resources(params, {"dataset": len(dataset)})
    limits = Limits.for_job(memory_mib=-(-estimate.memory_bytes // (1 << 20)), cpu_cores=1, wall_seconds=120)
    outcome = await execute(prepare(tmp_path, "train", params, [dataset]), limits)
    assert isinstance(outcome, Finished), outcome
