"""The devnet config: defaults, a TOML file, and every kind of mistake named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from devnet import launcher
from devnet.config import ConfigError, DevnetConfig
from devnet.registry import ROLES
from devnet.state import DevnetError
from sdk.cli import main


def parse(text: str) -> DevnetConfig:
    import tomllib

    return DevnetConfig.parse(tomllib.loads(text), ROLES)


def test_no_file_means_four_validators_on_ports_they_pick():
    config = DevnetConfig.load(None, ROLES)
    assert config.base_path == Path("devnet-data")
    validators = config.roles["validators"]
    assert validators.count == 4 and dict(validators.first_ports) == {}
    assert validators.ports(3, ("p2p", "rpc", "prometheus")) == {"p2p": 0, "rpc": 0, "prometheus": 0}


def test_a_file_sets_base_path_count_and_first_ports(tmp_path):
    path = tmp_path / "devnet.toml"
    path.write_text('base_path = "elsewhere"\n[validators]\ncount = 3\nrpc_port = 9944\n')
    config = DevnetConfig.load(path, ROLES)
    assert config.base_path == Path("elsewhere")
    assert config.roles["validators"].ports(2, ("p2p", "rpc")) == {"p2p": 0, "rpc": 9946}


def test_flags_override_the_file():
    config = parse("[validators]\ncount = 3\nrpc_port = 9944\n")
    config = config.with_role("validators", count=2, first_ports={"rpc": None, "p2p": 30500})
    assert config.roles["validators"].count == 2
    assert dict(config.roles["validators"].first_ports) == {"rpc": 9944, "p2p": 30500}


@pytest.mark.parametrize("text, message", [
    ("colour = 'blue'\n", "unknown key 'colour' (roles: validators, storage_nodes, da_nodes, providers, dashboard; keys: base_path)"),
    ("[storage]\ncount = 2\n", "unknown role 'storage' (roles: validators, storage_nodes, da_nodes, providers, dashboard; keys: base_path)"),
    ("[validators]\ncount = 4\nrpc = 9944\n", "[validators]: unknown key(s) 'rpc' (keys: count, p2p_port, rpc_port, "
                                              "prometheus_port)"),
    ("validators = 4\n", "[validators] must be a table, not 4"),
    ("[validators]\ncount = '4'\n", "validators.count must be a whole number from 1 to 32, not '4'"),
    ("[validators]\ncount = true\n", "validators.count must be a whole number from 1 to 32, not True"),
    ("[validators]\ncount = 0\n", "validators.count must be a whole number from 1 to 32, not 0"),
    ("[validators]\nrpc_port = 70000\n", "validators.rpc_port must be a TCP port from 1 to 65535, not 70000"),
    ("[validators]\nrpc_port = 65534\n", "validators.rpc_port = 65534: 4 processes need ports up to 65537, "
                                         "past 65535"),
    ("[validators]\nrpc_port = 9944\nprometheus_port = 9946\n",
     "port 9946 is given by both validators.rpc_port and validators.prometheus_port"),
    ("base_path = 3\n", "base_path must be a folder name, not 3"),
])
def test_mistakes_are_named(text, message):
    with pytest.raises(ConfigError) as error:
        parse(text)
    assert str(error.value) == message


def test_a_file_that_is_missing_or_not_toml_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nosuch.toml: No such file or directory"):
        DevnetConfig.load(tmp_path / "nosuch.toml", ROLES)
    bad = tmp_path / "bad.toml"
    bad.write_text("[validators\n")
    with pytest.raises(ConfigError, match="bad.toml: not TOML"):
        DevnetConfig.load(bad, ROLES)


def test_up_with_a_bad_config_starts_nothing(tmp_path):
    config = tmp_path / "devnet.toml"
    config.write_text(f'base_path = "{tmp_path / "data"}"\n[validator]\ncount = 2\n')
    result = CliRunner().invoke(main, ["devnet", "up", "--config", str(config), "--detach"])
    assert result.exit_code == 2
    assert "unknown role 'validator' (roles: validators, storage_nodes, da_nodes, providers, dashboard; keys: base_path)" in result.output
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("in_file, flag, used", [("b", False, "b"), ("devnet-data", False, "devnet-data"),
                                                 (None, False, "a"), ("b", True, "flag")])
def test_a_config_files_base_path_beats_the_shells_devnet_and_a_flag_beats_both(tmp_path, monkeypatch, in_file,
                                                                                 flag, used):
    """``eval "$(cairn devnet env)"`` exports devnet A's folder; ``up --config b.toml --fresh`` must not wipe
    A and start B there (nor when the file names the default's own folder)."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "b.toml"
    config.write_text((f'base_path = "{in_file}"\n' if in_file else "") + "[validators]\ncount = 1\n")
    started = []

    def up(config, **options):
        started.append(config.base_path.resolve())
        raise DevnetError("not started: the test sees where it would have")

    monkeypatch.setattr(launcher, "up", up)
    CliRunner().invoke(main, ["devnet", "up", "--config", str(config), "--fresh", "--detach",
                              *(["--base-path", str(tmp_path / "flag")] if flag else [])],
                       env={"CAIRN_DEVNET": str(tmp_path / "a")})
    assert started == [tmp_path / used]
