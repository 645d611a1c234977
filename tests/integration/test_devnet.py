"""``cairn devnet`` with real processes: up with no config (what ``./run-devnet`` runs), status, kill, restart,
pause, a second devnet beside the first, failures, down.

One four-validator devnet serves the module (so one validator may be down and finality continues); the tests
run in file order against it and the last one takes it down.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from devnet import launcher
from devnet.state import DevnetState, ProcessState, process_state
from node.chain_spec import preset
from node.db.store import ChainStore
from sdk.cli import main
from tests.integration.nodes import rpc, wait_until


pytestmark = pytest.mark.long(1.5)  # minutes, about: started early (tests/conftest.py)


def cli(*args: str):
    return CliRunner().invoke(main, ["devnet", *args])


def heights(base: Path, name: str) -> tuple[int, int]:
    record = DevnetState.load(base).process(name)
    port = record.ports["rpc"]
    best = int(rpc(port, "chain_getHeader")["number"], 16)
    return best, int(rpc(port, "chain_getHeader", [rpc(port, "chain_getFinalizedHead")])["number"], 16)


def states(base: Path) -> dict[str, ProcessState]:
    return {row.record.name: row.state for row in launcher.status(launcher.load(base))}


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    base = tmp_path_factory.mktemp("devnet") / "data"
    result = cli("up", "--base-path", str(base), "--detach")
    try:
        assert result.exit_code == 0, result.output
        yield base, result.output
    finally:
        cli("down", "--base-path", str(base))


def test_up_prints_every_process_and_the_commands_for_its_base_path(devnet):
    base, output = devnet
    for i in range(4):
        assert f"validator-{i}" in output and f"logs/validator-{i}.log" in output
    for i in range(6):
        assert f"storage-{i}" in output and f"logs/storage-{i}.log" in output
    for i in range(4):
        assert f"da-{i}" in output and f"logs/da-{i}.log" in output
    for i in range(3):
        assert f"provider-{i}" in output and f"logs/provider-{i}.log" in output
    dashboard = DevnetState.load(base).process("dashboard-0")
    assert f"dashboard: http://127.0.0.1:{dashboard.ports['http']}/" in output
    assert "//Alice" in output and "//Ferdie" in output
    for command in ("status", "kill NAME", "restart NAME", "down"):
        assert f"devnet {command} --base-path {base}" in output
    ports = [port for record in DevnetState.load(base).processes for port in record.ports.values()]
    assert len(ports) == 26 and len(set(ports)) == 26 and 0 not in ports  # each picked and reported its own


def test_status_lists_every_process_with_its_heights(devnet):
    base, _ = devnet
    wait_until(lambda: all(heights(base, f"validator-{i}")[1] >= 1 for i in range(4)), 60, "all finalize")
    result = cli("status", "--base-path", str(base))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    validators = [line for line in lines if line.startswith("validator-")]
    assert len(validators) == 4 and all(" running " in line and "finalized #" in line and "peers 3" in line
                                        for line in validators), result.output
    storage = [line for line in lines if line.startswith("storage-")]
    assert len(storage) == 6 and all(" running " in line and "fragments 0" in line for line in storage), result.output
    da = [line for line in lines if line.startswith("da-")]
    assert len(da) == 4 and all(" running " in line and "blobs 0" in line for line in da), result.output
    providers = [line for line in lines if line.startswith("provider-")]
    assert len(providers) == 3 and all(" running " in line and "jobs run 0" in line for line in providers), result.output
    (dashboard,) = [line for line in lines if line.startswith("dashboard-")]
    assert " running " in dashboard and "blobs 0  sampled 0" in dashboard and "url http://127.0.0.1:" in dashboard


def test_a_storage_node_is_killed_and_restarted_on_its_port(devnet):
    base, _ = devnet
    before = DevnetState.load(base).process("storage-3")
    assert cli("kill", "storage-3", "--base-path", str(base)).exit_code == 0
    assert states(base)["storage-3"] is ProcessState.EXITED
    result = cli("restart", "storage-3", "--base-path", str(base))
    assert result.exit_code == 0, result.output
    after = DevnetState.load(base).process("storage-3")
    assert after.pid != before.pid and after.ports == before.ports
    assert "fragments 0" in cli("status", "--base-path", str(base)).output
    shown = {row["name"]: row for row in json.loads(cli("status", "--json", "--base-path", str(base)).output)}
    assert (shown["storage-3"]["state"], shown["storage-3"]["pid"]) == ("running", after.pid)
    assert shown["storage-3"]["ports"] == after.ports and shown["storage-3"]["reports"]["fragments"] == 0
    reports = shown["validator-0"]["reports"]  # numbers, as the text shows them (#12)
    assert shown["validator-0"]["role"] == "validator" and reports["best"] >= reports["finalized"] >= 0


def test_env_points_every_cairn_command_at_the_devnet(devnet):
    base, _ = devnet
    result = cli("env", "--base-path", str(base))
    assert result.exit_code == 0, result.output
    exports = dict(line.removeprefix("export ").split("=", 1) for line in result.output.splitlines())
    validator = DevnetState.load(base).process("validator-0")
    assert exports["CAIRN_RPC"] == validator.url("rpc", "ws") and exports["CAIRN_DEVNET"] == str(base.resolve())
    assert exports["PATH"] == f'{Path(sys.executable).parent}:"$PATH"'
    env = {"CAIRN_RPC": exports["CAIRN_RPC"], "CAIRN_DEVNET": exports["CAIRN_DEVNET"]}
    status = CliRunner().invoke(main, ["devnet", "status"], env=env)  # no --base-path: $CAIRN_DEVNET
    assert status.exit_code == 0 and "validator-0" in status.output, status.output
    nodes = CliRunner().invoke(main, ["storage", "nodes", "--json"], env=env)  # no --rpc: $CAIRN_RPC
    assert nodes.exit_code == 0, nodes.output
    assert len(json.loads(nodes.output)) == 6


def test_status_of_another_base_path_says_which_to_pass(tmp_path):
    result = cli("status", "--base-path", str(tmp_path))
    assert result.exit_code == 1
    assert f"no devnet under {tmp_path}" in result.output and "pass the --base-path the devnet was started with" \
        in result.output


def test_kill_then_restart_on_the_same_ports(devnet):
    base, _ = devnet
    before = DevnetState.load(base).process("validator-3")
    result = cli("kill", "validator-3", "--base-path", str(base))
    assert result.exit_code == 0 and "SIGKILL sent" in result.output
    assert states(base)["validator-3"] is ProcessState.EXITED
    _, finalized = heights(base, "validator-0")
    wait_until(lambda: heights(base, "validator-0")[1] >= finalized + 2, 60, "3 of 4 keep finalizing")
    again = cli("kill", "validator-3", "--base-path", str(base))
    assert again.exit_code == 1 and "validator-3 is not running" in again.output
    assert f"devnet restart validator-3 --base-path {base}" in again.output

    result = cli("restart", "validator-3", "--base-path", str(base))
    assert result.exit_code == 0, result.output
    after = DevnetState.load(base).process("validator-3")
    assert after.pid != before.pid and after.ports == before.ports
    target = heights(base, "validator-0")[1]
    wait_until(lambda: heights(base, "validator-3")[1] >= target, 120, "the restarted validator catches up")


def test_a_validator_restarted_by_hand_is_tracked(devnet):
    base, _ = devnet
    assert cli("kill", "validator-1", "--base-path", str(base)).exit_code == 0
    record = DevnetState.load(base).process("validator-1")
    with open(record.log, "ab") as log:
        by_hand = subprocess.Popen(record.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: launcher.load(base).process("validator-1").pid == by_hand.pid, 120, "adopted")
    assert states(base)["validator-1"] is ProcessState.RUNNING
    status = cli("status", "--base-path", str(base)).output
    assert f"validator-1  running  pid {by_hand.pid}" in status


def test_pause_and_resume(devnet):
    base, _ = devnet
    assert cli("kill", "validator-2", "--signal", "STOP", "--base-path", str(base)).exit_code == 0
    wait_until(lambda: states(base)["validator-2"] is ProcessState.PAUSED, 10, "paused")
    assert " paused " in cli("status", "--base-path", str(base)).output
    assert cli("kill", "validator-2", "--signal", "cont", "--base-path", str(base)).exit_code == 0
    wait_until(lambda: states(base)["validator-2"] is ProcessState.RUNNING, 10, "running again")


def test_an_unknown_process_name_lists_the_real_ones(devnet):
    base, _ = devnet
    result = cli("kill", "validator-9", "--base-path", str(base))
    assert result.exit_code == 2
    assert "no process named 'validator-9'" in result.output and "validator-0, validator-1" in result.output


def test_up_again_on_a_running_base_path_is_refused(devnet):
    base, _ = devnet
    result = cli("up", "--base-path", str(base), "--detach", "--validators", "1")
    assert result.exit_code == 1 and f"a devnet is already running under {base}" in result.output


def test_a_second_devnet_on_taken_ports_fails_before_starting(devnet, tmp_path):
    base, _ = devnet
    taken = DevnetState.load(base).process("validator-0").ports["rpc"]
    result = cli("up", "--base-path", str(tmp_path / "second"), "--validators", "1", "--rpc-port", str(taken),
                 "--detach")
    assert result.exit_code == 1
    assert f"port {taken} (validators.rpc_port, validator-0) is not free" in result.output
    assert not (tmp_path / "second" / "devnet.json").exists()


def test_a_second_devnet_with_picked_ports_runs_beside_the_first(devnet, tmp_path):
    base, _ = devnet
    config = tmp_path / "devnet.toml"
    config.write_text(f'base_path = "{tmp_path / "second"}"\n[validators]\ncount = 1\n'
                      "[storage_nodes]\ncount = 0\n[da_nodes]\ncount = 0\n[providers]\ncount = 0\n"
                      "[dashboard]\ncount = 0\n")
    result = cli("up", "--config", str(config), "--detach")
    try:
        assert result.exit_code == 0, result.output
        second = tmp_path / "second"
        wait_until(lambda: heights(second, "validator-0")[1] >= 1, 60, "the second devnet finalizes")
        first_ports = {p for r in DevnetState.load(base).processes for p in r.ports.values()}
        assert not first_ports & set(DevnetState.load(second).process("validator-0").ports.values())
        status = cli("status", "--base-path", str(second)).output
        assert status.count(" running ") == 1 and "peers 0" in status
    finally:
        assert cli("down", "--base-path", str(tmp_path / "second")).exit_code == 0


def test_a_process_that_fails_to_start_fails_up_with_its_log(tmp_path):
    base = tmp_path / "broken"
    (base / "validator-1").mkdir(parents=True)
    (base / "validator-1" / "db").write_text("not a database")
    result = cli("up", "--base-path", str(base), "--validators", "2", "--detach")
    assert result.exit_code == 1
    assert "validator-1 exited with status 1 before it was ready; the last lines of" in result.output
    assert "\n    " in result.output  # the log's lines, indented
    assert set(states(base).values()) == {ProcessState.EXITED}  # validator-0 was stopped again


def test_up_on_a_devnet_another_version_began_says_to_start_fresh_and_starts_nothing(tmp_path):
    """Its validators would each have failed to start in turn, the first one's traceback shown."""
    base = tmp_path / "old"
    ChainStore.open(base / "validator-0" / "db", *preset("dev").build()[1:]).close()  # not the devnet's chain
    result = cli("up", "--base-path", str(base), "--detach")
    assert result.exit_code == 1
    assert f"{base} holds a devnet whose chain this one cannot resume" in result.output
    assert "Start over with `./run-devnet --fresh`" in result.output
    assert not (base / "logs").exists() and not (base / launcher.STATE_FILE).exists()


def test_foreground_up_stops_everything_on_ctrl_c_including_restarted(tmp_path):
    base = tmp_path / "foreground"
    process = subprocess.Popen([sys.executable, "-c", "from sdk.cli import main; main()", "devnet", "up",
                                "--validators", "1", "--storage-nodes", "0", "--da-nodes", "0", "--providers", "0",
                                "--base-path", str(base)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               # as a shell's `cairn devnet up &` starts it: Ctrl-C must still stop it
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        # validator-0 and the dashboard, both running: a state that lasts (waiting for validator-0 alone raced
        # the dashboard's start, after which that state never came again)
        wait_until(lambda: process.poll() is not None or (base / "devnet.json").exists() and states(base) == {
            "validator-0": ProcessState.RUNNING, "dashboard-0": ProcessState.RUNNING}, 60, "the foreground devnet is up")
        assert cli("restart", "validator-0", "--base-path", str(base)).exit_code == 0
        restarted = DevnetState.load(base).process("validator-0")
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert output.rstrip().endswith("devnet stopped")
    assert process_state(restarted) is ProcessState.EXITED


SMALL = ("--validators", "1", "--storage-nodes", "0", "--da-nodes", "0", "--providers", "0")


def foreground_up(base: Path) -> tuple[subprocess.Popen, Path]:
    """``cairn devnet up`` in the foreground, once it is up and watching; and the file its output goes to."""
    output = base.with_name(base.name + ".out")
    with output.open("w") as sink:
        process = subprocess.Popen([sys.executable, "-c", "from sdk.cli import main; main()", "devnet", "up", *SMALL,
                                    "--base-path", str(base)], stdout=sink, stderr=subprocess.STDOUT)
    wait_until(lambda: process.poll() is not None or "press Ctrl-C to stop" in output.read_text(), 60,
               "the foreground devnet is up")
    return process, output


def test_down_from_another_shell_ends_the_foreground_up_too(tmp_path):
    """It printed the status on, and would have watched, and at Ctrl-C stopped, the next devnet started there."""
    base = tmp_path / "foreground"
    process, output = foreground_up(base)
    try:
        assert DevnetState.load(base).supervisor[0] == process.pid
        assert cli("down", "--base-path", str(base)).exit_code == 0
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output.read_text()
    assert output.read_text().rstrip().endswith("devnet stopped")
    assert DevnetState.load(base).supervisor is None and set(states(base).values()) == {ProcessState.EXITED}


def test_a_later_up_ends_a_foreground_up_whose_processes_all_ended_and_it_stops_nothing(tmp_path):
    """Every process killed by hand, no ``down``: the next ``up`` there must not be watched, nor stopped at
    the old terminal's Ctrl-C, by the first one."""
    base = tmp_path / "foreground"
    process, output = foreground_up(base)
    try:
        for name in states(base):
            assert cli("kill", name, "--base-path", str(base)).exit_code == 0
        assert cli("up", *SMALL, "--base-path", str(base), "--detach").exit_code == 0
        process.wait(timeout=60)
        assert process.returncode == 0 and "another devnet was started under" in output.read_text(), \
            output.read_text()
        assert set(states(base).values()) == {ProcessState.RUNNING}  # the new one runs on
    finally:
        if process.poll() is None:
            process.kill()
        cli("down", "--base-path", str(base))


def test_down_stops_every_process_including_restarted_ones(devnet):
    base, _ = devnet
    records = launcher.load(base).processes  # validator-3 restarted, validator-1 restarted by hand
    result = cli("down", "--base-path", str(base))
    # 4 validators, 6 storage nodes, 4 DA nodes, 3 providers, the dashboard
    assert result.exit_code == 0 and "18 running process(es) stopped" in result.output
    assert set(states(base).values()) == {ProcessState.EXITED}
    assert all(process_state(record) is ProcessState.EXITED for record in records)
