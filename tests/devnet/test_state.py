"""The devnet record: its file, the lock, and telling a recorded process from whatever holds its pid now."""

from __future__ import annotations

import signal
import subprocess
import threading

import pytest

from devnet.state import (
    DevnetState,
    ProcessRecord,
    ProcessState,
    StateError,
    UnknownProcess,
    locked,
    process_state,
    signal_process,
    start_time,
    stop_processes,
    wait_for_exit,
)
from devnet.invariants import running_validators
from tests.integration.nodes import wait_until


def record_of(process: subprocess.Popen, name: str = "validator-0") -> ProcessRecord:
    return ProcessRecord(name, "validator", 0, process.pid, start_time(process.pid), {"rpc": 1}, ("sleep", "60"),
                         "/nowhere", "/nowhere.log")


@pytest.fixture
def sleeper():
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait(10)


def test_running_paused_and_exited(sleeper):
    record = record_of(sleeper)
    assert process_state(record) is ProcessState.RUNNING
    assert signal_process(record, signal.SIGSTOP)
    wait_until(lambda: process_state(record) is ProcessState.PAUSED, 10, "paused")
    assert signal_process(record, signal.SIGCONT)
    wait_until(lambda: process_state(record) is ProcessState.RUNNING, 10, "running again")
    assert signal_process(record, signal.SIGKILL)
    assert wait_for_exit([record], 10) == []  # reaped: our child does not linger as a zombie
    assert process_state(record) is ProcessState.EXITED
    assert not signal_process(record, signal.SIGKILL)


def test_a_pid_now_held_by_another_process_is_never_signalled(sleeper):
    stale = ProcessRecord(**{**record_of(sleeper).__dict__, "start_time": start_time(sleeper.pid) - 1})
    assert process_state(stale) is ProcessState.EXITED
    assert not signal_process(stale, signal.SIGKILL)
    stop_processes([stale], timeout=1)
    assert sleeper.poll() is None


def test_stop_processes_ends_a_paused_process(sleeper):
    record = record_of(sleeper)
    signal_process(record, signal.SIGSTOP)
    stop_processes([record], timeout=10)
    assert process_state(record) is ProcessState.EXITED


def test_state_round_trips_and_names_its_processes(tmp_path, sleeper):
    record = record_of(sleeper)
    state = DevnetState(str(tmp_path), str(tmp_path / "chain-spec.json"), ()).with_process(record)
    state.save()
    loaded = DevnetState.load(tmp_path)
    assert loaded == state and loaded.process("validator-0") == record
    restarted = loaded.with_process(ProcessRecord(**{**record.__dict__, "pid": 1}))
    assert len(restarted.processes) == 1 and restarted.process("validator-0").pid == 1
    with pytest.raises(UnknownProcess, match=r"no process named 'validator-9' .* \(processes: validator-0\)"):
        loaded.process("validator-9")


def test_a_missing_or_foreign_state_file_is_a_state_error(tmp_path):
    with pytest.raises(StateError, match="no devnet under"):
        DevnetState.load(tmp_path)
    (tmp_path / "devnet.json").write_text('{"base_path": "x", "chain_spec": "y", "nodes": []}')
    with pytest.raises(StateError, match="not a devnet state file this version can read"):
        DevnetState.load(tmp_path)


def test_the_lock_admits_one_command_at_a_time(tmp_path):
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with locked(tmp_path):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(StateError, match="another devnet command held"):
            with locked(tmp_path, timeout=0.3):
                pass
    finally:
        release.set()
        thread.join(10)
    with locked(tmp_path, timeout=1):
        pass


def test_the_finality_check_asks_the_running_validators_and_says_which_it_could_not(sleeper):
    """A validator down before the soak (or left down by a heal that failed) has no blocks to show: reported as
    reverting every finalized block, it failed a soak in which nothing reverted."""
    gone = subprocess.Popen(["true"])
    gone.wait(10)
    stopped = subprocess.Popen(["sleep", "60"])
    up, paused = record_of(sleeper), record_of(stopped, "validator-2")
    down = ProcessRecord(**{**record_of(sleeper, "validator-1").__dict__, "pid": gone.pid})
    stopped.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: process_state(paused) is ProcessState.PAUSED, 10, "paused")  # (delivered a moment later)
        state = DevnetState("/nowhere", "spec.json", (up, down, paused), "run")
        assert running_validators(state) == ([up], ("not judged: validator-1 is exited",
                                                    "not judged: validator-2 is paused"))
    finally:
        stopped.kill()
        stopped.wait(10)
