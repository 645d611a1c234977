"""Chain specs: a JSON document from which every node derives the same genesis block.

Presets (tier 2 of the configuration, DESIGN.md rule 7):

- ``dev``: one validator (``//Alice``), fast, for a single-node playground;
- ``local``: four validators (``//Alice`` .. ``//Dave``), so one can fail and finality continues.

Both endow ``//Alice`` .. ``//Ferdie`` and make ``//Alice`` the sudo key. The spec carries the runtime
parameters too, so the genesis hash commits to them (through the state they produce) and to the spec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from runtime.cairn import DEFINITIONS, CairnRuntime, runtime_genesis, runtime_params
from runtime.executive import Block
from runtime.frame.composition import InvalidGenesis, RuntimeGenesis, RuntimeParams
from runtime.genesis import build_genesis
from runtime.keyring import DEV_ACCOUNTS, Keypair
from runtime.pallets.balances import BalancesGenesis
from runtime.pallets.sudo import SudoGenesis
from runtime.pallets.validator_set import ValidatorSetGenesis
from runtime.primitives import SignatureScheme
from runtime.trie import TrieState

__all__ = ["ChainSpec", "Authority", "preset", "PRESETS", "TOKEN_DECIMALS", "TOKEN_SYMBOL", "InvalidChainSpec",
           "validator_names"]

TOKEN_DECIMALS = 12
TOKEN_SYMBOL = "CAIRN"
DEV_ENDOWMENT = 10**6 * 10**TOKEN_DECIMALS


class InvalidChainSpec(ValueError):
    """The chain spec file is malformed or inconsistent."""


@dataclass(frozen=True)
class Authority:
    """A validator of the first authority set, as the node and the devnet name it."""

    name: str
    session_key: str
    """0x-hex ed25519 public key used to author blocks and vote on finality."""


@dataclass(frozen=True)
class ChainSpec:
    """Node-level facts (name, slot duration, boot nodes, token properties) and the runtime's own part: its
    parameters and every pallet's genesis section, each keyed by pallet, as each pallet defines them."""

    name: str
    id: str
    chain_type: str
    slot_duration_ms: int
    genesis: RuntimeGenesis
    runtime: RuntimeParams = field(default_factory=runtime_params)
    boot_nodes: tuple[str, ...] = ()
    properties: dict = field(default_factory=lambda: {
        "ss58Format": 42, "tokenDecimals": TOKEN_DECIMALS, "tokenSymbol": TOKEN_SYMBOL,
    })
    authority_names: tuple[str, ...] = ()
    """Names for the genesis authorities, in order (logs, devnet processes); not part of genesis."""

    @property
    def authorities(self) -> tuple[Authority, ...]:
        keys = self.genesis["ValidatorSet"].authorities
        names = self.authority_names or validator_names(len(keys))
        return tuple(Authority(name, "0x" + key.hex()) for name, key in zip(names, keys))

    # --- JSON -----------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "id": self.id,
            "chainType": self.chain_type,
            "bootNodes": list(self.boot_nodes),
            "properties": self.properties,
            "consensus": {"slotDurationMs": self.slot_duration_ms},
            "authorityNames": list(self.authority_names),
            "runtime": self.runtime.to_json(),
            "genesis": self.genesis.to_json(),
        }

    @staticmethod
    def from_json(doc: dict) -> "ChainSpec":
        try:
            spec = ChainSpec(
                name=str(doc["name"]),
                id=str(doc["id"]),
                chain_type=str(doc.get("chainType", "Local")),
                slot_duration_ms=int(doc["consensus"]["slotDurationMs"]),
                genesis=RuntimeGenesis.from_json(DEFINITIONS, doc["genesis"]),
                runtime=RuntimeParams.from_json(DEFINITIONS, doc.get("runtime", {})),
                boot_nodes=tuple(str(b) for b in doc.get("bootNodes", ())),
                properties=dict(doc.get("properties", {})),
                authority_names=tuple(str(n) for n in doc.get("authorityNames", ())),
            )
        except InvalidGenesis as exc:
            raise InvalidChainSpec(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidChainSpec(f"malformed chain spec: {exc!r}") from None
        if spec.authority_names and len(spec.authority_names) != len(spec.authorities):
            raise InvalidChainSpec("authorityNames must name every genesis authority")
        return spec

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @staticmethod
    def load(path: Path) -> "ChainSpec":
        try:
            return ChainSpec.from_json(json.loads(Path(path).read_text()))
        except json.JSONDecodeError as exc:
            raise InvalidChainSpec(f"{path}: not JSON: {exc}") from None

    # --- genesis --------------------------------------------------------------------------------

    def build(self) -> tuple[CairnRuntime, Block, TrieState]:
        """The runtime with this spec's parameters, the genesis block and the genesis state."""
        runtime = CairnRuntime(self.runtime)
        block, state = build_genesis(runtime, self.genesis)
        return runtime, block, state


def validator_names(count: int) -> tuple[str, ...]:
    """``Alice``, ``Bob``, ... for the first six validators, then ``Validator7``, ``Validator8``, ..."""
    if count < 1:
        raise InvalidChainSpec("a chain needs at least one validator")
    return tuple(DEV_ACCOUNTS[i] if i < len(DEV_ACCOUNTS) else f"Validator{i + 1}" for i in range(count))


def preset(name: str, *, validators: int | None = None) -> ChainSpec:
    """The ``dev`` (one validator) or ``local`` (four, or ``validators``) chain spec."""
    if name not in PRESETS:
        raise InvalidChainSpec(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    names = PRESETS[name] if validators is None else validator_names(validators)
    genesis = runtime_genesis({
        "Balances": BalancesGenesis(tuple((Keypair.from_uri(f"//{n}").public, DEV_ENDOWMENT) for n in DEV_ACCOUNTS)),
        "ValidatorSet": ValidatorSetGenesis(tuple(
            Keypair.from_uri(f"//{n}", SignatureScheme.Ed25519).public for n in names)),
        "Sudo": SudoGenesis(Keypair.from_uri("//Alice").public),
    })
    return ChainSpec(
        name="Cairn Development" if name == "dev" else "Cairn Local Testnet",
        id=f"cairn_{name}",
        chain_type="Development" if name == "dev" else "Local",
        slot_duration_ms=2000,
        genesis=genesis,
        runtime=runtime_params(PRESET_PARAMS.get(name)),
        authority_names=names,
    )


DEVNET_DATA_AVAILABILITY = {"attestation_deadline": 10, "retention_period": 300, "audit_period": 5,
                            "audit_deadline": 10}
"""DA timings a test or a demo can wait through: a blob is judged within 20 s and pruned after 10 minutes, an
audit round every 10 s. Custody keeps the preset's eight draws per column, as a real network's: on the
devnet's 4 equal DA nodes each keeps ~90 % of a blob's columns (~230 KB of cells)."""

DEVNET_FILE_BANK = {"audit_period": 10, "proof_deadline": 8, "confirm_deadline": 45, "repair_deadline": 30}
"""Storage timings a test or a demo can wait through: an audit round every 20 s, 16 s to answer (a node waits
for the challenge's block to be final), 90 s to push and confirm a fragment (a 4 GiB upload's last segments
included) before it goes elsewhere, 60 s for a repair before another node is asked."""

DEVNET_COMPUTE = {
    "ComputeProviders": {"heartbeat_timeout": 15},
    "ComputeJobs": {"commit_period": 60, "reveal_period": 10},
    "FederatedLearning": {"aggregation_deadline": 150},
}
"""Compute timings a test or a demo can wait through: a provider silent for 30 s loses its assignments (the
worker heartbeats every ~10 s), 2 min to fetch, run and commit a small job before a no-show is replaced,
20 s to reveal, 5 min for a federated round's aggregation."""

PRESET_PARAMS: dict[str, dict[str, dict[str, int]]] = {
    "dev": {"DataAvailability": DEVNET_DATA_AVAILABILITY, "FileBank": DEVNET_FILE_BANK, **DEVNET_COMPUTE},
    "local": {"System": {"max_block_ref_time": 6 * 10**11}, "DataAvailability": DEVNET_DATA_AVAILABILITY,
              "FileBank": DEVNET_FILE_BANK, **DEVNET_COMPUTE},
}
"""Parameters a preset sets apart from the pallets' defaults. ``local`` runs all its validators on one machine,
so every block is executed by each of them on cores they share: a block may hold 0.6 s of reference execution
(~3,200 transfers at 140 µs, the weight a transfer has) instead of the default 1 s, so that under overload a
full block is still imported by the others within its slot. Measured on 2 cores with
``benchmarks/chain_throughput.py``: at 0.4 s, offered 1,425/s, 718/s finalized against 387/s at 1 s (full
blocks that the others could not import in a slot alternated with empty ones). Once the validators had become
faster (their garbage collector settled, ``node.gc_policy``), 0.4 s was the ceiling itself: blocks of exactly
2,142 transfers, 1,071/s, in every probe at or past the sweep's capacity. At 0.6 s the cores are the limit
again: the 2× overload run finalized 1,465/s (RESULTS.md, chain throughput sweep of 2026-12-04T19:23)."""

PRESETS: dict[str, tuple[str, ...]] = {
    "dev": ("Alice",),
    "local": ("Alice", "Bob", "Charlie", "Dave"),
}
