"""The fault soak (``cairn devnet chaos``): faults in every role of a running devnet while a load runs, then a
judgement of what must have survived.

:func:`schedule` draws the faults from a seed, so a run can be repeated: one *lane* per role, each fault in a
lane undone before the lane's next one starts, the lanes independent of each other (a lane draws from its own
generator, so a role missing changes nothing in the others). Every fault is scheduled to end
:data:`END_MARGIN_S` before the run does. An undo that fails (a restart that did not come up) is retried until
it succeeds, so a lane never has two faults at once; if it still fails when the run ends, the lane's remaining
faults are dropped, the summary says so, and the heal after the run tries once more.

- **validator**: SIGKILL, restarted after a while. One lane means at most one validator down at once; the lane
  runs only with four validators or more, since finality needs more than two thirds of them;
- **storage**: SIGKILL and restart, or one stored fragment's bytes changed, the fragment and the mask drawn
  from the lane's generator (:func:`devnet.storage.corrupt_fragment`);
- **DA**: SIGKILL and restart, or withholding its cells for a while (:func:`devnet.da.withhold`);
- **provider**: SIGKILL and restart, or a restart with ``--fault wrong-result`` or ``--fault no-show`` and,
  after a while, an honest restart; the lane runs only with three providers or more, so a job of redundancy 2
  always finds two honest ones.

:func:`run_chaos` runs the load (:mod:`devnet.load`) and the lanes for the duration, waits for the lanes to
undo their last faults, restarts anything still down, and judges the invariants (:mod:`devnet.invariants`),
from the finalized block it started at. A fault that could not be injected (the process was already down, the
fragment moved meanwhile) is counted, not fatal. A role the devnet lacks is skipped, with its load and faults,
and the summary says so. :class:`Summary` renders the operations, faults, failures and invariants as Markdown
tables (what ``benchmarks/RESULTS.md`` holds too).
"""

from __future__ import annotations

import enum
import random
import re
from collections import Counter
from contextlib import suppress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import trio

from devnet import launcher
from devnet.da import withhold
from devnet.invariants import Check, check, opening
from devnet.load import (
    COMPUTE_SIGNER,
    DA_SIGNER,
    STORAGE_SIGNER,
    Acknowledged,
    FinalityLog,
    Session,
    Tally,
    compute_load,
    da_load,
    running,
    storage_load,
    watch_finality,
)
from devnet.state import DevnetError, DevnetGone, ProcessState, command_line, process_state
from runtime.justification import supermajority
from devnet.storage import corrupt_fragment
from sdk.chain.errors import ChainClientError

__all__ = ["FaultKind", "Fault", "Summary", "Actions", "parse_duration", "schedule", "run_chaos", "run_lane"]

FIRST_FAULT_S = (5.0, 30.0)
"""A lane's first fault comes this long after the start."""
GAP_S = (15.0, 45.0)
"""Between one fault's end and the next one's start in a lane."""
HOLD_S = (10.0, 40.0)
"""How long a fault lasts: a process stays down, a node withholds, a provider misbehaves."""
END_MARGIN_S = 15.0
"""Every fault is scheduled to end this long before the run does, so the network can settle before the check."""
UNDO_RETRY_S = 10.0
"""A fault that could not be undone (a restart that failed) is tried again this long after, until the run ends,
before the lane's next fault; :func:`_heal` makes a last attempt after the run."""
FAULT_ERRORS = (DevnetError, OSError)
"""What injecting or undoing a fault may raise: a process already down, a restart that failed, a fragment the
node renamed or deleted meanwhile."""
MIN_PROVIDERS = 3
"""With fewer, one faulty provider leaves a job of redundancy 2 without two honest ones."""


class FaultKind(str, enum.Enum):
    VALIDATOR_KILL = "validator killed"
    STORAGE_KILL = "storage node killed"
    STORAGE_CORRUPT = "fragment corrupted"
    DA_KILL = "DA node killed"
    DA_WITHHOLD = "DA node withholding"
    PROVIDER_KILL = "provider killed"
    PROVIDER_WRONG_RESULT = "provider wrong-result"
    PROVIDER_NO_SHOW = "provider no-show"


LANES: dict[str, tuple[FaultKind, ...]] = {
    "validator": (FaultKind.VALIDATOR_KILL,),
    "storage": (FaultKind.STORAGE_KILL, FaultKind.STORAGE_CORRUPT),
    "da": (FaultKind.DA_KILL, FaultKind.DA_WITHHOLD),
    "provider": (FaultKind.PROVIDER_KILL, FaultKind.PROVIDER_WRONG_RESULT, FaultKind.PROVIDER_NO_SHOW),
}
"""Each role's faults (the role's name in the devnet's records → what may happen to one of its processes)."""
INSTANT = {FaultKind.STORAGE_CORRUPT}
"""Faults with nothing to undo."""
PROVIDER_FAULTS = {FaultKind.PROVIDER_WRONG_RESULT: "wrong-result", FaultKind.PROVIDER_NO_SHOW: "no-show"}
"""The provider's ``--fault`` value for each misbehaviour."""
MINIMUM = {"provider": MIN_PROVIDERS}


@dataclass(frozen=True)
class Fault:
    at: float
    """Seconds from the start of the run."""
    kind: FaultKind
    target: str
    """The process's name, e.g. ``validator-2``."""
    hold: float
    """Seconds until it is undone (0 for an instant fault)."""


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"10m"``, ``"1h"``, ``"1m30s"`` → seconds; ``ValueError`` for anything else or zero."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration: a whole number of seconds, or e.g. 90s, 10m, 1h, 1m30s")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if total <= 0:
        raise ValueError(f"{text!r}: the duration must be longer than zero")
    return float(total)


def schedule(seed: int, duration: float, processes: Mapping[str, Sequence[str]],
             authorities: int | None = None) -> tuple[list[Fault], list[str]]:
    """The faults of a run of ``duration`` seconds over ``processes`` (role → names of the running ones), by
    start time, and a note for each lane left out and why. ``authorities``: the devnet's validators, running or
    not (default: those running); one killed must leave more than two thirds of them voting, or finality stops."""
    faults, skipped = [], []
    for role, kinds in LANES.items():
        names = list(processes.get(role, ()))
        if role == "validator":
            total = len(names) if authorities is None else authorities
            if len(names) - 1 < supermajority(total):
                skipped.append(f"validator faults: {len(names)} of {total} running, at least "
                               f"{supermajority(total) + 1} needed (one down must leave {supermajority(total)} voting)")
                continue
        elif len(names) < MINIMUM.get(role, 1):
            skipped.append(f"{role} faults: {len(names)} running, at least {MINIMUM.get(role, 1)} needed")
            continue
        rng = random.Random(f"{seed}/{role}")
        at = rng.uniform(*FIRST_FAULT_S)
        while True:
            kind = rng.choice(kinds)
            hold = 0.0 if kind in INSTANT else rng.uniform(*HOLD_S)
            if at + hold > duration - END_MARGIN_S:
                break
            faults.append(Fault(round(at, 1), kind, rng.choice(names), round(hold, 1)))
            at += hold + rng.uniform(*GAP_S)
    return sorted(faults, key=lambda fault: fault.at), skipped


@dataclass
class Summary:
    """What a soak did and found."""

    seed: int
    duration: float
    tally: Tally = field(default_factory=Tally)
    injected: Counter[FaultKind] = field(default_factory=Counter)
    fault_failures: Counter[tuple[FaultKind, str]] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)
    """What kept the run from going as scheduled: faults dropped because their lane's previous one could not be
    undone in time, processes still down at the check, a check that could not read the chain."""
    checks: list[Check] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return bool(self.checks) and all(check.held for check in self.checks)

    def table(self) -> str:
        """Markdown: operations, faults, failures, invariants (and what was skipped)."""
        tally = self.tally
        lines = [f"chaos for {self.duration:g} s, seed {self.seed}", "",
                 "| operation | tried | succeeded | failed | cut short by the end |", "|---|---:|---:|---:|---:|"]
        for op in sorted(tally.tried):
            failed = sum(count for (kind, _), count in tally.failed.items() if kind == op)
            lines.append(f"| {op} | {tally.tried[op]} | {tally.succeeded[op]} | {failed} | {tally.interrupted[op]} |")
        lines += ["", "| fault | injected | could not be injected |", "|---|---:|---:|"]
        for kind in FaultKind:
            failed = sum(count for (done, _), count in self.fault_failures.items() if done is kind)
            if self.injected[kind] or failed:
                lines.append(f"| {kind.value} | {self.injected[kind]} | {failed} |")
        failures = sorted([(op, why, n) for (op, why), n in tally.failed.items()] +
                          [(kind.value, why, n) for (kind, why), n in self.fault_failures.items()])
        if failures:
            lines += ["", "| failure | error | count |", "|---|---|---:|"]
            lines += [f"| {what} | {why} | {count} |" for what, why, count in failures]
        lines += ["", "| invariant | checked | result |", "|---|---:|---|"]
        for judged in self.checks:
            lines.append(f"| {judged.name} | {judged.checked} | {'; '.join((judged.result, *judged.notes))} |")
        for judged in self.checks:
            lines += [f"- {judged.name}: {violation}" for violation in judged.violations]
        lines += [f"- skipped: {note}" for note in self.skipped]
        lines += [f"- {note}" for note in self.incidents]
        return "\n".join(lines) + "\n"


async def run_chaos(base_path: Path, duration: float, seed: int, report: Callable[[str], None] = print) -> Summary:
    """Soak the devnet under ``base_path`` for ``duration`` seconds; ``report`` hears each fault as it happens.
    ``DevnetError`` if there is no devnet there or none of its validators runs."""
    state = launcher.load(base_path)
    processes: dict[str, list[str]] = {}
    for record in state.processes:
        if process_state(record) is ProcessState.RUNNING:
            processes.setdefault(record.role, []).append(record.name)
    if not processes.get("validator"):
        raise DevnetError(f"no validator of the devnet under {base_path} is running: start it with `cairn devnet up`")
    faults, skipped = schedule(seed, duration, processes,
                               authorities=sum(record.role == "validator" for record in state.processes))
    summary = Summary(seed, duration, skipped=skipped)
    acked, log = Acknowledged(), FinalityLog()
    loads: list[str] = []
    workers = [(storage_load, STORAGE_SIGNER, ("storage",), "storage"), (da_load, DA_SIGNER, ("da",), "da"),
               (compute_load, COMPUTE_SIGNER, ("storage", "provider"), "compute")]
    try:
        start_block = await opening(running(base_path, "validator")[0].url("rpc", "ws"))
    except ChainClientError as exc:
        raise DevnetError(f"the devnet's chain cannot be read before the soak: {exc}") from None
    start = trio.current_time()
    report(f"[    0 s] starting at finalized block #{start_block.block}")
    targets = [name for role in LANES for name in processes.get(role, ())]
    run = state.run  # a devnet stopped, or replaced by another `up`, meanwhile ends the soak: none is revived
    try:
        async with trio.open_nursery() as nursery:
            with trio.move_on_after(duration):
                async with trio.open_nursery() as load:
                    load.start_soon(watch_finality, base_path, log)
                    for index, (worker, signer, needs, name) in enumerate(workers):
                        missing = [role for role in needs if not processes.get(role)]
                        if missing:
                            summary.skipped.append(f"{worker.__name__}: no {' or '.join(missing)} process running")
                            continue
                        session = Session(base_path, signer, summary.tally, random.Random(f"{seed}/load/{index}"))
                        load.start_soon(worker, session, acked)
                        loads.append(name)
                    for role, kinds in LANES.items():
                        lane = [fault for fault in faults if fault.kind in kinds]
                        act = Actions(partial(_inject, base_path, run, random.Random(f"{seed}/{role}/inject")),
                                      partial(_undo, base_path, run))
                        nursery.start_soon(run_lane, lane, act, start, start + duration, summary, report)
    except BaseException:  # interrupted (Ctrl-C, a timeout's SIGTERM) or failed: leave no fault behind
        with trio.CancelScope(shield=True):
            report(f"[{trio.current_time() - start:5.0f} s] stopped early: undoing the faults")
            await trio.to_thread.run_sync(_heal, base_path, run, targets, report)
        raise
    report(f"[{trio.current_time() - start:5.0f} s] load stopped, faults undone; restarting whatever is still down")
    summary.incidents += await trio.to_thread.run_sync(_heal, base_path, run, targets, report)
    report(f"[{trio.current_time() - start:5.0f} s] checking the invariants")
    validators = running(base_path, "validator")
    if not validators:
        raise DevnetError(f"no validator of the devnet under {base_path} runs after the soak: nothing to check")
    try:
        summary.checks = await check(validators[0].url("rpc", "ws"), launcher.load(base_path), log, acked,
                                     start_block, loads)
    except ChainClientError as exc:  # the summary still says what the soak did; no checks fail it
        summary.incidents.append(f"not judged: the check could not read the chain through {validators[0].name}: {exc}")
    return summary


@dataclass(frozen=True)
class Actions:
    """What a lane does to a process, each a blocking call (run in a thread); each may raise
    :data:`FAULT_ERRORS`."""

    inject: Callable[[Fault], object]
    undo: Callable[[Fault], object]


async def run_lane(lane: Sequence[Fault], act: Actions, start: float, end: float, summary: Summary,
                   report: Callable[[str], None]) -> None:
    """Inject ``lane``'s faults at their times (from ``start``, trio's clock), each undone before the next:
    an undo that fails is retried every :data:`UNDO_RETRY_S` until ``end``; if it still failed then, or a
    retry delayed a fault past the time it must be over by, the lane's remaining faults are dropped and
    ``summary`` says so."""

    def say(text: str) -> None:
        report(f"[{trio.current_time() - start:5.0f} s] {text}")

    for index, fault in enumerate(lane):
        await trio.sleep_until(start + fault.at)
        if trio.current_time() + fault.hold > end - END_MARGIN_S:
            summary.incidents.append(f"dropped: {fault.target}: {fault.kind.value} and the lane's "
                                     f"{len(lane) - index - 1} later fault(s), delayed past the end by an undo")
            return
        try:
            await trio.to_thread.run_sync(act.inject, fault)
        except DevnetGone:
            raise
        except FAULT_ERRORS as exc:
            summary.fault_failures[fault.kind, type(exc).__name__] += 1
            say(f"{fault.target}: {fault.kind.value} failed: {str(exc).splitlines()[0] if str(exc) else exc!r}")
            continue
        summary.injected[fault.kind] += 1
        say(f"{fault.target}: {fault.kind.value}" + (f" for {fault.hold:g} s" if fault.hold else ""))
        if fault.kind in INSTANT:
            continue
        await trio.sleep(fault.hold)
        attempts = 0
        while True:  # e.g. a daemon restarted while the validator it follows is down
            try:
                await trio.to_thread.run_sync(act.undo, fault)
                break
            except DevnetGone:
                raise
            except FAULT_ERRORS as exc:
                attempts += 1
                summary.fault_failures[fault.kind, f"undo: {type(exc).__name__}"] += 1
                say(f"{fault.target}: undoing {fault.kind.value} failed (attempt {attempts}): "
                    f"{str(exc).splitlines()[0] if str(exc) else exc!r}")
            if trio.current_time() + UNDO_RETRY_S > end:
                summary.incidents.append(f"dropped: the lane's {len(lane) - index - 1} later fault(s): "
                                         f"{fault.target}: {fault.kind.value} was not undone by the end "
                                         f"({attempts} attempts)")
                return
            await trio.sleep(UNDO_RETRY_S)


def _inject(base_path: Path, run: str, rng: random.Random, fault: Fault) -> None:
    state = launcher.load(base_path)
    launcher.check_run(state, run)
    record = state.process(fault.target)
    if fault.kind is FaultKind.STORAGE_CORRUPT:
        corrupt_fragment(record, rng)
    elif fault.kind is FaultKind.DA_WITHHOLD:
        withhold(record, on=True)
    elif fault.kind in PROVIDER_FAULTS:
        launcher.restart(base_path, fault.target, command=(*record.command, "--fault", PROVIDER_FAULTS[fault.kind]),
                         run=run)
    else:
        launcher.kill(state, fault.target)


def _undo(base_path: Path, run: str, fault: Fault) -> None:
    if fault.kind is FaultKind.DA_WITHHOLD:  # the soak's own switch goes whatever became of the devnet: a node
        withhold(launcher.load(base_path).process(fault.target), on=False)  # started on it would withhold
    else:
        launcher.restart(base_path, fault.target, run=run)


def _heal(base_path: Path, run: str, targets: Sequence[str], report: Callable[[str], None]) -> list[str]:
    """Every process faults were aimed at running as recorded (serving, honest) again, whatever a failed undo
    left behind; those that will not start again (the invariants judge what is left). ``DevnetGone`` if the
    devnet was stopped or replaced: nothing of it is started again."""
    state, failed = launcher.load(base_path), []
    for record in state.processes:  # the soak's switches go whatever became of the devnet (see _undo)
        if record.role == "da" and record.name in targets:
            with suppress(OSError):
                withhold(record, on=False)
    launcher.check_run(state, run)
    for name in targets:
        record = state.process(name)
        try:
            if process_state(record) is not ProcessState.RUNNING:
                report(f"  restarting {name} ({process_state(record).value})")
                launcher.restart(base_path, name, run=run)
            elif "--fault" in command_line(record.pid):  # (left misbehaving by a soak stopped early)
                report(f"  restarting {name} (misbehaving)")
                launcher.restart(base_path, name, run=run)
        except DevnetGone:
            raise
        except FAULT_ERRORS as exc:
            report(f"  {name} did not start again: {exc}")
            failed.append(f"still down at the check: {name}: {str(exc).splitlines()[0]}")
    return failed
