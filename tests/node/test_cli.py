"""``cairn node`` as an operator meets it: bad flags, taken ports, Ctrl-C and SIGTERM, reported ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from devnet.role import read_endpoints
from node.chain_spec import preset
from node.cli import ENDPOINTS_FILE
from node.db.layout import META, SCHEMA_VERSION, SCHEMA_VERSION_KEY, encode_u32
from node.db.store import ChainStore
from sdk.cli import main
from tests.integration.nodes import rpc, wait_until
from tests.node.db.test_store import edit_raw


@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    """Where ``--dev`` puts its temporary base path during the test (in this process)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def run_node(*args: str):
    return CliRunner().invoke(main, ["node", *args])


def assert_one_line_error(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [f"Error: {message}"]


@pytest.mark.parametrize("flag, value", [("--rpc-port", "99999"), ("--port", "70000"),
                                         ("--prometheus-port", "99999"), ("--port", "-1")])
def test_a_port_out_of_range_is_one_line_naming_the_flag(flag, value, temp_root):
    result = run_node("--dev", flag, value)
    assert_one_line_error(result, f"Invalid value for '{flag}': {value} is not in the range 0<=x<=65535.")
    assert list(temp_root.iterdir()) == []


@pytest.mark.parametrize("flag", ["--rpc-port", "--port", "--prometheus-port"])
def test_a_port_in_use_fails_before_anything_starts(flag, listening, temp_root, tmp_path):
    base = tmp_path / "data"
    result = run_node("--dev", "--base-path", str(base), "--rpc-port", "0", "--port", "0", flag, str(listening))
    assert_one_line_error(result, f"Invalid value for '{flag}': cannot listen on 127.0.0.1:{listening}: "
                                  "Address already in use")
    assert not base.exists()
    assert list(temp_root.iterdir()) == []


def test_a_base_path_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    base = tmp_path / "file" / "data"
    result = run_node("--dev", "--base-path", str(base), "--rpc-port", "0", "--port", "0")
    assert_one_line_error(result, f"Invalid value for '--base-path': cannot use {base}: Not a directory")


def test_one_port_for_two_flags_is_refused(temp_root):
    result = run_node("--dev", "--port", "40123", "--rpc-port", "40123")
    assert_one_line_error(result, "Invalid value for '--rpc-port': port 40123 is also given to --port")


def test_a_listen_address_that_is_not_ours_is_refused(temp_root):
    result = run_node("--dev", "--listen-addr", "192.0.2.1", "--port", "0", "--rpc-port", "0")
    assert result.exit_code == 2 and "Invalid value for '--port': cannot listen on 192.0.2.1:0" in result.output


@pytest.mark.parametrize("base", [[], ["--base-path", "unused"]])
def test_an_unknown_chain_names_the_presets(base, temp_root):
    result = run_node("--chain", "nosuch", *base)
    assert_one_line_error(result, "Invalid value for '--chain': chain spec 'nosuch': no such file or preset "
                                  "(presets: dev, local)")
    assert not Path("unused").exists()


def test_a_chain_file_that_is_not_a_spec_says_why(tmp_path, temp_root):
    spec = tmp_path / "spec.json"
    spec.write_text("{not json")
    result = run_node("--chain", str(spec), "--base-path", str(tmp_path / "data"))
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: Invalid value for '--chain': chain spec '{spec}': {spec}: not JSON")
    assert not (tmp_path / "data").exists()


def test_dev_with_a_bad_flag_leaves_no_temporary_folder(temp_root, listening):
    for args in (["--chain", "nosuch"], ["--rpc-port", str(listening)], ["--key", "not a key"]):
        result = run_node("--dev", *args)
        assert result.exit_code == 2, result.output
    assert list(temp_root.iterdir()) == []


@pytest.mark.parametrize("chain, schema, why", [
    ("local", SCHEMA_VERSION, "begun by another version of Cairn's runtime or from another chain spec"),
    ("dev", SCHEMA_VERSION + 1, "written by another version of Cairn's node, or is not a chain database"),
])
def test_a_base_path_holding_another_chain_is_one_line_and_left_as_it_was(tmp_path, chain, schema, why):
    """A chain begun by another version of the runtime (its ``:code`` in genesis differs) or another spec, or a
    database of another layout: the node said nothing but a traceback ending in the two genesis hashes."""
    dev = preset("dev").build()[1:]
    ChainStore.open(tmp_path / "db", *dev).close()
    edit_raw(tmp_path / "db", META, SCHEMA_VERSION_KEY, encode_u32(schema))
    result = run_node("--chain", chain, "--validator", "--key", "//Alice", "--base-path", str(tmp_path),
                      "--port", "0", "--rpc-port", "0")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.output.splitlines()[-1].startswith(f"Error: {tmp_path / 'db'} holds a chain this node cannot run: ")
    assert why in result.output and "delete that folder to start over, or use another --base-path" in result.output
    edit_raw(tmp_path / "db", META, SCHEMA_VERSION_KEY, encode_u32(SCHEMA_VERSION))
    ChainStore.open(tmp_path / "db", *dev).close()  # still the dev chain


def start_dev_node(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    """``cairn node --dev`` on ports 0 with its temporary base path under ``tmp_path``; returns once it listens."""
    root = tmp_path / "tmp"
    root.mkdir()
    log = tmp_path / "node.log"
    process = subprocess.Popen([sys.executable, "-m", "node", "--dev", "--port", "0", "--rpc-port", "0", *extra],
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(root)})
    try:
        base = wait_until(lambda: next(root.glob("cairn-dev-*"), None), 120, "the temporary base path")
        wait_until(lambda: process.poll() is not None or read_endpoints(base, process.pid), 120, "the node listens")
        assert process.poll() is None, log.read_text()
    except BaseException:  # a node slow to start on a loaded machine must not outlive its failed test
        process.kill()
        process.wait()
        raise
    return process, base


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_with_one_line_and_exit_0(signum, tmp_path):
    process, base = start_dev_node(tmp_path)
    try:
        rpc_port = read_endpoints(base, process.pid)["ports"]["rpc"]
        wait_until(lambda: int(rpc(rpc_port, "chain_getHeader")["number"], 16) >= 1, 120, "a block")
        process.send_signal(signum)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = (tmp_path / "node.log").read_text()
    assert "Traceback" not in log
    stopped = [line for line in log.splitlines() if "stopped" in line]
    assert len(stopped) == 1 and stopped[0].endswith(f"stopped ({signum.name}): database closed"), log
    assert not base.exists()  # --dev's temporary base path is gone


def test_ports_0_are_reported_in_endpoints_json_and_the_log(tmp_path):
    process, base = start_dev_node(tmp_path, "--prometheus-port", "0")
    try:
        doc = json.loads((base / ENDPOINTS_FILE).read_text())
        ports = doc["ports"]
        assert doc["pid"] == process.pid and doc["peer_id"].startswith("12D3KooW")
        assert set(ports) == {"p2p", "rpc", "prometheus"} and 0 not in ports.values()
        # its first answer may wait for the rest of its start-up, which took over 15 s once with the suite's
        # four workers on two cores
        assert rpc(ports["rpc"], "system_health", timeout=60)["isSyncing"] is False
        with socket.create_connection(("127.0.0.1", ports["prometheus"]), timeout=5) as conn:
            conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = conn.makefile("rb")
            status_line, metrics = reply.readline(), reply.read().decode()
        assert status_line == b"HTTP/1.1 200 OK\r\n"
        frozen = [line for line in metrics.splitlines() if line.startswith("python_gc_frozen_objects ")]
        assert len(frozen) == 1 and int(frozen[0].split()[1]) > 10_000  # the node settled its collector once started
        assert 'python_gc_collections_total{generation="2"}' in metrics
        log = (tmp_path / "node.log").read_text()
        assert f"listening: p2p {ports['p2p']}, rpc {ports['rpc']}, prometheus {ports['prometheus']}" in log
        json_rpc_lines = [line for line in log.splitlines() if "JSON-RPC" in line]
        assert len(json_rpc_lines) == 1 and json_rpc_lines[0].endswith(f":{ports['rpc']}")
    finally:
        process.terminate()
        assert process.wait(30) == 0
    assert not (base / ENDPOINTS_FILE).exists()
