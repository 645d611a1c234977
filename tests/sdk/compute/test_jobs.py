"""What ``client.compute`` works out before it signs anything: params as the kind's strict JSON, ``--param``
arguments, the names of a job's inputs and outputs, the default price cap and deadline, and the typed error
each of the pallets' refusals becomes."""

from __future__ import annotations

import pytest

from compute_pallet import kinds
from compute_pallet.kinds import KIND_IDS
from compute_pallet.pallets.federated import FederatedLearning
from compute_pallet.pallets.jobs import ComputeJobs
from compute_pallet.pallets.types import Hardware, Offer, ProviderInfo, Resources
from sdk.chain.types import DispatchFailure
from sdk.compute import errors, jobs
from sdk.compute.cli import _show_paths as show_result
from sdk.compute.records import JobResult


def test_params_become_the_kinds_strict_json_or_are_refused():
    assert jobs.build_params("train", {"hidden": [64], "epochs": 3}) == b'{"epochs":3,"hidden":[64]}'
    assert jobs.build_params("evaluate", None) == b"{}"
    assert jobs.build_params("fedavg", b'{"aggregation":"median"}') == b'{"aggregation":"median"}'
    for kind, params in [("train", {"hidden": "wide"}), ("train", {"epochs": 0}), ("train", {"epochs": True}),
                         ("train", {"unknown": 1}), ("train", b"[1]"), ("train", b'{"epochs":1,"epochs":2}'),
                         ("train", {"learning_rate": float("nan")}), ("evaluate", {"epochs": 1}),
                         ("fedavg", {"aggregation": "median", "weights": [1, 2]}), ("train", {"x": object()})]:
        with pytest.raises(errors.InvalidParams):
            jobs.build_params(kind, params)


def test_param_arguments_read_json_values_and_lists():
    assert jobs.params_from_args("train", ["hidden=64", "epochs=3", "learning_rate=0.1"]) == {
        "hidden": [64], "epochs": 3, "learning_rate": 0.1}
    assert jobs.params_from_args("train", ["hidden=64,32"]) == {"hidden": [64, 32]}
    assert jobs.params_from_args("train", ["hidden=[8, 8]"]) == {"hidden": [8, 8]}
    assert jobs.params_from_args("fedavg", ["aggregation=median"]) == {"aggregation": "median"}
    for bad in (["hidden"], ["=3"]):
        with pytest.raises(errors.InvalidParams):
            jobs.params_from_args("train", bad)
    with pytest.raises(errors.InvalidParams, match="nested too deep"):
        jobs.params_from_args("train", ["hidden=" + "[" * 100_000])
    with pytest.raises(errors.UnknownKind):  # a typo of the kind is no traceback of the kinds' own lookup
        jobs.params_from_args("trian", ["epochs=3"])
    with pytest.raises(errors.UnknownKind):
        jobs.resolve_kind("sort")
    assert jobs.resolve_kind(KIND_IDS["infer"]) == ("infer", KIND_IDS["infer"])


def test_outputs_are_named_by_position_with_the_result_record_last():
    assert jobs.output_names("train", 2) == ("model.safetensors", "result.json")
    assert jobs.output_names("evaluate", 1) == ("result.json",)
    assert jobs.output_names("train", 1) == ("result.json",)  # a run the kind refused: only its record
    assert jobs.output_names("infer", 3) == ("predictions.npz", "output.1", "result.json")
    assert jobs.output_names("train", 0) == ()


def test_default_resources_follow_the_kinds_estimate_in_whole_mib():
    small, large = (jobs.chain_resources(jobs.estimate("train", b"{}", [size])) for size in (10_000, 100 << 20))
    assert small.cpu_cores == 1 and small.gpu_memory_mib == 0 and 0 < small.memory_mib < large.memory_mib
    assert jobs.estimate("train", b"{}", [10_000]).seconds <= jobs.estimate("train", b'{"epochs":500}', [10_000]).seconds
    with pytest.raises(errors.BadInputs):
        jobs.estimate("train", b"{}", [1, 2, 3])  # a dataset and a model at most


def _provider(price: int | None, *, heartbeat: int = 100, cores: int = 4, stake: int = 10, active: int = 0,
              leaving: bool = False):
    offers = () if price is None else (Offer(KIND_IDS["train"], price),)
    return bytes(32), ProviderInfo(Hardware(cores, 4_096, None), offers, b"", stake, 0, heartbeat, active, 0, 0, 0,
                                   leaving)


def test_eligible_offers_and_the_default_price_cap():
    providers = [_provider(5), _provider(3), _provider(9), _provider(1, heartbeat=10), _provider(2, cores=1),
                 _provider(4, stake=1), _provider(6, active=8), _provider(None), _provider(1, leaving=True)]
    prices = jobs.eligible_prices(providers, KIND_IDS["train"], Resources(2, 1_024, 0), block=101,
                                  heartbeat_timeout=15, min_stake=10, max_jobs=8)
    assert prices == [3, 5, 9]  # stale, too small, understaked, full, not offering and leaving are left out
    assert jobs.default_price_cap(prices, 2, 1) == 9  # room for a dispute's third provider
    assert jobs.default_price_cap(prices, 1, 1) == 5
    assert jobs.default_price_cap(prices[:2], 2, 1) == 5  # fewer than r + 1: the dearest
    with pytest.raises(errors.NotEnoughProviders):
        jobs.default_price_cap(prices, 4, 1)


def test_deadlines_leave_a_commit_window_that_fits_the_run_and_by_default_a_dispute():
    run = kinds.Resources(cpu_cores=1, memory_bytes=0, seconds=7)  # 4 blocks of 2 s
    assert jobs.deadlines(commit_period=60, reveal_period=10, run=run, block_ms=2_000,
                          max_duration=10_000) == (64 + 10 + 1, 2 * (64 + 10))
    endless = kinds.Resources(cpu_cores=1, memory_bytes=0, seconds=10**9)
    assert jobs.deadlines(commit_period=60, reveal_period=10, run=endless, block_ms=2_000,
                          max_duration=10_000) == (10_000 + 10 + 1, 10_000)  # longer than the chain takes


@pytest.mark.parametrize("pallet", [ComputeJobs, FederatedLearning])
def test_every_refusal_of_the_pallets_maps_to_a_typed_error(pallet):
    for error in pallet.ERRORS:
        failure = DispatchFailure("Module", pallet.NAME, error.__name__, "")
        refused = errors.refusal(f"{pallet.NAME}.call", failure)
        assert isinstance(refused, errors.Refused) and refused.failure is failure
        expected = {"UnknownFile": "UnknownInput", "FileNotActive": "InputNotActive",
                    "FileNotReadable": "InputNotReadable", "FileNotPublic": "InputNotPublic",
                    "FileDeleting": "InputDeleted", "ParamsTooLong": "InvalidParams",
                    "MemoryTooLow": "AbsurdResources"}.get(error.__name__, error.__name__)
        if hasattr(errors, expected):
            assert type(refused) is getattr(errors, expected), error.__name__
        else:
            assert type(refused) is errors.Refused
    other = errors.refusal("ComputeJobs.submit", DispatchFailure("Token", None, "FundsUnavailable", ""))
    assert type(other) is errors.Refused and "FundsUnavailable" in str(other)


@pytest.mark.parametrize("name, meaning", [
    ("MalformedDataset", "Not a dataset .npz: bad zip"), ("Diverged", None), ("InvalidParams", "A job's params"),
    ("TooLarge", "over this format's size bound"), (kinds.UNEXPECTED, "none of its refusals")])
def test_a_refused_result_is_explained_with_its_refusals_meaning(capsys, name, meaning):
    """``cairn compute result``: the paths on stdout as for any result; on stderr, what the refusal means."""
    show_result(JobResult(7, ("out/result.json",), {"refused": name}))
    out, err = capsys.readouterr()
    assert out == "out/result.json\n"
    assert f"job 7: its kind refused the inputs or params ({name}: " in err
    assert (meaning or kinds.refusal_meaning(name)) in " ".join(err.split())
    assert kinds.refusal_meaning(name)


def test_a_refusal_named_by_a_providers_result_file_reaches_the_terminal_escaped(capsys):
    """A result file only has to hash to the verified digest: with r = 1 its provider writes what it likes."""
    show_result(JobResult(7, ("out/result.json",), {"refused": "\x1b]0;owned\x07\x1b[2J"}))
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b]0;owned\\x07" in err


def test_a_result_that_is_no_refusal_prints_only_its_paths(capsys):
    show_result(JobResult(7, ("out/model.safetensors", "out/result.json"), {"accuracy": 0.97}))
    assert capsys.readouterr() == ("out/model.safetensors\nout/result.json\n", "")
    assert kinds.refusal_meaning("NoSuchRefusal") is None


@pytest.mark.parametrize("args, option", [
    (["compute", "submit", "--input", "0x" + "ab" * 32, "--kind", "trian", "--param", "epochs=3"], "'--kind'"),
    (["compute", "submit", "--input", "0x" + "ab" * 32, "--kind", "train", "--param", "hidden=" + "[" * 100_000],
     "'--param'"),
    (["fl", "create", "0x" + "ab" * 32, "--rounds", "1", "--stake", "1", "--commit-period", "1", "--deliver-period",
      "1", "--reward-pool", "1", "--price-cap", "1", "--aggregation", "aggregation=mode"], "'--aggregation'"),
    (["fl", "participate", "0", "--data", __file__, "--param", "epochs=0"], "'--param'")])
def test_the_compute_cli_refuses_bad_params_before_connecting(args, option):
    """A usage error naming the option, at once: no traceback, no wait on an unreachable node."""
    from click.testing import CliRunner

    from sdk.cli import main

    result = CliRunner().invoke(main, [*args, "--rpc", "ws://127.0.0.1:9"])
    assert result.exit_code == 2 and f"Invalid value for {option}" in result.output, result.output
