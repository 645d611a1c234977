"""Chain specs: presets, JSON round trip, deterministic genesis, bad specs rejected; the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from node.chain_spec import ChainSpec, InvalidChainSpec, preset
from sdk.cli import main
from runtime.keyring import Keypair


def test_presets_endow_dev_accounts_and_name_authorities():
    dev, local = preset("dev"), preset("local")
    assert len(dev.authorities) == 1 and len(local.authorities) == 4
    alice = Keypair.from_uri("//Alice").public
    assert dev.genesis["Sudo"].key == alice and (alice, 10**18) in dev.genesis["Balances"].balances
    assert local.properties == {"ss58Format": 42, "tokenDecimals": 12, "tokenSymbol": "CAIRN"}
    # Alice's ed25519 session key is Substrate's well-known //Alice ed25519 key.
    assert dev.authorities[0].session_key == "0x88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee"


def test_genesis_hash_is_deterministic_from_the_spec(tmp_path):
    spec = preset("local")
    path = tmp_path / "spec.json"
    spec.save(path)
    reloaded = ChainSpec.load(path)
    assert reloaded.build()[1].hash == spec.build()[1].hash
    assert preset("dev").build()[1].hash != spec.build()[1].hash
    changed = json.loads(path.read_text())
    changed["genesis"]["balances"]["balances"][0][1] = "1"
    with pytest.raises(Exception):
        ChainSpec.from_json(changed).build()  # below the existential deposit
    changed["genesis"]["balances"]["balances"][0][1] = str(10**17)
    assert ChainSpec.from_json(changed).build()[1].hash != spec.build()[1].hash


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("genesis"),
    lambda d: d["genesis"]["balances"]["balances"].append(["not-an-address", "5"]),
    lambda d: d["genesis"]["balances"]["balances"].append(d["genesis"]["balances"]["balances"][0]),
    lambda d: d["genesis"]["validatorSet"]["authorities"].__setitem__(0, "0x1234"),
    lambda d: d["genesis"].update(nosuchPallet={}),
    lambda d: d["consensus"].update(slotDurationMs="soon"),
    lambda d: d["runtime"]["Balances"].update(unknown_param=1),
    lambda d: d["runtime"]["Balances"].update(existential_deposit="ten"),
    lambda d: d["runtime"].update(NoSuchPallet={}),
    lambda d: d.update(authorityNames=["Alice", "Bob"]),
], ids=["no-genesis", "bad-address", "endowed-twice", "short-key", "unknown-pallet-genesis", "bad-slot",
        "unknown-param", "non-integer-param", "unknown-pallet-params", "names-not-matching"])
def test_malformed_specs_are_rejected_clearly(mutate):
    doc = preset("dev").to_json()
    mutate(doc)
    with pytest.raises(InvalidChainSpec):
        ChainSpec.from_json(doc)


def test_cli_writes_a_spec_and_reports_its_genesis_hash(tmp_path):
    runner = CliRunner()
    out = tmp_path / "dev.json"
    result = runner.invoke(main, ["chain-spec", "--preset", "dev", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"0x{preset('dev').build()[1].hash.hex()}" in result.output
    assert ChainSpec.load(out) == preset("dev")
