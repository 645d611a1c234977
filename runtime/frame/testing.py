"""Testing a pallet on its own, FRAME's way: a minimal runtime, test externalities, ``assert_noop``.

A FRAME pallet's tests build a mock runtime of ``frame_system`` plus the pallet under test, with mock
implementations of whatever its ``Config`` needs from others, and run each test inside
``new_test_ext().execute_with(|| ...)``. Here:

    ext = new_test_ext(
        PalletSlot(5, balances.DEFINITION, lambda r: {"accounts": r.pallet(System), "hold_reasons": r.hold_reasons,
                                                      "freeze_reasons": r.freeze_reasons}),
        params={"Balances": {"existential_deposit": 10}},
        genesis={"Balances": BalancesGenesis(((ALICE, 100), (BOB, 200)))},
    )
    with ext:                                  # binds the runtime to the ext's state on this thread
        ext.dispatch(Origin.signed(ALICE), "Balances", "transfer_allow_death", dest=BOB, value=50)
        assert_last_event(ext, Transfer(ALICE, BOB, 50))
        assert_noop(ext, InsufficientBalance, ext.dispatch, Origin.signed(ALICE), "Balances",
                    "transfer_allow_death", dest=BOB, value=10**6)

System is always at index 0 (add it explicitly only to change its wiring). A slot's wiring may hand the
pallet any object that satisfies its ``Protocol``s: another real pallet, or a small mock class written in
the test. The ext starts with genesis built and block 1 initialized, so calls deposit events as in a block.
Nothing here imports a test framework: failures are plain ``AssertionError``s.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Callable, Mapping, TypeVar

from runtime.frame.composition import PalletSlot, RuntimeGenesis, RuntimeParams
from runtime.frame.construct import RuntimeBase
from runtime.frame.overlay import Overlay
from runtime.frame.pallet import Origin, Pallet, PostDispatchInfo
from runtime.pallets import system
from runtime.pallets.system import System
from runtime.primitives import Digest
from runtime.trie import TrieState

__all__ = ["TestRuntime", "TestExternalities", "new_test_ext", "assert_noop", "assert_last_event",
           "assert_has_event"]

P = TypeVar("P", bound=Pallet)
T = TypeVar("T")

PARENT_HASH = bytes([0x47]) * 32
"""The parent of the mock chain's current block: tests need a hash, not a real header."""


class TestRuntime(RuntimeBase):
    """A runtime of System and the pallets under test (FRAME's ``construct_runtime!`` in a ``mock.rs``)."""

    __test__ = False  # not a pytest test class
    CRATE = "test_runtime"


class TestExternalities:
    """Genesis state, an overlay of pending changes over it, and the runtime that executes on it."""

    __test__ = False

    def __init__(self, runtime: TestRuntime, genesis: TrieState) -> None:
        self.runtime = runtime
        self.genesis = genesis
        self.overlay = Overlay(genesis)
        self._bound = ExitStack()

    # --- binding --------------------------------------------------------------------------------

    def __enter__(self) -> "TestExternalities":
        self._bound.enter_context(self.runtime.executing(self.overlay))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._bound.close()

    def execute_with(self, fn: Callable[[], T]) -> T:
        """``fn()`` with the runtime bound to this ext's state (FRAME's ``execute_with``)."""
        with self:
            return fn()

    # --- reaching the runtime -------------------------------------------------------------------

    def pallet(self, cls: type[P]) -> P:
        return self.runtime.pallet(cls)

    def call(self, pallet: str, name: str, **args: Any) -> Any:
        return self.runtime.call(pallet, name, **args)

    def dispatch(self, origin: Origin, pallet: str, name: str, **args: Any) -> PostDispatchInfo | None:
        """Dispatch ``pallet.name(**args)`` as ``origin`` in its own transactional layer, as a block would;
        returns what the call said of itself once it ran (its actual weight, a waived fee), if anything."""
        return self.runtime.dispatch(self.runtime.call(pallet, name, **args), origin)

    def events(self) -> list:
        """The pallet events deposited in the current block, oldest first."""
        return [record.event for record in self.runtime.pallet(System).read_events()]

    def changes(self) -> dict:
        """Every write since genesis (events included), as ``{key: value or None}``."""
        return self.overlay.changes()


def new_test_ext(*slots: PalletSlot, params: Mapping[str, Any] | None = None,
                 genesis: Mapping[str, Any] | None = None, block_number: int = 1) -> TestExternalities:
    """A :class:`TestRuntime` of System plus ``slots``, its genesis (``genesis``: sections by pallet name),
    and block ``block_number`` initialized. ``params`` overrides pallet parameters by pallet name."""
    if not any(slot.index == 0 for slot in slots):
        slots = (PalletSlot(0, system.DEFINITION),) + slots
    definitions = [slot.definition for slot in slots]
    runtime = TestRuntime(slots, RuntimeParams(definitions, params))
    sections = RuntimeGenesis(definitions, genesis)
    overlay = Overlay(TrieState())
    with runtime.executing(overlay):
        for name, section in sections.items():
            section.build(runtime.by_name[name])
    ext = TestExternalities(runtime, TrieState().apply(overlay.changes()))
    with ext:
        runtime.pallet(System).initialize(block_number, PARENT_HASH, Digest())
    return ext


def assert_noop(ext: TestExternalities, error: type[BaseException], fn: Callable[..., Any], *args: Any,
                **kwargs: Any) -> BaseException:
    """``fn(*args, **kwargs)`` raises ``error`` and leaves every storage item (events included) as it was;
    returns the exception raised."""
    before = ext.changes()
    try:
        fn(*args, **kwargs)
    except error as raised:
        assert ext.changes() == before, f"{type(raised).__name__} was raised, but the call left writes behind"
        return raised
    raise AssertionError(f"expected {error.__name__}, but the call succeeded")


def assert_last_event(ext: TestExternalities, event: Any) -> None:
    events = ext.events()
    assert events, "no events were deposited"
    assert events[-1] == event, f"last event {events[-1]!r}, expected {event!r}"


def assert_has_event(ext: TestExternalities, event: Any) -> None:
    events = ext.events()
    assert event in events, f"{event!r} not among {events!r}"
