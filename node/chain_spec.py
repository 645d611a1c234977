"""Chain specs: a JSON document from which every node derives the same genesis block.

Presets (tier 2 of the configuration, DESIGN.md rule 7):

- ``dev``: one validator (``//Alice``), fast, for a single-node playground;
- ``local``: four validators (``//Alice`` .. ``//Dave``), so one can fail and finality continues.

Both endow ``//Alice`` .. ``//Ferdie`` and make ``//Alice`` the sudo key. The spec carries the runtime
parameters too, so the genesis hash commits to them (through the state they produce) and to the spec.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from runtime.cairn import CairnRuntime, RuntimeParams
from runtime.genesis import GenesisConfig, build_genesis
from runtime.primitives import SignatureScheme
from runtime.ss58 import ss58_decode
from runtime.executive import Block
from runtime.trie import TrieState
from runtime.keyring import DEV_ACCOUNTS, Keypair

__all__ = ["ChainSpec", "preset", "PRESETS", "TOKEN_DECIMALS", "TOKEN_SYMBOL", "InvalidChainSpec"]

TOKEN_DECIMALS = 12
TOKEN_SYMBOL = "CAIRN"
DEV_ENDOWMENT = 10**6 * 10**TOKEN_DECIMALS


class InvalidChainSpec(ValueError):
    """The chain spec file is malformed or inconsistent."""


@dataclass(frozen=True)
class Authority:
    name: str
    account: str
    """SS58 account (sr25519) that operates the validator."""
    session_key: str
    """0x-hex ed25519 public key used to author blocks and vote on finality."""


@dataclass(frozen=True)
class ChainSpec:
    name: str
    id: str
    chain_type: str
    slot_duration_ms: int
    balances: tuple[tuple[str, int], ...]
    authorities: tuple[Authority, ...]
    sudo: str | None
    runtime: RuntimeParams = RuntimeParams()
    boot_nodes: tuple[str, ...] = ()
    properties: dict = field(default_factory=lambda: {
        "ss58Format": 42, "tokenDecimals": TOKEN_DECIMALS, "tokenSymbol": TOKEN_SYMBOL,
    })

    # --- JSON -----------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "id": self.id,
            "chainType": self.chain_type,
            "bootNodes": list(self.boot_nodes),
            "properties": self.properties,
            "consensus": {"slotDurationMs": self.slot_duration_ms},
            "runtime": asdict(self.runtime),
            "genesis": {
                "balances": [[who, str(amount)] for who, amount in self.balances],
                "authorities": [asdict(a) for a in self.authorities],
                "sudo": self.sudo,
            },
        }

    @staticmethod
    def from_json(doc: dict) -> "ChainSpec":
        try:
            genesis = doc["genesis"]
            spec = ChainSpec(
                name=str(doc["name"]),
                id=str(doc["id"]),
                chain_type=str(doc.get("chainType", "Local")),
                slot_duration_ms=int(doc["consensus"]["slotDurationMs"]),
                balances=tuple((str(who), int(amount)) for who, amount in genesis["balances"]),
                authorities=tuple(Authority(**a) for a in genesis["authorities"]),
                sudo=genesis.get("sudo"),
                runtime=RuntimeParams(**doc.get("runtime", {})),
                boot_nodes=tuple(doc.get("bootNodes", ())),
                properties=dict(doc.get("properties", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidChainSpec(f"malformed chain spec: {exc!r}") from None
        spec.genesis_config()  # validates addresses and keys
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

    def genesis_config(self) -> GenesisConfig:
        try:
            balances = tuple((ss58_decode(who), amount) for who, amount in self.balances)
            keys = tuple(bytes.fromhex(a.session_key.removeprefix("0x")) for a in self.authorities)
            sudo = ss58_decode(self.sudo) if self.sudo else None
        except ValueError as exc:
            raise InvalidChainSpec(str(exc)) from None
        if any(len(k) != 32 for k in keys):
            raise InvalidChainSpec("session keys are 32-byte ed25519 public keys")
        return GenesisConfig(balances, keys, sudo)

    def build(self) -> tuple[CairnRuntime, Block, TrieState]:
        """The runtime with this spec's parameters, the genesis block and the genesis state."""
        runtime = CairnRuntime(self.runtime)
        block, state = build_genesis(runtime, self.genesis_config())
        return runtime, block, state


def _authority(name: str) -> Authority:
    account = Keypair.from_uri(f"//{name}").ss58_address()
    session = Keypair.from_uri(f"//{name}", SignatureScheme.Ed25519).public
    return Authority(name, account, "0x" + session.hex())


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
    balances = tuple((Keypair.from_uri(f"//{n}").ss58_address(), DEV_ENDOWMENT) for n in DEV_ACCOUNTS)
    return ChainSpec(
        name="Cairn Development" if name == "dev" else "Cairn Local Testnet",
        id=f"cairn_{name}",
        chain_type="Development" if name == "dev" else "Local",
        slot_duration_ms=2000,
        balances=balances,
        authorities=tuple(_authority(n) for n in names),
        sudo=Keypair.from_uri("//Alice").ss58_address(),
    )


PRESETS: dict[str, tuple[str, ...]] = {
    "dev": ("Alice",),
    "local": ("Alice", "Bob", "Charlie", "Dave"),
}
