"""The fault soak's parts that need no devnet: the invariant judgements on constructed data, the seeded fault
schedule, duration parsing and the ``chaos`` command's refusals. The soak itself is ``tests/integration/
test_soak.py`` (``-m slow``)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from devnet.chaos import END_MARGIN_S, LANES, FaultKind, parse_duration, schedule
from devnet.invariants import (
    JobLedger,
    blobs_reconstruct,
    escrow_conserved,
    files_intact,
    finality_kept,
    issuance_balances,
    jobs_verify,
)
from devnet.load import AckedBlob, FinalityLog, digest
from devnet.state import DevnetState, ProcessRecord
from sdk.cli import main
from sdk.da.types import BlobRef

A, B, C = (bytes([n]) * 32 for n in (1, 2, 3))
DEVNET = {"validator": [f"validator-{i}" for i in range(4)], "storage": [f"storage-{i}" for i in range(6)],
          "da": [f"da-{i}" for i in range(4)], "provider": [f"provider-{i}" for i in range(3)]}


def finality_log(blocks: dict[int, bytes]) -> FinalityLog:
    log = FinalityLog()
    for number, block_hash in blocks.items():
        log.observe("validator-0", number, block_hash)
    return log


# --- invariants -------------------------------------------------------------------------------------------


def test_finality_holds_when_every_validator_keeps_the_finalized_blocks():
    log = finality_log({1: A, 2: B})
    check = finality_kept(log, {"validator-0": {1: A, 2: B}, "validator-1": {1: A, 2: B}})
    assert check.held and check.checked == 4


def test_a_reverted_finalized_block_is_detected_on_the_validator_that_reverted_it():
    log = finality_log({1: A, 2: B})
    check = finality_kept(log, {"validator-0": {1: A, 2: B}, "validator-3": {1: A, 2: C}})
    assert not check.held
    assert check.violations == (f"validator-3: #2 was finalized as 0x{B.hex()}, now 0x{C.hex()}",)


def test_a_finalized_block_a_validator_no_longer_has_is_a_violation():
    check = finality_kept(finality_log({5: A}), {"validator-1": {5: None}})
    assert check.violations == (f"validator-1: #5 was finalized as 0x{A.hex()}, now no block",)


def test_two_validators_finalizing_different_blocks_at_one_number_are_caught_as_it_happens():
    log = finality_log({7: A})
    log.observe("validator-2", 7, B)
    check = finality_kept(log, {"validator-0": {7: A}})
    assert not check.held and "validator-2 finalized" in check.violations[0]


def test_a_changed_file_and_a_lost_one_are_detected():
    acked = {A: digest(b"one"), B: digest(b"two"), C: digest(b"three")}
    read = {A: digest(b"one"), B: digest(b"tw0"), C: "error: DownloadFailed: too few fragments"}
    check = files_intact(acked, read)
    assert check.checked == 3
    assert check.violations == (f"file 0x{B.hex()}: changed: its bytes hash differently",
                                f"file 0x{C.hex()}: error: DownloadFailed: too few fragments")
    assert files_intact(acked, {A: acked[A], B: acked[B], C: acked[C]}).held


def test_a_blob_must_rebuild_its_payload_or_have_been_read_back_before_it_was_pruned():
    blobs = [AckedBlob((BlobRef(A),), digest(b"a"), read_back=True), AckedBlob((BlobRef(B),), digest(b"b")),
             AckedBlob((BlobRef(C),), digest(b"c")), AckedBlob((BlobRef(A), BlobRef(B)), digest(b"ab"))]
    check = blobs_reconstruct(blobs, {0: None, 1: None, 2: digest(b"x"), 3: "error: NotAvailable: 3 columns"})
    assert check.checked == 4 and check.notes == ("2 past their retention, read back during the run",)
    assert check.violations == (f"blob {BlobRef(B)}: pruned before it was ever read back",
                                f"blob {BlobRef(C)}: rebuilt different bytes",
                                f"blob {BlobRef(A)}, {BlobRef(B)}: error: NotAvailable: 3 columns")
    assert blobs_reconstruct(blobs[:1], {0: digest(b"a")}).held


def test_a_verified_job_whose_outputs_do_not_match_is_a_violation():
    check = jobs_verify({3: None, 4: "ResultMismatch: the outputs do not hash to the verified digest"}, unfinished=2)
    assert check.violations == ("job 4: ResultMismatch: the outputs do not hash to the verified digest",)
    assert check.notes == ("2 of the soak's jobs not verified (failed or still running)",)
    assert jobs_verify({3: None}).held


def test_issuance_must_balance_to_the_unit():
    accounts = [(10**12, 0), (5, 7), (0, 3)]
    assert issuance_balances(10**12 + 15, accounts).held
    check = issuance_balances(10**12 + 14, accounts)
    assert check.violations == (f"accounts hold {10**12 + 15}, TotalIssuance is {10**12 + 14} (off by 1)",)


def test_escrow_must_be_paid_refunded_or_still_held_to_the_unit():
    jobs = {0: JobLedger(escrowed=90, paid=40, refunded=50), 1: JobLedger(escrowed=90, held=90),
            2: JobLedger(escrowed=90, paid=40, refunded=49)}
    check = escrow_conserved(jobs)
    assert check.checked == 3
    assert check.violations == ("job 2: escrowed 90 ≠ paid 40 + refunded 49 + held 0",)


# --- the fault schedule -----------------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_faults_and_another_seed_others():
    first, _ = schedule(11, 600, DEVNET)
    assert schedule(11, 600, DEVNET)[0] == first
    assert schedule(12, 600, DEVNET)[0] != first
    assert {fault.kind for fault in first} == set(FaultKind)  # ten minutes draw every kind


def test_a_lane_has_one_fault_at_a_time_and_every_fault_ends_before_the_run_does():
    faults, skipped = schedule(5, 600, DEVNET)
    assert not skipped
    for kinds in LANES.values():
        lane = [fault for fault in faults if fault.kind in kinds]
        assert len(lane) >= 3
        for before, after in zip(lane, lane[1:]):
            assert before.at + before.hold < after.at  # at most one validator (DA node, ...) down at once
    assert all(fault.at + fault.hold <= 600 - END_MARGIN_S for fault in faults)


def test_roles_missing_or_too_few_to_survive_a_fault_are_skipped_and_said_so():
    devnet = {"validator": DEVNET["validator"][:3], "storage": DEVNET["storage"], "provider": DEVNET["provider"][:2]}
    faults, skipped = schedule(5, 600, devnet)
    assert {fault.target.rsplit("-", 1)[0] for fault in faults} == {"storage"}
    assert skipped == ["validator faults: 3 running, at least 4 needed", "da faults: 0 running, at least 1 needed",
                       "provider faults: 2 running, at least 3 needed"]


def test_a_run_too_short_for_any_fault_schedules_none():
    assert schedule(5, 10, DEVNET)[0] == []


# --- durations and the command ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("10m", 600), ("1h", 3600), ("1m30s", 90)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0m", "-5m", "10 minutes", "1.5m", "m", "10m1h"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def chaos(*args: str):
    return CliRunner().invoke(main, ["devnet", "chaos", *args])


@pytest.mark.parametrize("duration", ["0", "-1", "soon", "5x"])
def test_the_command_refuses_a_bad_duration_as_a_usage_error(duration, tmp_path):
    result = chaos("--duration", duration, "--base-path", str(tmp_path))
    assert result.exit_code == 2 and "--duration" in result.output


def test_the_command_refuses_a_negative_seed(tmp_path):
    result = chaos("--seed", "-1", "--base-path", str(tmp_path))
    assert result.exit_code == 2 and "--seed" in result.output


def test_the_command_says_when_there_is_no_devnet(tmp_path):
    result = chaos("--duration", "1m", "--base-path", str(tmp_path / "none"))
    assert result.exit_code == 1 and f"no devnet under {tmp_path / 'none'}" in result.output


def test_the_command_says_when_no_validator_of_the_devnet_runs(tmp_path):
    exited = ProcessRecord("validator-0", "validator", 0, 2**22 + 1, 0, {"rpc": 1}, ("node",), str(tmp_path), "log")
    DevnetState(str(tmp_path), str(tmp_path / "chain-spec.json"), (exited,)).save()
    result = chaos("--duration", "1m", "--base-path", str(tmp_path))
    assert result.exit_code == 1 and "no validator of the devnet" in result.output and "is running" in result.output
