"""Helpers for the core pallets' tests: a mock runtime (System, ValidatorSet, Balances, Sudo) over a tiny
genesis, balance shortcuts, and a few shortcuts for tests that go through real blocks.

``new_test_ext()`` is the counterpart of a FRAME mock's ``new_test_ext()`` (``runtime.frame.testing``): ALICE
100, BOB 200, CHARLIE 300, ED 10, ALICE the sudo key, one authority; block 1 begun.

    with new_test_ext() as ext:
        dispatch(ext, Origin.signed(ALICE), "Balances", "transfer_allow_death", dest=BOB, value=50)
        assert_last_event(ext, Transfer(ALICE, BOB, 50))
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import Any, Iterator

from devnet.local_chain import LocalChain
from node.chain_spec import preset
from runtime.cairn import CairnRuntime, runtime_params
from runtime.frame.composition import PalletSlot
from runtime.frame.overlay import Overlay
from runtime.frame.pallet import Origin
from runtime.frame.testing import TestExternalities, assert_last_event, assert_noop
from runtime.frame.testing import new_test_ext as new_pallet_ext
from runtime.pallets import balances, sudo, validator_set
from runtime.pallets.balances import Balances, BalancesGenesis
from runtime.pallets.sudo import SudoGenesis
from runtime.pallets.system import System
from runtime.pallets.validator_set import ValidatorSetGenesis

__all__ = [
    "ALICE", "BOB", "CHARLIE", "DAVE", "EVE", "ED", "AUTHORITY", "new_test_ext", "dispatch", "assert_noop",
    "assert_last_event", "assert_issuance_is_sum_of_balances", "free", "reserved", "issuance", "account",
    "exists", "new_chain", "at", "events_at",
]

ALICE, BOB, CHARLIE, DAVE, EVE = (bytes([i]) * 32 for i in range(1, 6))
"""Mock accounts (FRAME mocks use ``1u64``, ``2u64``, ...)."""

ED = 10
"""The mock's existential deposit: small numbers keep the arithmetic in tests readable."""

AUTHORITY = bytes([0xAA]) * 32

MOCK_RUNTIME = (
    PalletSlot(2, validator_set.DEFINITION, lambda r: {"header_logs": r.pallet(System)}),
    PalletSlot(5, balances.DEFINITION, lambda r: {
        "accounts": r.pallet(System), "hold_reasons": r.hold_reasons, "freeze_reasons": r.freeze_reasons}),
    PalletSlot(7, sudo.DEFINITION, lambda r: {"dispatcher": r}),
)
"""The core pallets' mock runtime (System is added by ``new_pallet_ext``); the indices are Cairn's, so
module errors read the same as on the real chain."""


def new_test_ext(balances: tuple[tuple[bytes, int], ...] = ((ALICE, 100), (BOB, 200), (CHARLIE, 300)),
                 *, sudo: bytes | None = ALICE, existential_deposit: int = ED,
                 max_validators: int = 100) -> TestExternalities:
    """Genesis with ``balances``, ``sudo`` and one authority; block 1 begun. Use it in a ``with``."""
    return new_pallet_ext(
        *MOCK_RUNTIME,
        params={"Balances": {"existential_deposit": existential_deposit},
                "ValidatorSet": {"max_validators": max_validators}},
        genesis={"Balances": BalancesGenesis(balances), "Sudo": SudoGenesis(sudo),
                 "ValidatorSet": ValidatorSetGenesis((AUTHORITY,))},
    )


def dispatch(ext: TestExternalities, origin: Origin, pallet: str, name: str, **args: Any) -> None:
    ext.dispatch(origin, pallet, name, **args)


def free(ext: TestExternalities, who: bytes) -> int:
    return ext.pallet(Balances).free_balance(who)


def reserved(ext: TestExternalities, who: bytes) -> int:
    return ext.pallet(Balances).reserved_balance(who)


def issuance(ext: TestExternalities) -> int:
    return ext.pallet(Balances).total_issuance.get()


def account(ext: TestExternalities, who: bytes):
    return ext.pallet(System).get_account(who)


def exists(ext: TestExternalities, who: bytes) -> bool:
    return ext.pallet(System).account.contains(who)


def assert_issuance_is_sum_of_balances(ext: TestExternalities) -> None:
    accounts = dict(ext.pallet(System).account.items())
    assert issuance(ext) == sum(a.data.free + a.data.reserved for a in accounts.values())


# --- real blocks ----------------------------------------------------------------------------------


def new_chain(preset_name: str = "dev", **params: dict[str, int]) -> LocalChain:
    """A ``LocalChain`` from a preset with some pallets' parameters changed:
    ``new_chain(ValidatorSet={"session_length": 3})``."""
    spec = preset(preset_name)
    if params:
        spec = dataclasses.replace(spec, runtime=runtime_params().replace(**params))
    return LocalChain(spec)


@contextmanager
def at(chain: LocalChain, block_hash: bytes | None = None) -> Iterator[CairnRuntime]:
    """``with at(chain) as runtime:`` reads the state of a block (default: the best one). Writes go to a
    throwaway overlay."""
    with chain.runtime.executing(Overlay(chain.states[block_hash or chain.best_hash])):
        yield chain.runtime


def events_at(chain: LocalChain, block_hash: bytes | None = None) -> list:
    """The pallet events of a block (best by default), oldest first."""
    with at(chain, block_hash) as runtime:
        return [record.event for record in runtime.system.read_events()]
