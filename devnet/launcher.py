"""The devnet launcher: every role of :data:`devnet.registry.ROLES` as separate processes on loopback.

Layout under the base path (``devnet-data`` by default)::

    chain-spec.json        the spec every node starts from
    devnet.json            what runs: per process its pid, ports, command, data folder, log; the run's id and
                           the foreground ``up`` watching it, if one is (devnet.state)
    <role>-<i>/            each process's data folder, e.g. validator-0/ (database, keys, endpoints.json)
    logs/<role>-<i>.log    each process's log

``up`` starts the processes one at a time, in registry order, and waits until each is ready before starting
the next (a validator needs the earlier validators' addresses; later roles need the chain's RPC). A port the
config fixes is checked to be free before anything starts; any other port is chosen by the process itself
(it binds port 0) and read back from what it reports, so two devnets on one machine never collide and no
port is picked first and bound later. The command recorded for ``restart`` has the ports the process got
written in, so a restarted process comes back where its peers and clients expect it. A process that exits
or does not become ready in time makes ``up`` fail with the last lines of its log, after stopping what it
started: ``up`` never reports a devnet that is not running. A foreground ``up`` stays to print the status
until Ctrl-C; ``down`` from another shell, or a later ``up`` there, ends it too (it stops only its own run).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from devnet.config import DevnetConfig
from devnet.registry import ROLES, role_named
from devnet.role import Launch, ProcessPaths, Reading, Role, read_endpoints
from devnet.state import (
    LOCK_FILE,
    STATE_FILE,
    DevnetError,
    DevnetGone,
    DevnetState,
    ProcessRecord,
    ProcessState,
    StateError,
    command_line,
    locked,
    process_state,
    signal_process,
    start_time,
    stop_processes,
    wait_for_exit,
)
from devnet.validator import VALIDATOR
from node.chain_spec import DEV_ENDOWMENT, ChainSpec, preset
from node.db.errors import CorruptDatabase, SchemaMismatch, WrongChain
from node.db.store import ChainStore
from runtime.keyring import Keypair
from runtime.pallets.balances import BalancesGenesis

__all__ = ["DevnetError", "DevnetGone", "NotRunning", "ProcessStatus", "endow_accounts", "up", "load", "status", "kill",
           "restart", "check_run", "down", "wait_until", "signals_interrupt"]

SPEC_FILE = "chain-spec.json"
READY_TIMEOUT_S = 60.0
"""How long one process may take to become ready (generous: a loaded 2-core machine)."""
STOP_TIMEOUT_S = 10.0
"""How long a process gets to stop on SIGTERM before SIGKILL."""
LOG_TAIL_LINES = 15


class NotRunning(DevnetError):
    """A signal for a process that has exited."""


@dataclass(frozen=True)
class ProcessStatus:
    record: ProcessRecord
    state: ProcessState
    details: dict[str, Reading]
    """The role's columns (empty unless running), e.g. ``best``, ``finalized``, ``peers``, ``rpc``."""


def up(config: DevnetConfig, *, spec: ChainSpec | None = None, fresh: bool = False,
       ready_timeout: float = READY_TIMEOUT_S, supervised: bool = False) -> DevnetState:
    """Start every process of ``config``; returns once all are ready. ``spec`` replaces the ``local`` preset
    (one authority per validator); ``fresh`` deletes an earlier devnet's data under the base path first;
    ``supervised``: this process stays to watch the devnet (a foreground ``up``), and is recorded as its
    supervisor, so that a ``down`` from another shell ends it too."""
    config.check_ports(ROLES)
    base = config.base_path.resolve()
    with locked(base):
        _refuse_if_running(base)
        previous = _recorded(base)
        if fresh:
            _clear(base)
        _check_fixed_ports(config)
        spec = _endow_role_accounts(spec or preset("local", validators=config.roles["validators"].count), config)
        _refuse_another_chain(base, spec)
        spec_path = base / SPEC_FILE
        spec.save(spec_path)
        me = (os.getpid(), start_time(os.getpid())) if supervised else None
        state = DevnetState(str(base), str(spec_path), (), secrets.token_hex(8), me)
        state.save()
        if previous is not None:  # a foreground up left watching a devnet whose processes all ended: now it
            _end_supervisor(previous)  # would watch this one, so it ends, finding another run recorded
        try:
            for role in ROLES:
                for index in range(config.roles[role.section].count):
                    launch = Launch(config, spec, spec_path, state.processes)
                    state = state.with_process(_start(role, index, launch, base, ready_timeout,
                                                      on_spawn=lambda record: state.with_process(record).save()))
                    state.save()
        except BaseException:
            stop_processes(list(DevnetState.load(base).processes), STOP_TIMEOUT_S)
            raise
    return state


def endow_accounts(spec: ChainSpec, accounts: Iterable[bytes]) -> ChainSpec:
    """``spec`` with each of ``accounts`` not endowed yet given what the dev accounts get."""
    balances = spec.genesis["Balances"].balances
    known = {who for who, _ in balances}
    added = tuple((who, DEV_ENDOWMENT) for who in dict.fromkeys(accounts) if who not in known)
    if not added:
        return spec
    return replace(spec, genesis=spec.genesis.replace(Balances=BalancesGenesis(balances + added)))


def _endow_role_accounts(spec: ChainSpec, config: DevnetConfig) -> ChainSpec:
    """``spec`` with the account of every process that acts on chain (:attr:`Role.account`) endowed."""
    return endow_accounts(spec, (Keypair.from_uri(role.account(index)).public for role in ROLES
                                 if role.account is not None for index in range(config.roles[role.section].count)))


def load(base_path: Path) -> DevnetState:
    """The devnet's record, with a process started by hand in place of the exited one whose data folder it
    runs in (its command run again outside ``restart``): it reports its pid in the folder's endpoints file."""
    state = DevnetState.load(base_path)
    for record in state.processes:
        if process_state(record) is ProcessState.EXITED:
            replacement = _started_by_hand(record)
            if replacement is not None:
                state = state.with_process(replacement)
    return state


def _started_by_hand(record: ProcessRecord) -> ProcessRecord | None:
    endpoints = read_endpoints(Path(record.data), None)
    if endpoints is None or record.data not in command_line(endpoints["pid"]):
        return None  # none reported, or a stale file whose pid now belongs to another program
    try:
        candidate = replace(record, pid=endpoints["pid"], start_time=start_time(endpoints["pid"]))
    except ProcessLookupError:
        return None
    role = role_named(record.role)
    ports = role.ready(candidate) if role is not None else None
    return None if ports is None else replace(candidate, ports=dict(ports))


def status(state: DevnetState) -> list[ProcessStatus]:
    """Every process with its state and, for the running ones, what its role reports."""
    rows = []
    for record in state.processes:
        current = process_state(record)
        role = role_named(record.role)
        details = dict(role.status(record)) if role is not None and current is ProcessState.RUNNING else {}
        rows.append(ProcessStatus(record, current, details))
    return rows


def kill(state: DevnetState, name: str, signum: int = signal.SIGKILL) -> ProcessRecord:
    """Send ``signum`` to a process (fault injection); for a signal that ends it, returns once it exited."""
    record = state.process(name)
    if not signal_process(record, signum):
        raise NotRunning(f"{name} is not running")
    if signum in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
        if signum != signal.SIGKILL:
            signal_process(record, signal.SIGCONT)  # a paused process must run to act on it
        if wait_for_exit([record], STOP_TIMEOUT_S):
            raise DevnetError(f"{name} (pid {record.pid}) is still running {STOP_TIMEOUT_S:.0f} s after "
                              f"{signal.Signals(signum).name}")
    return record


def restart(base_path: Path, name: str, *, ready_timeout: float = READY_TIMEOUT_S,
            command: tuple[str, ...] | None = None, run: str | None = None) -> ProcessRecord:
    """Stop the process if it runs, start it again with its recorded command, wait until it is ready.
    ``command`` replaces the recorded one for this run only (fault injection: a provider with ``--fault``);
    the record keeps its own, so the next restart brings the process back as it was. ``DevnetGone`` if the
    devnet was stopped, or, with ``run``, is no longer that run (a soak must not revive, nor act on, another)."""
    with locked(base_path):
        state = load(base_path)
        check_run(state, run)
        record = state.process(name)
        stop_processes([record], STOP_TIMEOUT_S)
        started = _spawn_and_wait(record, command or record.command, ready_timeout,
                                  on_spawn=lambda spawned: state.with_process(spawned).save())
        state.with_process(started).save()
    return started


def down(base_path: Path, *, timeout: float = STOP_TIMEOUT_S, run: str | None = None) -> list[ProcessRecord]:
    """Stop every process of the devnet, restarted ones included, and end its foreground ``up`` if another
    process is it; the processes that were running. With ``run`` (a supervisor stopping its own devnet), only
    if the devnet is still that run: another ``up`` may have started one here since."""
    with locked(base_path):
        state = load(base_path)
        if run is not None and state.run != run:
            return []
        running = [r for r in state.processes if process_state(r) is not ProcessState.EXITED]
        stop_processes(running, timeout)
        _end_supervisor(state)
        replace(state, supervisor=None, stopped=True).save()
    return running


def check_run(state: DevnetState, run: str | None = None) -> None:
    """``DevnetGone`` if ``state``'s devnet was stopped, or (with ``run``) is not that run any more."""
    if state.stopped:
        raise DevnetGone(f"the devnet under {state.base_path} was stopped: start it again with `cairn devnet up`")
    if run is not None and state.run != run:
        raise DevnetGone(f"the devnet under {state.base_path} was replaced by another `cairn devnet up`")


def _recorded(base: Path) -> DevnetState | None:
    try:
        return DevnetState.load(base)
    except StateError:
        return None


def _end_supervisor(state: DevnetState) -> None:
    """Send the devnet's foreground ``up``, if another process is it and still runs, its Ctrl-C: it finds its
    run stopped or replaced, says so, and ends."""
    supervisor = state.supervisor_record()
    if supervisor is not None and supervisor.pid != os.getpid() and signal_process(supervisor, signal.SIGINT):
        signal_process(supervisor, signal.SIGCONT)  # a paused one acts on it too


def _start(role: Role, index: int, launch: Launch, base: Path, ready_timeout: float,
           on_spawn: Callable[[ProcessRecord], None]) -> ProcessRecord:
    name = f"{role.name}-{index}"
    paths = ProcessPaths(data=base / name, log=base / "logs" / f"{name}.log")
    paths.data.mkdir(parents=True, exist_ok=True)
    ports = launch.config.roles[role.section].ports(index, role.ports)
    command = tuple(role.command(launch, index, ports, paths))
    planned = ProcessRecord(name, role.name, index, 0, 0, ports, command, str(paths.data), str(paths.log))
    record = _spawn_and_wait(planned, command, ready_timeout, on_spawn)
    # Record the ports it got in the command, so that a restart brings it back where peers look for it.
    return replace(record, command=tuple(role.command(launch, index, record.ports, paths)))


def _spawn_and_wait(record: ProcessRecord, command: tuple[str, ...], ready_timeout: float,
                    on_spawn: Callable[[ProcessRecord], None]) -> ProcessRecord:
    """Run ``command`` as the process of ``record``; the record of the running process once it is ready."""
    log_path = Path(record.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log_start = log.tell()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # its own process group: Ctrl-C goes to `up` only
    try:
        spawned = replace(record, pid=process.pid, start_time=start_time(process.pid))
    except ProcessLookupError:  # gone already: the readiness check below reports its exit and log
        spawned = replace(record, pid=process.pid)
    on_spawn(spawned)
    role = role_named(record.role)
    assert role is not None, record.role

    def ready() -> dict[str, int] | None:
        if process.poll() is not None:
            raise DevnetError(f"{record.name} exited with status {process.returncode} before it was ready; "
                              f"{_log_tail(log_path, log_start)}")
        ports = role.ready(spawned)
        return None if ports is None else dict(ports)

    try:
        ports = wait_until(ready, ready_timeout, f"{record.name} ready", interval=0.1)
    except TimeoutError:
        raise DevnetError(f"{record.name} was not ready after {ready_timeout:.0f} s; "
                          f"{_log_tail(log_path, log_start)}") from None
    return replace(spawned, ports=ports)


def _log_tail(path: Path, start: int) -> str:
    """The last lines of what this run of a process wrote to its log, indented, after a heading."""
    try:
        with path.open("rb") as log:
            log.seek(start)
            lines = log.read().decode(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError as exc:
        return f"its log {path} cannot be read: {exc.strerror or exc}"
    if not lines:
        return f"its log {path} is empty"
    return f"the last lines of {path}:\n" + "\n".join(f"    {line}" for line in lines)


def _refuse_if_running(base: Path) -> None:
    if not (base / STATE_FILE).exists():
        return
    try:
        running = [r.name for r in load(base).processes if process_state(r) is not ProcessState.EXITED]
    except StateError:
        return  # an unreadable old record: nothing we could stop either
    if running:
        raise DevnetError(f"a devnet is already running under {base} ({', '.join(running)}): "
                          f"stop it with `cairn devnet down --base-path {base}` first")


def _refuse_another_chain(base: Path, spec: ChainSpec) -> None:
    """Refuse to resume an earlier devnet whose chain is not ``spec``'s: begun by another version of Cairn (the
    genesis holds the runtime's version and metadata) or with other role counts (validators are the genesis
    authorities, and every role's accounts are endowed there). Its validators would each fail to start, one
    after another."""
    databases = sorted(base.glob(f"{VALIDATOR.name}-*/db/CURRENT"))
    if not databases:
        return
    _, genesis, state = spec.build()
    fresh = "Start over with `./run-devnet --fresh` (`cairn devnet up --fresh`), which deletes its data"
    try:
        ChainStore.open(databases[0].parent, genesis, state).close()
    except (WrongChain, SchemaMismatch) as exc:
        raise DevnetError(f"{base} holds a devnet whose chain this one cannot resume ({exc}): it was begun by "
                          f"another version of Cairn or with other numbers of processes per role. {fresh}") from None
    except CorruptDatabase as exc:
        raise DevnetError(f"the chain database {databases[0].parent} is damaged ({exc}). {fresh}") from None
    except Exception as exc:  # RocksDB's own errors: most likely a validator still running holds it
        raise DevnetError(f"cannot open the chain database {databases[0].parent} ({exc}): is a validator of "
                          f"that devnet still running? `ps` shows; stop it first") from None


def _clear(base: Path) -> None:
    """Delete an earlier devnet's files, refusing to touch a folder that is not a devnet's."""
    entries = [entry for entry in base.iterdir() if entry.name != LOCK_FILE]
    if entries and not (base / STATE_FILE).exists():
        raise DevnetError(f"--fresh would delete what is in {base}, which holds no {STATE_FILE}: "
                          "not a devnet's folder")
    for entry in entries:
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _check_fixed_ports(config: DevnetConfig) -> None:
    """Every port the config fixes is free now: fail before starting anything otherwise."""
    for role in ROLES:
        settings = config.roles[role.section]
        for index in range(settings.count):
            for name, port in settings.ports(index, tuple(settings.first_ports)).items():
                with socket.socket() as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the processes bind
                    try:
                        probe.bind(("127.0.0.1", port))
                        probe.listen()
                    except OSError as exc:
                        raise DevnetError(
                            f"port {port} ({role.section}.{name}_port, {role.name}-{index}) is not free: "
                            f"{exc.strerror or exc}. Is another devnet using it? Choose other ports, or leave "
                            f"{name}_port out to let each process pick a free one") from None


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.5) -> object:
    """Poll ``predicate`` until it returns something truthy (returned), treating processes that do not answer
    yet (``OSError``, ``RuntimeError``) as not ready; raises ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, RuntimeError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s: {what} (last: {last!r})")


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP are taken as SIGINT, and SIGINT raises ``KeyboardInterrupt``, inside the block: Ctrl-C,
    ``kill``, a timeout and a closed terminal all unwind it, and the ``finally`` that stops a devnet runs
    (Python's default SIGTERM and SIGHUP end the program at once, leaving every process it started running, in
    sessions of their own). SIGINT gets Python's own handler back
    explicitly: a program started in the background by a non-interactive shell (``cmd &``, a CI script)
    inherits SIGINT ignored, and Python keeps it so. It is that very handler, not one of ours, because trio
    and asyncio deliver Ctrl-C at a safe point (and run async cleanup) only when they find it installed. The
    handlers before are restored on leaving."""
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.SIGTERM: signal.signal(signal.SIGTERM, _as_sigint),
                signal.SIGHUP: signal.signal(signal.SIGHUP, _as_sigint)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _as_sigint(signum: int, frame: object) -> None:
    signal.raise_signal(signal.SIGINT)  # whoever handles SIGINT now (an event loop, or Python's default)
