"""The record of a running devnet, kept in ``<base path>/devnet.json`` so any shell can act on it.

``status``, ``kill``, ``restart`` and ``down`` run as separate commands, often from another terminal than
``up``; everything they need is in this file: per process its name, role, pid, ports, command line, data
folder and log. It is replaced whole (written to a temporary name, then renamed), so a reader never sees half
a file, and commands that change it hold ``devnet.lock`` (see :func:`locked`), so a ``restart`` and a
``down`` from two shells cannot lose each other's pid.

A pid alone does not identify a process: after a reboot, or long after the devnet ended, the same number may
belong to something else, and a ``down`` must never signal that. Each record therefore also keeps the
process's start time (``/proc/<pid>/stat``, clock ticks since boot); a pid whose start time differs is an
exited process.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path

__all__ = ["LOCK_FILE", "STATE_FILE", "DevnetError", "DevnetState", "ProcessRecord", "ProcessState", "StateError",
           "UnknownProcess", "command_line", "locked", "process_state", "start_time", "signal_process",
           "stop_processes", "wait_for_exit"]

STATE_FILE = "devnet.json"
LOCK_FILE = "devnet.lock"
LOCK_TIMEOUT_S = 120.0
"""How long a command waits for another one (an ``up`` starting its processes, say) to release the lock."""


class DevnetError(Exception):
    """A devnet command that could not do what it was asked; the message says why and what to do."""


class StateError(DevnetError):
    """No devnet state under the base path, or one this version cannot read."""


class UnknownProcess(StateError):
    """A process name that the devnet does not have."""


class DevnetGone(DevnetError):
    """The devnet was stopped (``down``), or another ``up`` replaced it, since the command began."""


class ProcessState(str, Enum):
    RUNNING = "running"
    PAUSED = "paused"
    """Stopped by SIGSTOP (``cairn devnet kill NAME --signal STOP``) until SIGCONT."""
    EXITED = "exited"


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    """Unique within the devnet: ``<role>-<index>``, e.g. ``validator-0``."""
    role: str
    index: int
    pid: int
    start_time: int
    """The process's start time in clock ticks since boot: tells this process from a later one with its pid."""
    ports: dict[str, int]
    """Port name → the port the process listens on (as it reported it)."""
    command: tuple[str, ...]
    """What ``restart`` runs: the process's command line, with the ports it got written in."""
    data: str
    """The process's own data folder."""
    log: str
    """Its log file (standard output and error, appended to across restarts)."""

    def url(self, port: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.ports[port]}"


@dataclass(frozen=True)
class DevnetState:
    base_path: str
    chain_spec: str
    processes: tuple[ProcessRecord, ...]
    run: str = ""
    """A fresh id per ``up``: the foreground ``up`` that started this devnet stops only this one."""
    supervisor: tuple[int, int] | None = None
    """The foreground ``cairn devnet up`` watching the devnet (its pid and start time), if one is: a ``down``
    from another shell, or a later ``up`` here, ends it too, or it would watch the next devnet started here."""
    stopped: bool = False
    """``down`` stopped it: nothing starts its processes again but the next ``up``."""

    @staticmethod
    def load(base_path: Path) -> DevnetState:
        path = base_path / STATE_FILE
        try:
            doc = json.loads(path.read_text())
            processes = tuple(ProcessRecord(**{**p, "command": tuple(p["command"])}) for p in doc["processes"])
            supervisor = doc.get("supervisor")
            return DevnetState(doc["base_path"], doc["chain_spec"], processes, str(doc.get("run", "")),
                               None if supervisor is None else (int(supervisor[0]), int(supervisor[1])),
                               bool(doc.get("stopped", False)))
        except FileNotFoundError:
            raise StateError(f"no devnet under {base_path} (no {path})") from None
        except OSError as exc:
            raise StateError(f"cannot read {path}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise StateError(f"{path} is not a devnet state file this version can read ({exc!r})") from None

    def save(self) -> None:
        path = Path(self.base_path, STATE_FILE)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(asdict(self), indent=2) + "\n")
        partial.replace(path)

    def process(self, name: str) -> ProcessRecord:
        for record in self.processes:
            if record.name == name:
                return record
        names = ", ".join(record.name for record in self.processes) or "none"
        raise UnknownProcess(f"no process named {name!r} in the devnet under {self.base_path} (processes: {names})")

    def supervisor_record(self) -> ProcessRecord | None:
        """The supervisor as a record :func:`signal_process` takes (it checks the start time before signalling)."""
        if self.supervisor is None:
            return None
        pid, started = self.supervisor
        return ProcessRecord("up", "supervisor", 0, pid, started, {}, (), self.base_path, "")

    def with_process(self, record: ProcessRecord) -> DevnetState:
        """This state with ``record`` replacing the process of its name, or added after the others."""
        others = tuple(r for r in self.processes if r.name != record.name)
        if len(others) == len(self.processes):
            return replace(self, processes=(*self.processes, record))
        return replace(self, processes=tuple(record if r.name == record.name else r for r in self.processes))


@contextmanager
def locked(base_path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the devnet's lock (one command changing its processes at a time); waits at most ``timeout``."""
    base_path.mkdir(parents=True, exist_ok=True)
    with open(base_path / LOCK_FILE, "w") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StateError(f"another devnet command held {base_path / LOCK_FILE} for {timeout:.0f} s") \
                        from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of ``pid`` from ``/proc``, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[19])              # field 3 (state) and field 22 (starttime) of proc(5)


def start_time(pid: int) -> int:
    """The start time of the running process ``pid`` (for :attr:`ProcessRecord.start_time`)."""
    stat = _stat(pid)
    if stat is None:
        raise ProcessLookupError(pid)
    return stat[1]


def command_line(pid: int) -> tuple[str, ...]:
    """The arguments process ``pid`` runs with (empty if there is no such process)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ()
    return tuple(arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1])


def process_state(record: ProcessRecord) -> ProcessState:
    stat = _stat(record.pid)
    if stat is None or stat[1] != record.start_time or stat[0] in ("Z", "X", "x"):
        return ProcessState.EXITED
    return ProcessState.PAUSED if stat[0] in ("T", "t") else ProcessState.RUNNING


def signal_process(record: ProcessRecord, signum: int) -> bool:
    """Send ``signum`` to the process if it is still the recorded one; whether it was sent."""
    if process_state(record) is ProcessState.EXITED:
        return False
    try:
        os.kill(record.pid, signum)
    except ProcessLookupError:
        return False
    return True


def wait_for_exit(records: list[ProcessRecord], timeout: float) -> list[ProcessRecord]:
    """Wait until every process exited or ``timeout`` passed; the ones still there. Reaps our own children
    (a devnet started from this process), so that they do not linger as zombies."""
    deadline = time.monotonic() + timeout
    while True:
        for record in records:
            _reap(record.pid)
        alive = [record for record in records if process_state(record) is not ProcessState.EXITED]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def stop_processes(records: list[ProcessRecord], timeout: float) -> None:
    """SIGTERM (and SIGCONT, so a paused process can act on it), then SIGKILL what is left after ``timeout``."""
    for record in records:
        if signal_process(record, signal.SIGTERM):
            signal_process(record, signal.SIGCONT)
    for record in wait_for_exit(records, timeout):
        signal_process(record, signal.SIGKILL)
    wait_for_exit(records, timeout)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
