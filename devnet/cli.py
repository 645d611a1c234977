"""``cairn devnet``: a local network, every role as its own process, with fault injection.

    cairn devnet up [--config devnet.toml] [--validators N] [--storage-nodes N] [--da-nodes N] [--providers N]
                    [--base-path DIR] [--detach] [--fresh]
    cairn devnet status [--json] [--base-path DIR]
    cairn devnet env [--base-path DIR]               (eval its output: CAIRN_RPC, CAIRN_DEVNET and PATH)
    cairn devnet kill NAME [--signal KILL|TERM|INT|STOP|CONT] [--base-path DIR]
    cairn devnet restart NAME [--base-path DIR]
    cairn devnet corrupt NAME [--base-path DIR]      (a storage node: flip the bytes of one stored fragment)
    cairn devnet withhold NAME [--off] [--base-path DIR]   (a DA node: stop serving cells and answering audits)
    cairn devnet chaos [--duration 10m] [--seed N] [--base-path DIR]   (a fault soak under load, then invariants)
    cairn devnet down [--base-path DIR]

Every command after ``up`` reads the devnet's record under its base path, so it works from any shell;
``up`` prints the exact commands for the base path it was given. ``--base-path`` defaults to ``$CAIRN_DEVNET``
when it is set, else ``devnet-data``.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import click
import trio
from click.core import ParameterSource

from devnet import launcher
from devnet.chaos import parse_duration, run_chaos
from devnet.config import DEFAULT_BASE_PATH, ConfigError, DevnetConfig
from devnet.da import withhold
from devnet.dashboard.role import DASHBOARD, dashboard_url
from devnet.launcher import NotRunning
from devnet.registry import ROLES
from devnet.role import shown
from devnet.state import DevnetError, DevnetState, ProcessRecord, ProcessState, UnknownProcess, process_state
from devnet.storage import corrupt_fragment
from runtime.keyring import DEV_ACCOUNTS, Keypair
from sdk.cli import RPC_ENVVAR

STATUS_INTERVAL_S = 10
SIGNALS = ("KILL", "TERM", "INT", "STOP", "CONT")

BASE_PATH_ENVVAR = "CAIRN_DEVNET"
"""Where ``--base-path`` defaults from when set (``cairn devnet env`` prints it)."""

base_path_option = click.option(
    "--base-path", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_BASE_PATH, show_default=True,
    envvar=BASE_PATH_ENVVAR, show_envvar=True, help="The base path the devnet was started with.")


@click.group()
def devnet() -> None:
    """Run a local development network: validators (and, as they land, storage, DA and compute nodes)."""


@devnet.command("up")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file naming the roles to start, their counts and ports (README: \"The devnet\").")
@click.option("--validators", type=click.IntRange(1, 32), default=None,
              help="How many validators [default: the config's, else 4, so one may fail and finality continues].")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar=BASE_PATH_ENVVAR, show_envvar=True,
              help=f"Where the data folders and logs go [default: the config's, else ${BASE_PATH_ENVVAR}'s, else "
                   f"{DEFAULT_BASE_PATH}].")
@click.option("--rpc-port", type=click.IntRange(1, 65535), default=None,
              help="First validator's RPC port (+1 each) [default: each picks a free one].")
@click.option("--p2p-port", type=click.IntRange(1, 65535), default=None,
              help="First validator's p2p port (+1 each) [default: each picks a free one].")
@click.option("--prometheus-port", type=click.IntRange(1, 65535), default=None,
              help="First validator's metrics port (+1 each) [default: each picks a free one].")
@click.option("--storage-nodes", type=click.IntRange(0, 32), default=None,
              help="How many storage nodes [default: the config's, else 6: RS(3, 2) leaves one free for repairs].")
@click.option("--da-nodes", type=click.IntRange(0, 32), default=None,
              help="How many DA nodes [default: the config's, else 4: each keeps ~90 % of a blob, one may fail].")
@click.option("--providers", type=click.IntRange(0, 32), default=None,
              help="How many compute providers [default: the config's, else 3: r = 2 and one for disputes].")
@click.option("--detach", is_flag=True, help="Start the processes and return (stop them with `cairn devnet down`).")
@click.option("--fresh", is_flag=True, help="Delete the base path's previous chain data first.")
def devnet_up(config_path: Path | None, validators: int | None, base_path: Path | None, rpc_port: int | None,
              p2p_port: int | None, prometheus_port: int | None, storage_nodes: int | None, da_nodes: int | None,
              providers: int | None, detach: bool, fresh: bool) -> None:
    """Start every role's processes on loopback; Ctrl-C (or `down`) stops them all."""
    try:
        config = DevnetConfig.load(config_path, ROLES)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from None
    from_environment = click.get_current_context().get_parameter_source("base_path") is ParameterSource.ENVIRONMENT
    if base_path is not None and not (from_environment and config.base_path_set):
        config = replace(config, base_path=base_path)  # (a config file's own base path beats the shell's default)
    config = config.with_role("validators", count=validators,
                              first_ports={"rpc": rpc_port, "p2p": p2p_port, "prometheus": prometheus_port})
    config = config.with_role("storage_nodes", count=storage_nodes)
    config = config.with_role("da_nodes", count=da_nodes)
    config = config.with_role("providers", count=providers)
    with launcher.signals_interrupt():  # Ctrl-C, `kill` and timeouts all stop the devnet
        _up(config, fresh, detach)


def _up(config: DevnetConfig, fresh: bool, detach: bool) -> None:
    try:
        state = launcher.up(config, fresh=fresh, supervised=not detach)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except DevnetError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.ClickException("interrupted while starting: the processes started so far are stopped") from None
    base = config.base_path
    if detach:
        _print_endpoints(state)
        click.echo("running in the background; from any shell:\n"
                   f"  {_command(base, 'status')}\n"
                   f"  {_command(base, 'kill', 'NAME')}      (--signal STOP to pause, CONT to resume)\n"
                   f"  {_command(base, 'restart', 'NAME')}\n"
                   f"  {_command(base, 'down')}")
        return
    try:
        _print_endpoints(state)
        click.echo(f"press Ctrl-C to stop; from another shell: {_command(base, 'status')}")
        _watch(state)
    except KeyboardInterrupt:
        _stop(state)
    except BaseException:  # an error of `up`'s own (a closed terminal's broken pipe…): the devnet must not outlive it
        _stop(state)
        raise


def _stop(state: DevnetState) -> None:
    """Stop the devnet a foreground ``up`` started, unless another ``up`` has started one in its place."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
    if _same_run(state) is None:
        _say(f"another devnet was started under {state.base_path}; this one had stopped")
        return
    _say("stopping the devnet…")
    try:
        launcher.down(Path(state.base_path), run=state.run)
    except DevnetError as exc:
        raise click.ClickException(str(exc)) from None
    _say("devnet stopped")


def _say(text: str) -> None:
    """``click.echo`` that a closed terminal (a broken pipe) cannot turn into an error cutting a stop short."""
    try:
        click.echo(text)
    except OSError:
        pass


def _same_run(state: DevnetState) -> DevnetState | None:
    """The devnet's record as it is now, if it is still ``state``'s run (not another ``up``'s, nor being
    replaced by one)."""
    try:
        current = launcher.load(Path(state.base_path))
    except DevnetError:
        return None
    return current if current.run == state.run else None


def _watch(state: DevnetState) -> None:
    """Print the devnet's status every ``STATUS_INTERVAL_S`` until Ctrl-C, or until the base path holds another
    run (a ``down`` and a new ``up`` from other shells, which send their Ctrl-C too)."""
    while True:
        time.sleep(STATUS_INTERVAL_S)
        current = _same_run(state)
        if current is None:
            raise KeyboardInterrupt  # the handler finds the run gone, and says so
        click.echo()
        _echo_status(current)


@devnet.command("status")
@base_path_option
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: per process its name, role, state, pid, ports, log and what it reports.")
def devnet_status(base_path: Path, as_json: bool) -> None:
    """Every process of every role: running, paused or exited, and what it reports (heights, peers)."""
    state = _load(base_path)
    if as_json:
        click.echo(json.dumps([{"name": row.record.name, "role": row.record.role, "index": row.record.index,
                                "state": row.state.value, "pid": row.record.pid, "ports": row.record.ports,
                                "log": row.record.log, "data": row.record.data, "reports": row.details}
                               for row in launcher.status(state)], indent=2))
        return
    _echo_status(state)


@devnet.command("env")
@base_path_option
def devnet_env(base_path: Path) -> None:
    """Shell lines that point `cairn` at this devnet: run `eval "$(.venv/bin/cairn devnet env)"`, then every
    `cairn` command talks to the first validator running (CAIRN_RPC; validator-0 unless it was killed) and every
    `cairn devnet` command finds this base path."""
    state = _load(base_path)
    validators = [record for record in state.processes if "rpc" in record.ports]
    validator = next((record for record in validators if process_state(record) is ProcessState.RUNNING),
                     validators[0] if validators else None)
    if validator is None:
        raise click.ClickException(f"the devnet under {state.base_path} has no validator with an RPC port")
    exports = {BASE_PATH_ENVVAR: str(Path(state.base_path).resolve()), RPC_ENVVAR: validator.url("rpc", "ws")}
    for name, value in exports.items():
        click.echo(f"export {name}={shlex.quote(value)}")
    click.echo(f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"')


@devnet.command("kill")
@click.argument("name")
@click.option("--signal", "signal_name", type=click.Choice(SIGNALS, case_sensitive=False), default="KILL",
              show_default=True, help="KILL or TERM to crash or stop it, STOP to pause it, CONT to resume it.")
@base_path_option
def devnet_kill(name: str, signal_name: str, base_path: Path) -> None:
    """Inject a fault: send a signal (SIGKILL by default) to one process of the devnet."""
    signum = signal.Signals["SIG" + signal_name.upper()]
    try:
        record = launcher.kill(_load(base_path), name, signum)
    except UnknownProcess as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    except NotRunning as exc:
        raise click.ClickException(f"{exc}: start it again with {_command(base_path, 'restart', name)}") from None
    except DevnetError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name} (pid {record.pid}): {signum.name} sent")


@devnet.command("restart")
@click.argument("name")
@base_path_option
def devnet_restart(name: str, base_path: Path) -> None:
    """Start one process again with its recorded command and ports (stopping it first if it runs)."""
    _load(base_path)
    try:
        record = launcher.restart(base_path, name)
    except UnknownProcess as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    except DevnetError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name} restarted: pid {record.pid}, {_ports(record)}")


@devnet.command("corrupt")
@click.argument("name")
@base_path_option
def devnet_corrupt(name: str, base_path: Path) -> None:
    """Inject a fault: flip the bytes of one fragment a storage node holds (its next audit of it fails)."""
    try:
        path = corrupt_fragment(_load(base_path).process(name))
    except UnknownProcess as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    except DevnetError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the node moved the fragment meanwhile (a repair, a deletion)
        raise click.ClickException(f"{name}: {exc.strerror or exc}: {exc.filename}; try again") from None
    click.echo(f"{name}: corrupted {path}")


@devnet.command("withhold")
@click.argument("name")
@click.option("--off", is_flag=True, help="Serve the cells again.")
@base_path_option
def devnet_withhold(name: str, off: bool, base_path: Path) -> None:
    """Inject a fault: a DA node keeps attesting but serves no cells and answers no audits (so an audit
    slashes it); --off makes it serve again."""
    try:
        switch = withhold(_load(base_path).process(name), on=not off)
    except UnknownProcess as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    except DevnetError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # its data folder is gone
        raise click.ClickException(f"{name}: {exc.strerror or exc}: {exc.filename}") from None
    click.echo(f"{name}: {'serving again' if off else 'withholding'} ({switch} {'removed' if off else 'present'})")


INTERRUPTED = "interrupted: the soak stopped early, its faults undone; nothing was judged"


@devnet.command("chaos")
@click.option("--duration", default="10m", show_default=True,
              help="How long faults and load run (seconds, or e.g. 90s, 10m, 1h, 1m30s); the check comes after.")
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Seed of the fault schedule and the load, to repeat a run [default: a random one, printed].")
@base_path_option
def devnet_chaos(duration: str, seed: int | None, base_path: Path) -> None:
    """Fault soak: kill and restart processes of every role, corrupt fragments, withhold cells and make a
    provider misbehave while a load stores files, publishes blobs and runs jobs; then check that no finalized
    block reverted, no acknowledged file or blob was lost, every paid job's result verifies and escrow and
    issuance balance. Exits 0 iff every invariant held and judged something wherever the load ran (a soak
    that acknowledged nothing proved nothing)."""
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from None
    _load(base_path)
    seed = secrets.randbelow(2**32) if seed is None else seed
    click.echo(f"chaos on the devnet under {base_path} for {seconds:g} s, seed {seed}")
    try:
        with launcher.signals_interrupt():  # Ctrl-C, `kill` and timeouts: the faults are undone first
            summary = trio.run(run_chaos, base_path, seconds, seed, click.echo)
    except DevnetError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.ClickException(INTERRUPTED) from None
    except BaseExceptionGroup as group:  # (trio hands Ctrl-C on inside the soak's task groups)
        interrupts, others = group.split(KeyboardInterrupt)
        if interrupts is None or others is not None:
            raise  # (a real error beside the interrupt is not hidden behind it)
        raise click.ClickException(INTERRUPTED) from None
    click.echo(summary.table())
    if not summary.held:
        raise click.ClickException(f"an invariant was violated or not judged (repeat the run with --seed {seed})")


@devnet.command("down")
@base_path_option
def devnet_down(base_path: Path) -> None:
    """Stop every process of the devnet, restarted ones included, and end the `up` watching it in the
    foreground, if one is."""
    _load(base_path)
    try:
        stopped = launcher.down(base_path)
    except DevnetError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"devnet stopped ({len(stopped)} running process(es) stopped)")


def _echo_status(state: DevnetState) -> None:
    for row in launcher.status(state):
        record = row.record
        columns = "  ".join(f"{key} {shown(key, value)}" for key, value in row.details.items())
        if row.state is not ProcessState.RUNNING:
            columns = f"log {record.log}"
        click.echo(f"{record.name:<12} {row.state.value:<8} pid {record.pid:<7} {columns}")


def _print_endpoints(state: DevnetState) -> None:
    click.echo(f"devnet under {state.base_path} (chain spec {state.chain_spec}):")
    for record in state.processes:
        click.echo(f"  {record.name:<12} pid {record.pid:<7} {_ports(record)}  log {record.log}")
    for dashboard in [record for record in state.processes if record.role == DASHBOARD.name]:
        click.echo(f"dashboard: {dashboard_url(dashboard)}  (open it in a browser)")
    click.echo("dev accounts (sr25519, SS58 prefix 42):")
    for name in DEV_ACCOUNTS:
        click.echo(f"  //{name:<8} {Keypair.from_uri('//' + name).ss58_address()}")


def _ports(record: ProcessRecord) -> str:
    return "  ".join(f"rpc {record.url('rpc', 'ws')}" if name == "rpc" else f"{name} :{port}"
                     for name, port in record.ports.items())


def _command(base_path: Path, *args: str) -> str:
    """The exact command line of a ``cairn devnet`` sub-command for this base path. ``cairn`` is named by its path
    in the virtual environment: ``./run-devnet`` puts it on its own PATH, not on the PATH of the user's shell."""
    script, program = Path(sys.executable).parent / "cairn", "cairn"
    if script.exists():
        relative = os.path.relpath(script)
        program = str(script) if relative.startswith("..") else relative
    return shlex.join([program, "devnet", *args, "--base-path", str(base_path)])


def _load(base_path: Path) -> DevnetState:
    try:
        return launcher.load(base_path)
    except DevnetError as exc:
        raise click.ClickException(f"{exc}: pass the --base-path the devnet was started with "
                                   f"(the default is {DEFAULT_BASE_PATH})") from None
