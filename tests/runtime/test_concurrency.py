"""One runtime instance used from several threads at once (a node's block import, RPC queries and gossip
validation) gives every thread the answer it would get alone: execution state is per thread, never shared."""

from __future__ import annotations

import threading

from devnet.local_chain import LocalChain
from node.chain_spec import preset
from runtime.executive import execute_block, validate_transactions
from runtime.frame.overlay import Overlay
from runtime.keyring import Keypair
from tests.runtime.helpers import sign

TRANSFERS = 200
RUNS = 20


def _block_of_transfers(chain: LocalChain) -> tuple:
    alice, bob = Keypair.from_uri("//Alice"), Keypair.from_uri("//Bob")
    transfers = [sign(chain, alice, "Balances", "transfer_keep_alive", nonce=n, dest=bob.public, value=10**12)
                 for n in range(TRANSFERS)]
    parent_state = chain.best_state
    result = chain.produce_block(transfers)
    assert all(not isinstance(o, Exception) and o.error is None for o in result.outcomes)
    return parent_state, result.block


def test_block_execution_is_unaffected_by_readers_on_other_threads():
    chain = LocalChain(preset("local"))
    runtime = chain.runtime
    parent_state, block = _block_of_transfers(chain)
    expected_authorities = chain.spec.genesis["ValidatorSet"].authorities
    stop = threading.Event()
    reader_errors: list[BaseException] = []

    def read_authorities_in_a_loop() -> None:  # what RPC queries and gossip validation do
        try:
            while not stop.is_set():
                with runtime.executing(Overlay(parent_state)):
                    assert tuple(runtime.validator_set.authorities()) == expected_authorities
                    runtime.system.account_nonce(bytes(32))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            reader_errors.append(exc)

    def validate_in_a_loop() -> None:  # what the transaction pool's worker does
        alice = Keypair.from_uri("//Alice")
        raw = sign(chain, alice, "System", "remark", nonce=0, remark=b"x")
        try:
            while not stop.is_set():
                (result,) = validate_transactions(runtime, parent_state, block.header.parent_hash, [raw])
                assert not isinstance(result, Exception), result
        except BaseException as exc:  # noqa: BLE001
            reader_errors.append(exc)

    readers = [threading.Thread(target=read_authorities_in_a_loop), threading.Thread(target=validate_in_a_loop)]
    for thread in readers:
        thread.start()
    try:
        roots = [execute_block(runtime, parent_state, block).root for _ in range(RUNS)]
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=30)
    assert reader_errors == []
    assert roots == [block.header.state_root] * RUNS
