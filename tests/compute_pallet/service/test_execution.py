"""The job subprocess under its limits: a finished run's report, a refused input as a deterministic result,
and runs ended by the memory, CPU-time and wall-time limits or by a crash, each reported for what it is."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from compute_pallet import datasets, kinds
from compute_pallet.service.execution import INTERPRETER_MARGIN, Finished, Killed, Limits, execute
from compute_pallet.service.runner import INPUTS, OUTPUTS, RESULT_FILE, SPEC_FILE, canonical_json

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
    record = json.loads((tmp_path / "0" / OUTPUTS / RESULT_FILE).read_bytes())
    assert record["refused"] == refusal and record["message"]
    assert outcome.digest == kinds.result_digest({}, record)


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
