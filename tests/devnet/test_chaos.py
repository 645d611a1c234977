"""The fault soak's parts that need no devnet: the invariant judgements on constructed data, the seeded fault
schedule, a lane's handling of faults that cannot be injected or undone (on trio's mock clock), the fragment
corruption, duration parsing and the ``chaos`` command's refusals. The soak itself is ``tests/integration/
test_soak.py`` (``-m slow``)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import trio
from click.testing import CliRunner

from devnet import launcher
from devnet.da import withhold
from devnet.chaos import (END_MARGIN_S, LANES, Actions, Fault, FaultKind, Summary, _heal, _inject, _undo,
                          parse_duration, run_lane, schedule)
from devnet.invariants import (
    JobEvent,
    JobLedger,
    blobs_reconstruct,
    escrow_conserved,
    files_intact,
    finality_kept,
    issuance_balances,
    job_ledgers,
    jobs_verify,
)
from devnet.load import GET_ATTEMPTS, AckedBlob, FinalityLog, digest, parse_head
from devnet.state import DevnetError, DevnetGone, DevnetState, ProcessRecord, ProcessState, process_state
from devnet.storage import corrupt_stored_fragment
from sdk.cli import main
from sdk.da.types import BlobRef
from sdk.storage.wire import encode_body_prefix

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
    blobs = [AckedBlob((BlobRef(A),), digest(b"a"), 300, read_back=True),
             AckedBlob((BlobRef(B),), digest(b"b"), 300, attempts=3), AckedBlob((BlobRef(C),), digest(b"c"), 300),
             AckedBlob((BlobRef(A), BlobRef(B)), digest(b"ab"), 300),
             AckedBlob((BlobRef(C), BlobRef(A)), digest(b"ca"), 300, attempts=1, pruned=True)]
    check = blobs_reconstruct(blobs, {0: None, 1: None, 2: digest(b"x"), 3: "error: NotAvailable: 3 columns", 4: None})
    assert check.checked == 5 and check.notes == ("1 past their retention, read back during the run",)
    assert check.violations == (
        f"blob {BlobRef(B)}: marked available, never read back: 3 read(s) during the run failed and it is pruned now",
        f"blob {BlobRef(C)}: rebuilt different bytes",
        f"blob {BlobRef(A)}, {BlobRef(B)}: error: NotAvailable: 3 columns",
        f"blob {BlobRef(C)}, {BlobRef(A)}: marked available, never read back: 1 read(s) during the run failed and "
        "it is pruned now; a read during the run found it past its retention")
    assert blobs_reconstruct(blobs[:1], {0: digest(b"a")}).held


def test_a_pruned_blob_the_load_never_tried_to_read_is_not_judged_and_said_so():
    blobs = [AckedBlob((BlobRef(A),), digest(b"a"), 300), AckedBlob((BlobRef(B),), digest(b"b"), 300)]
    check = blobs_reconstruct(blobs, {0: None, 1: digest(b"b")})
    assert check.held and check.checked == 1
    assert check.notes == ("1 pruned before the load tried to read them back: not judged",)
    alone = blobs_reconstruct(blobs[:1], {0: None})
    assert not alone.held and alone.result == "NOT JUDGED: nothing to judge"


def test_the_load_reads_a_blob_back_a_few_times_at_most_and_never_one_the_chain_pruned():
    blob = AckedBlob((BlobRef(A),), digest(b"a"), 300)
    assert blob.to_read
    assert not replace(blob, attempts=GET_ATTEMPTS).to_read
    assert not replace(blob, attempts=1, pruned=True).to_read
    assert not replace(blob, attempts=1, read_back=True).to_read


def test_a_verified_job_whose_outputs_do_not_match_is_a_violation():
    check = jobs_verify({3: None, 4: "ResultMismatch: the outputs do not hash to the verified digest"}, unfinished=2)
    assert check.violations == ("job 4: ResultMismatch: the outputs do not hash to the verified digest",)
    assert check.notes == ("2 of the soak's jobs not verified (failed or still running)",)
    assert jobs_verify({3: None}).held
    assert jobs_verify({}).notes == ("the chain took none of the soak's jobs",)


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


def test_a_job_older_than_the_soak_is_booked_from_what_it_held_at_the_start():
    events = [JobEvent(11, "ProviderPaid", 4, 30), JobEvent(11, "JobVerified", 4, 60),
              JobEvent(12, "JobSubmitted", 9, 90), JobEvent(14, "ProviderPaid", 9, 40)]
    ledgers, strays = job_ledgers({3: 0, 4: 90}, events, {3: 0, 4: 0, 9: 50})
    assert strays == []
    assert ledgers == {3: JobLedger(0), 4: JobLedger(90, paid=30, refunded=60), 9: JobLedger(90, paid=40, held=50)}
    assert escrow_conserved(ledgers).held


def test_a_withheld_slots_pay_is_booked_as_paid():
    """``InputsWithheld`` pays a provider out of the escrow as ``ProviderPaid`` does: left out, a job that failed
    on withheld inputs looked unbalanced by the withheld slots' prices."""
    events = [JobEvent(12, "JobSubmitted", 9, 90), JobEvent(14, "InputsWithheld", 9, 30),
              JobEvent(14, "ProviderPaid", 9, 30), JobEvent(14, "JobFailed", 9, 30)]
    ledgers, strays = job_ledgers({}, events, {})
    assert strays == [] and ledgers == {9: JobLedger(90, paid=60, refunded=30)}
    assert escrow_conserved(ledgers).held


def test_money_events_of_a_job_never_submitted_nor_on_chain_at_the_start_are_violations_not_a_crash():
    events = [JobEvent(12, "ProviderPaid", 7, 30), JobEvent(13, "JobFailed", 8, 90)]
    ledgers, strays = job_ledgers({}, events, {})
    assert ledgers == {} and len(strays) == 2
    assert strays[0] == "#12: ProviderPaid of job 7 (30), a job neither on chain at the soak's start nor submitted since"
    check = escrow_conserved(ledgers, strays)
    assert not check.held and check.violations == tuple(strays)


def test_an_escrow_scan_cut_short_judges_nothing_and_fails():
    check = escrow_conserved({0: JobLedger(90)}, cut_short="read the events of #11..#40 only")
    assert check.checked == 0 and not check.held
    assert check.notes == ("read the events of #11..#40 only",)


@pytest.mark.parametrize("check", [
    finality_kept(FinalityLog(), {"validator-0": {}}), files_intact({}, {}), blobs_reconstruct([], {}),
    jobs_verify({}, unfinished=4), escrow_conserved({})], ids=lambda check: check.name)
def test_a_check_with_nothing_to_judge_fails_while_its_role_had_load(check):
    assert check.checked == 0 and not check.held and check.result == "NOT JUDGED: nothing to judge"
    without_load = replace(check, expected=False)
    assert without_load.held and without_load.result == "not judged: its role had no load"


def test_a_run_with_a_check_not_judged_fails_and_its_table_says_why():
    summary = Summary(1, 60, checks=[issuance_balances(5, [(5, 0)]), jobs_verify({}, unfinished=2)])
    assert not summary.held
    assert ("| every paid job's result verifies | 0 | NOT JUDGED: nothing to judge; 2 of the soak's jobs not "
            "verified (failed or still running) |") in summary.table()
    assert Summary(1, 60, checks=[issuance_balances(5, [(5, 0)])]).held
    assert not Summary(1, 60).held  # a check that could not read the chain judged nothing


@pytest.mark.parametrize(("head", "header", "parsed"), [
    ("0x" + A.hex(), {"number": "0x1f"}, (31, A)), (None, None, None), ("0x" + A.hex(), None, None),
    ("0x" + A.hex(), {"parentHash": "0x00"}, None), ("0x" + A.hex(), {"number": 31}, None),
    ("0xzz", {"number": "0x1f"}, None)])
def test_a_finalized_head_a_validator_cannot_give_yet_is_none_not_a_crash(head, header, parsed):
    assert parse_head(head, header) == parsed


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
    assert skipped == ["validator faults: 3 of 3 running, at least 4 needed (one down must leave 3 voting)",
                       "da faults: 0 running, at least 1 needed", "provider faults: 2 running, at least 3 needed"]


@pytest.mark.parametrize("total, running, killed", [(4, 4, True), (5, 4, False), (5, 5, True), (6, 5, False),
                                                    (7, 6, True)])
def test_a_validator_is_killed_only_if_more_than_two_thirds_of_all_of_them_still_vote(total, running, killed):
    """One already down (killed or paused by hand) counts: with 4 of 5 running, killing one stops finality."""
    devnet = {"validator": [f"validator-{i}" for i in range(running)]}
    faults, _ = schedule(5, 600, devnet, authorities=total)
    assert any(fault.kind is FaultKind.VALIDATOR_KILL for fault in faults) is killed


def test_a_run_too_short_for_any_fault_schedules_none():
    assert schedule(5, 10, DEVNET)[0] == []


# --- a lane ---------------------------------------------------------------------------------------------


class Targets:
    """What the lane's actions do to the targets, in a test: who is faulty now; the undo fails ``stuck`` times."""

    def __init__(self, stuck: int = 0, unreachable: frozenset[str] = frozenset()) -> None:
        self.faulty: list[str] = []
        self.injected: list[str] = []
        self.stuck, self.unreachable = stuck, unreachable

    def inject(self, fault: Fault) -> None:
        if fault.target in self.unreachable:
            raise FileNotFoundError(f"{fault.target}: the fragment was renamed meanwhile")
        assert not self.faulty, f"{fault.target} faulted while {self.faulty} still is"
        self.faulty.append(fault.target)
        self.injected.append(fault.target)

    def undo(self, fault: Fault) -> None:
        if self.stuck:
            self.stuck -= 1
            raise DevnetError(f"{fault.target} did not become ready")
        self.faulty.remove(fault.target)


LANE = [Fault(10, FaultKind.VALIDATOR_KILL, "validator-1", 20), Fault(50, FaultKind.VALIDATOR_KILL, "validator-2", 20),
        Fault(90, FaultKind.VALIDATOR_KILL, "validator-3", 20)]


async def lane(targets: Targets, end: float = 600) -> Summary:
    summary = Summary(1, end)
    await run_lane(LANE, Actions(targets.inject, targets.undo), trio.current_time(), trio.current_time() + end,
                   summary, lambda _: None)
    return summary


async def test_a_lane_retries_an_undo_until_it_succeeds_before_its_next_fault(autojump_clock):
    targets = Targets(stuck=8)  # 80 s of failed restarts: past the next fault's time
    summary = await lane(targets)
    assert targets.injected == ["validator-1", "validator-2", "validator-3"] and targets.faulty == []
    assert summary.injected[FaultKind.VALIDATOR_KILL] == 3 and summary.incidents == []
    assert summary.fault_failures == {(FaultKind.VALIDATOR_KILL, "undo: DevnetError"): 8}


async def test_a_fault_still_not_undone_when_the_run_ends_drops_the_rest_of_its_lane(autojump_clock):
    targets = Targets(stuck=10**6)
    summary = await lane(targets, end=200)
    assert targets.injected == ["validator-1"] and targets.faulty == ["validator-1"]
    assert len(summary.incidents) == 1 and summary.incidents[0].startswith("dropped: the lane's 2 later fault(s)")
    assert "validator-1: validator killed was not undone by the end" in summary.incidents[0]


async def test_faults_a_slow_undo_delayed_past_the_end_are_dropped_not_injected_late(autojump_clock):
    targets = Targets(stuck=8)  # validator-1 back at about 110 s: validator-2's 20 s would end after 140 - 15
    summary = await lane(targets, end=140)
    assert targets.injected == ["validator-1"] and targets.faulty == []
    assert summary.incidents == ["dropped: validator-2: validator killed and the lane's 1 later fault(s), delayed "
                                 "past the end by an undo"]


async def test_a_fault_that_cannot_be_injected_is_counted_and_the_lane_goes_on(autojump_clock):
    targets = Targets(unreachable=frozenset({"validator-2"}))
    summary = await lane(targets)
    assert targets.injected == ["validator-1", "validator-3"]
    assert summary.injected[FaultKind.VALIDATOR_KILL] == 2
    assert summary.fault_failures == {(FaultKind.VALIDATOR_KILL, "FileNotFoundError"): 1}
    assert "| validator killed | 2 | 1 |" in summary.table()


# --- a corrupted fragment ---------------------------------------------------------------------------------


def stored_fragments(folder, count: int) -> dict:
    """``count`` fragment files as a storage node keeps them (a roots header, then the body)."""
    header = encode_body_prefix([bytes([i]) * 32 for i in range(3)])
    files = {}
    for index in range(count):
        path = folder / "store" / "fragments" / (bytes([index]) * 32).hex() / "0.1"
        path.parent.mkdir(parents=True)
        path.write_bytes(header + random.Random(index).randbytes(300))
        files[path] = path.read_bytes()
    return files


def test_the_soak_corrupts_a_fragment_drawn_from_its_generator(tmp_path):
    files = stored_fragments(tmp_path, 6)
    picked = {corrupt_stored_fragment(tmp_path, random.Random(seed)) for seed in range(8)}
    assert len(picked) > 1  # not always the first in sorted order
    assert all((path.read_bytes() != before) == (path in picked) for path, before in files.items())


def test_corrupting_one_fragment_again_changes_every_byte_again_and_never_restores_it(tmp_path):
    (path, original), = stored_fragments(tmp_path, 1).items()
    body = 2 + 3 * 32
    rng, before = random.Random(7), original
    for _ in range(20):
        assert corrupt_stored_fragment(tmp_path, rng) == path
        after = path.read_bytes()
        assert after[:body] == original[:body]  # its roots header kept
        assert all(old != new for old, new in zip(before[body:], after[body:]))
        assert after != original
        before = after


def test_the_same_seed_corrupts_the_same_fragment_the_same_way(tmp_path):
    stored_fragments(tmp_path / "a", 5), stored_fragments(tmp_path / "b", 5)
    first = corrupt_stored_fragment(tmp_path / "a", random.Random(11))
    second = corrupt_stored_fragment(tmp_path / "b", random.Random(11))
    assert first.relative_to(tmp_path / "a") == second.relative_to(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()


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


def test_a_devnet_stopped_or_replaced_is_never_revived_by_a_soak_still_running(tmp_path):
    """A Ctrl-C on the foreground ``up`` (or a ``down``) while a soak runs: its pending undo and its final heal
    would start the processes again, with no ``up`` watching them; after another ``up``, act on that devnet."""
    record = ProcessRecord("storage-0", "storage", 0, 0, 0, {}, ("true",), str(tmp_path / "storage-0"),
                           str(tmp_path / "storage-0.log"))
    da = ProcessRecord("da-0", "da", 0, 0, 0, {}, ("true",), str(tmp_path), str(tmp_path / "da-0.log"))
    DevnetState(str(tmp_path), "spec.json", (record, da), "first", stopped=True).save()
    fault = Fault(1.0, FaultKind.STORAGE_KILL, "storage-0", 10.0)
    switch = withhold(da, on=True)  # a withholding fault of the soak, pending when the devnet was stopped
    for revive in (lambda: launcher.restart(tmp_path, "storage-0"), lambda: _undo(tmp_path, "first", fault),
                   lambda: _heal(tmp_path, "first", ["storage-0", "da-0"], print)):
        with pytest.raises(DevnetGone, match="was stopped"):
            revive()
    assert not switch.exists()  # its own switch goes all the same: the next `up` would start the node withholding
    DevnetState(str(tmp_path), "spec.json", (record, da), "second").save()  # another `up` since
    with pytest.raises(DevnetGone, match="replaced"):
        _inject(tmp_path, "first", random.Random(1), fault)
    assert process_state(launcher.load(tmp_path).process("storage-0")) is ProcessState.EXITED
