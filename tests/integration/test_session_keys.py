"""Session keys on a real node: the keystore RPCs, and a rotation that takes effect with no restart.

A one-validator chain with 4-block sessions: the node rotates in a fresh key (``author_rotateKeys``), sudo
queues it as the authority set, and after the session change only the new key can author and vote, so
the chain going on (best and finalized) shows the node signing with its keystore. A restart without
``--key`` then shows the key was kept on disk.
"""

from __future__ import annotations

import dataclasses

import pytest
from substrateinterface import Keypair as ClientKeypair
from substrateinterface import SubstrateInterface

from node.chain_spec import preset
from runtime.primitives import SignatureScheme
from runtime.keyring import Keypair
from tests.integration.nodes import NodeProcess, rpc, wait_until

SESSION_LENGTH = 4
ALICE_SESSION = Keypair.from_uri("//Alice", SignatureScheme.Ed25519).public


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    base = tmp_path_factory.mktemp("session-keys")
    spec = preset("dev")
    spec = dataclasses.replace(spec, runtime=spec.runtime.replace(ValidatorSet={"session_length": SESSION_LENGTH}))
    spec.save(base / "spec.json")
    process = NodeProcess(["--chain", str(base / "spec.json"), "--validator", "--key", "//Alice"],
                          base / "data", 0, 0, base / "node.log").start()
    wait_until(lambda: process.finalized() >= 1, 90, "first finalized block")
    yield process
    process.stop()


def _error(node, method, params):
    with pytest.raises(RuntimeError) as info:  # carrying the JSON-RPC error object
        rpc(node.rpc_port, method, params)
    return str(info.value)


def test_keystore_methods_and_their_bad_input(node):
    port = node.rpc_port
    assert rpc(port, "author_hasKey", ["0x" + ALICE_SESSION.hex(), "aura"]) is True
    assert rpc(port, "author_hasKey", ["0x" + ALICE_SESSION.hex(), "gran"]) is False
    assert rpc(port, "author_hasSessionKeys", ["0x" + bytes(32).hex()]) is False
    bob = Keypair.from_uri("//Bob", SignatureScheme.Ed25519)
    assert rpc(port, "author_insertKey", ["aura", "//Bob", "0x" + bob.public.hex()]) is None
    assert rpc(port, "author_hasSessionKeys", ["0x" + bob.public.hex()]) is True
    assert "-32602" in _error(node, "author_insertKey", ["aura", "//Charlie", "0x" + ALICE_SESSION.hex()])
    assert "-32602" in _error(node, "author_insertKey", ["toolong", "//Bob", "0x" + bob.public.hex()])
    assert "-32602" in _error(node, "author_insertKey", ["aura", 7, "0x" + bob.public.hex()])
    assert "-32602" in _error(node, "author_hasSessionKeys", ["0x" + bytes(31).hex()])
    assert "-32602" in _error(node, "author_hasKey", ["0x12", "aura"])


def test_a_rotated_key_takes_over_authoring_and_finality_without_a_restart(node, tmp_path):
    new_key = bytes.fromhex(rpc(node.rpc_port, "author_rotateKeys")[2:])
    assert len(new_key) == 32 and new_key != ALICE_SESSION
    assert rpc(node.rpc_port, "author_hasSessionKeys", ["0x" + new_key.hex()]) is True

    with SubstrateInterface(url=f"ws://127.0.0.1:{node.rpc_port}") as substrate:
        inner = substrate.compose_call("ValidatorSet", "set_validators", {"validators": ["0x" + new_key.hex()]})
        call = substrate.compose_call("Sudo", "sudo", {"call": inner})
        receipt = substrate.submit_extrinsic(
            substrate.create_signed_extrinsic(call, ClientKeypair.create_from_uri("//Alice")), wait_for_inclusion=True)
        assert receipt.is_success
        included = substrate.get_block_number(receipt.block_hash)
        enacted_by = included + SESSION_LENGTH  # the next session boundary at the latest

        def validators_at(number: int) -> list[str]:
            block_hash = substrate.get_block_hash(number)
            return substrate.query("ValidatorSet", "Validators", block_hash=block_hash).value

        wait_until(lambda: node.finalized() >= enacted_by + 3, 60, "finality past the rotation")
        assert validators_at(enacted_by + 3) == ["0x" + new_key.hex()]
        assert validators_at(included) == ["0x" + ALICE_SESSION.hex()]

    # The rotated key was kept on disk: restarted without --key, the node goes on authoring and finalizing.
    node.stop()
    node.args = ["--chain", node.args[1], "--validator"]
    node.start()
    finalized = node.finalized()
    wait_until(lambda: node.finalized() >= finalized + 2, 60, "finality after the restart")


def test_keystore_methods_are_refused_when_only_safe_methods_are_served(tmp_path):
    process = NodeProcess(["--dev", "--rpc-methods", "safe"], tmp_path / "data", 0, 0,
                          tmp_path / "node.log").start()
    try:
        for method, params in (("author_rotateKeys", []), ("author_hasKey", ["0x" + ALICE_SESSION.hex(), "aura"]),
                               ("author_insertKey", ["aura", "//Bob", "0x" + bytes(32).hex()]),
                               ("author_hasSessionKeys", ["0x" + bytes(32).hex()]), ("system_peers", [])):
            assert "unsafe" in _error(process, method, params)
        assert len(list((tmp_path / "data" / "keystore").glob(b"aura".hex() + "*"))) == 1  # --dev's //Alice
    finally:
        process.stop()
