"""FRAME-style test helpers: a test externality over a genesis state, ``assert_noop``, ``assert_last_event``,
and a few shortcuts for tests that go through real blocks.

``new_test_ext()`` is the counterpart of a FRAME mock's ``new_test_ext()``: a fresh runtime built from a
small genesis, bound to an :class:`Overlay` over the genesis state, with block 1 initialized so events are
recorded. Each ext owns its runtime instance, so binding it for the ext's whole life is safe.

    ext = new_test_ext()
    dispatch(ext, Origin.signed(ALICE), "Balances", "transfer_allow_death", dest=BOB, value=50)
    assert_last_event(ext, Transfer(ALICE, BOB, 50))
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from node.chain_spec import preset
from devnet.local_chain import LocalChain
from runtime.cairn import CairnRuntime, RuntimeParams
from runtime.executive import Block
from runtime.frame.overlay import Overlay
from runtime.frame.pallet import Origin
from runtime.genesis import GenesisConfig, build_genesis
from runtime.primitives import Digest
from runtime.trie import TrieState

__all__ = [
    "ALICE", "BOB", "CHARLIE", "DAVE", "EVE", "ED", "TestExt", "new_test_ext", "dispatch", "assert_noop",
    "assert_last_event", "assert_issuance_is_sum_of_balances", "new_chain", "at", "events_at",
]

ALICE, BOB, CHARLIE, DAVE, EVE = (bytes([i]) * 32 for i in range(1, 6))
"""Mock accounts (FRAME mocks use ``1u64``, ``2u64``, ...)."""

ED = 10
"""The mock's existential deposit: small numbers keep the arithmetic in tests readable."""

AUTHORITY = bytes([0xAA]) * 32


@dataclass
class TestExt:
    """A runtime executing against ``overlay`` (pending changes over ``genesis``)."""

    __test__ = False  # not a pytest test class

    runtime: CairnRuntime
    overlay: Overlay
    genesis: TrieState
    genesis_block: Block

    @property
    def system(self):
        return self.runtime.system

    @property
    def balances(self):
        return self.runtime.balances

    def account(self, who: bytes):
        return self.runtime.system.get_account(who)

    def free(self, who: bytes) -> int:
        return self.runtime.balances.free_balance(who)

    def reserved(self, who: bytes) -> int:
        return self.runtime.balances.reserved_balance(who)

    def issuance(self) -> int:
        return self.runtime.balances.total_issuance.get()

    def events(self) -> list:
        """The pallet events deposited in the current block, oldest first."""
        return [record.event for record in self.runtime.system.read_events()]

    def exists(self, who: bytes) -> bool:
        return self.runtime.system.account.contains(who)


def new_test_ext(balances: tuple[tuple[bytes, int], ...] = ((ALICE, 100), (BOB, 200), (CHARLIE, 300)),
                 *, sudo: bytes | None = ALICE, **params: Any) -> TestExt:
    """Genesis with ``balances`` (ED = 10 unless ``existential_deposit`` is given), then block 1 begun."""
    params.setdefault("existential_deposit", ED)
    runtime = CairnRuntime(RuntimeParams(**params))
    block, state = build_genesis(runtime, GenesisConfig(balances, (AUTHORITY,), sudo))
    overlay = Overlay(state)
    runtime.env.overlay = overlay
    runtime.system.initialize(1, block.hash, Digest())
    return TestExt(runtime, overlay, state, block)


def dispatch(ext: TestExt, origin: Origin, pallet: str, name: str, **args: Any) -> None:
    """Dispatch ``pallet.name(**args)`` as ``origin`` in its own transactional layer, as a block would."""
    ext.runtime.dispatch(ext.runtime.call(pallet, name, **args), origin)


def assert_noop(ext: TestExt, error: type[BaseException], fn: Callable[..., Any], *args: Any, **kwargs: Any):
    """``fn(*args, **kwargs)`` raises ``error`` and leaves every storage item (events included) as it was."""
    before = ext.overlay.changes()
    with pytest.raises(error) as info:
        fn(*args, **kwargs)
    assert ext.overlay.changes() == before, "a failed call left writes behind"
    return info.value


def assert_last_event(ext: TestExt, event: Any) -> None:
    events = ext.events()
    assert events, "no events were deposited"
    assert events[-1] == event


def assert_issuance_is_sum_of_balances(ext: TestExt) -> None:
    accounts = dict(ext.runtime.system.account.items())
    assert ext.issuance() == sum(a.data.free + a.data.reserved for a in accounts.values())


# --- real blocks ----------------------------------------------------------------------------------


def new_chain(preset_name: str = "dev", **params: Any) -> LocalChain:
    """A ``LocalChain`` from the ``dev`` preset with some runtime parameters changed."""
    spec = preset(preset_name)
    if params:
        spec = dataclasses.replace(spec, runtime=RuntimeParams(**params))
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
