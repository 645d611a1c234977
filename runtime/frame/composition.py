"""Runtime composition: what a pallet brings, and the one list that puts every pallet at its index.

A pallet's package exports one :class:`PalletDefinition` beside the pallet class. It carries everything the
core needs to know of the pallet, so adding a pallet (a core one, or one from a layer package such as
``storage_node``) touches the runtime's composition list and nothing else:

- ``params``: its preset-level parameters (DESIGN.md rule 7), a frozen dataclass of integers with defaults,
  each with a comment saying why that value; a chain spec may override them, and genesis commits to them;
- ``genesis``: its section of the chain spec's genesis (JSON in, JSON out, validated) and how that section
  writes the initial state;
- ``build_config``: how its ``Config`` is made from its parameters and what the composition wires to it
  (other pallets behind the ``Protocol``\\s the pallet declares: pallets never import each other, rule 2),
  with its own weights;
- ``apis``: the runtime API methods it answers (``state_call`` names, e.g. ``AccountNonceApi_account_nonce``),
  advertised in the runtime version;
- ``rpc``: JSON-RPC methods it adds (e.g. ``storage_fileInfo``): pure reads of a block's state, which the node
  serves on its RPC port with the same limits and policy as its own methods (:class:`RpcMethod`).

The composition list is a sequence of :class:`PalletSlot` (index, definition, wiring). The index is wire
format: the first byte of every call and event of the pallet.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

from runtime.frame.pallet import Pallet
from runtime.scale import STR, U128, ScaleDecodeError, Tuple, Vec

if TYPE_CHECKING:
    from runtime.trie import TrieState

__all__ = [
    "PalletDefinition",
    "PalletSlot",
    "GenesisSection",
    "RuntimeApiMethod",
    "RpcMethod",
    "RuntimeParams",
    "RuntimeGenesis",
    "InvalidGenesis",
    "NoParams",
    "camel_case",
]


class InvalidGenesis(ValueError):
    """A genesis section or parameter set is malformed; the message names the pallet and the field."""


@dataclass(frozen=True)
class NoParams:
    """For a pallet without preset-level parameters."""


class GenesisSection(Protocol):
    """A pallet's part of the genesis config (a frozen dataclass; its default is the empty genesis)."""

    def to_json(self) -> dict: ...

    @classmethod
    def from_json(cls, doc: dict) -> "GenesisSection":
        """Parse and validate; raises :class:`InvalidGenesis` (or ``ValueError``) naming what is wrong."""

    def build(self, pallet: Any) -> None:
        """Write this section into the genesis state through the pallet (the runtime is executing)."""


RuntimeApiMethod = Callable[[Any, bytes, "TrieState", bytes], bytes]
"""``(runtime, SCALE params, state of the block, block hash) -> SCALE result``; the runtime is not bound:
the method binds it to its own overlay of ``state`` (see ``runtime.apis``)."""


@dataclass(frozen=True)
class RpcMethod:
    """A JSON-RPC method a pallet adds (``storage_fileInfo``, ...): a pure read of one block's state.

    Called as ``[param, ..., at?]``: the declared ``params`` by position (or by name), then optionally the
    hash of the block to read (default: the best block), as Substrate's ``state_*`` methods take theirs.
    ``handler(runtime, args)`` runs with the runtime bound to that block's state (writes go nowhere) and
    ``args`` holding one value per declared param (``None`` where absent); it bounds and checks its own
    arguments, raises ``ValueError`` for invalid ones (the node answers -32602 with its message), and returns
    a JSON value. The node runs it in a worker thread on an immutable snapshot, under the RPC server's
    request-size and rate limits; ``unsafe`` methods answer only where the node's policy allows."""

    name: str
    handler: Callable[[Any, list], Any]
    params: tuple[str, ...] = ()
    unsafe: bool = False


def _default_config(config_type: type, params: Any, weights: Any, wired: Mapping[str, Any]) -> Any:
    given_weights = {"weights": weights} if weights is not None else {}
    return config_type(**given_weights, **wired, **dataclasses.asdict(params))


@dataclass(frozen=True)
class PalletDefinition:
    """Everything the core needs to know of a pallet (see the module docstring)."""

    pallet: type[Pallet]
    config: type
    """The pallet's ``Config`` dataclass."""
    weights: Any
    """Its ``WeightInfo`` implementation (measured: see ``runtime.weights``); ``None`` for a pallet without
    calls, or one whose ``build_config`` makes its own."""
    params: type = NoParams
    genesis: type | None = None
    apis: Mapping[str, tuple[int, Mapping[str, RuntimeApiMethod]]] = field(default_factory=dict)
    """``{api name: (version, {method name: handler})}``, e.g. ``{"AccountNonceApi": (1, {...})}``."""
    rpc: tuple[RpcMethod, ...] = ()
    build_config: Callable[[type, Any, Any, Mapping[str, Any]], Any] = _default_config
    """``(config type, params, weights, wired) -> Config``. The default passes the params' fields, the
    weights and the wired dependencies as keyword arguments; a pallet whose config derives values from its
    parameters gives its own."""

    @property
    def name(self) -> str:
        return self.pallet.NAME


Wiring = Callable[[Any], Mapping[str, Any]]
"""``runtime -> {Config field: dependency}``: what the composition plugs into a pallet's ``Config``. It is
called in composition order, so it may use pallets placed earlier in the list (and the runtime itself)."""


@dataclass(frozen=True)
class PalletSlot:
    """One line of a runtime's composition list."""

    index: int
    definition: PalletDefinition
    wiring: Wiring = lambda runtime: {}


def camel_case(name: str) -> str:
    """``ValidatorSet`` -> ``validatorSet``: how a pallet's genesis section is keyed in a chain spec, as
    Substrate's ``RuntimeGenesisConfig`` JSON keys them."""
    return name[:1].lower() + name[1:]


_PARAMS_CODEC = Vec(Tuple(STR, U128))


class RuntimeParams:
    """The parameters of every pallet of a composition, by pallet name (each a pallet's ``params`` value).

    Genesis stores :meth:`encode` at a well-known key, so the genesis hash commits to the parameters (as a
    Substrate genesis commits to its runtime through ``:code``) and two chains that differ in any never
    share one."""

    def __init__(self, definitions: Sequence[PalletDefinition], overrides: Mapping[str, Any] | None = None) -> None:
        """``overrides``: ``{pallet name: params value or {field: int}}``; the rest take their defaults."""
        self._definitions = {d.name: d for d in definitions}
        overrides = dict(overrides or {})
        _refuse_unknown(overrides, self._definitions, "parameters for unknown pallets")
        self._values: dict[str, Any] = {}
        for name, definition in self._definitions.items():
            given = overrides.get(name)
            if given is None:
                self._values[name] = definition.params()
            elif isinstance(given, definition.params):
                self._values[name] = given
            else:
                self._values[name] = _params_from_dict(definition, given)

    def __getitem__(self, pallet: str) -> Any:
        return self._values[pallet]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RuntimeParams) and other._values == self._values

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __repr__(self) -> str:
        return f"RuntimeParams({self._values!r})"

    def replace(self, **changes: Mapping[str, int]) -> "RuntimeParams":
        """A copy with some fields changed: ``params.replace(Balances={"existential_deposit": 1})``."""
        values = dict(self._values)
        _refuse_unknown(changes, values, "parameters for unknown pallets")
        for pallet, fields in changes.items():
            merged = {**dataclasses.asdict(values[pallet]), **fields}
            values[pallet] = _params_from_dict(self._definitions[pallet], merged)
        return RuntimeParams(list(self._definitions.values()), values)

    def to_json(self) -> dict:
        """``{pallet name: {field: int}}`` for every pallet that has parameters."""
        return {name: dataclasses.asdict(value) for name, value in self._values.items()
                if dataclasses.fields(value)}

    @classmethod
    def from_json(cls, definitions: Sequence[PalletDefinition], doc: Any) -> "RuntimeParams":
        if not isinstance(doc, dict):
            raise InvalidGenesis("runtime parameters must be an object keyed by pallet name")
        return cls(definitions, doc)

    def encode(self) -> bytes:
        """``Vec<(String, u128)>`` of every parameter as ``"Pallet.field"``, sorted."""
        return _PARAMS_CODEC.encode(sorted((f"{name}.{key}", value) for name, fields in self.to_json().items()
                                           for key, value in fields.items()))

    @classmethod
    def decode(cls, definitions: Sequence[PalletDefinition], data: bytes) -> "RuntimeParams":
        """The inverse of :meth:`encode`, for a client reading a chain's parameters back from its genesis
        state; raises :class:`InvalidGenesis` for bytes that are not parameters of these pallets."""
        try:
            pairs = _PARAMS_CODEC.decode(data)
        except ScaleDecodeError as exc:
            raise InvalidGenesis(f"runtime parameters do not decode: {exc}") from None
        doc: dict[str, dict[str, int]] = {}
        for name, value in pairs:
            pallet, _, key = name.partition(".")
            doc.setdefault(pallet, {})[key] = value
        return cls(definitions, doc)


def _refuse_unknown(given: Mapping[str, Any], known: Mapping[str, Any], what: str) -> None:
    """Raise :class:`InvalidGenesis` naming every key of ``given`` that ``known`` lacks."""
    unknown = set(given) - set(known)
    if unknown:
        raise InvalidGenesis(f"{what}: {', '.join(sorted(unknown))}")


def _params_from_dict(definition: PalletDefinition, doc: Any) -> Any:
    if not isinstance(doc, dict):
        raise InvalidGenesis(f"{definition.name} parameters must be an object")
    _refuse_unknown(doc, {f.name: f for f in dataclasses.fields(definition.params)},
                    f"{definition.name}: unknown parameters")
    for key, value in doc.items():
        if type(value) is not int or value < 0:  # (bool is not an int here)
            raise InvalidGenesis(f"{definition.name}.{key} must be a non-negative integer, not {value!r}")
    return definition.params(**doc)


class RuntimeGenesis:
    """The genesis config of every pallet of a composition that has one, by pallet name."""

    def __init__(self, definitions: Sequence[PalletDefinition], sections: Mapping[str, Any] | None = None) -> None:
        self._definitions = {d.name: d for d in definitions if d.genesis is not None}
        sections = dict(sections or {})
        _refuse_unknown(sections, self._definitions, "genesis sections for pallets without one")
        self._sections = {name: sections.get(name) or d.genesis() for name, d in self._definitions.items()}  # type: ignore[misc]

    def __getitem__(self, pallet: str) -> Any:
        return self._sections[pallet]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RuntimeGenesis) and other._sections == self._sections

    def __hash__(self) -> int:
        return hash(tuple(self._sections.items()))

    def items(self) -> list[tuple[str, Any]]:
        return list(self._sections.items())

    def replace(self, **sections: Any) -> "RuntimeGenesis":
        """A copy with some pallets' sections replaced: ``genesis.replace(Balances=BalancesGenesis(...))``."""
        return RuntimeGenesis(list(self._definitions.values()), {**self._sections, **sections})

    def to_json(self) -> dict:
        """``{camelCase pallet name: section}``, as Substrate's chain specs key ``runtimeGenesis``."""
        return {camel_case(name): section.to_json() for name, section in self._sections.items()}

    @classmethod
    def from_json(cls, definitions: Sequence[PalletDefinition], doc: Any) -> "RuntimeGenesis":
        if not isinstance(doc, dict):
            raise InvalidGenesis("genesis must be an object keyed by pallet")
        by_key = {camel_case(d.name): d for d in definitions if d.genesis is not None}
        _refuse_unknown(doc, by_key, "genesis sections for unknown pallets")
        sections = {}
        for key, section in doc.items():
            definition = by_key[key]
            try:
                sections[definition.name] = definition.genesis.from_json(section)  # type: ignore[union-attr]
            except InvalidGenesis:
                raise
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise InvalidGenesis(f"genesis.{key}: {exc}") from None
        return cls(definitions, sections)
