"""ValidatorSet: the authorities that author blocks (Aura) and vote on finality, by session.

Time is cut into sessions of ``session_length`` blocks. Root queues a new set with ``set_validators``; it
takes effect at the first block of the next session, so every node switches at the same block, and a
finality round never straddles two sets. Authorities are ed25519 session keys (32 bytes).

The block that enacts a new set says so in its header, in the two logs Substrate light clients follow:
Aura's ``Consensus(b"aura", AuthoritiesChange(set))`` and GRANDPA's ``Consensus(b"FRNK",
ScheduledChange { next_authorities: set with weight 1 each, delay: 0 })``. With delay 0 the block itself is
still finalized by the old set and its descendants by the new one, which is how the node counts votes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Protocol

from runtime.frame.composition import InvalidGenesis, PalletDefinition
from runtime.frame.pallet import Constant, DispatchError, Origin, Pallet, call, ensure_root
from runtime.frame.storage import StorageValue
from runtime.primitives import DigestItemKind, DispatchClass, Weight
from runtime.scale import U32, U64, FixedBytes, Tuple, Vec
from runtime.weights import READ, US, WRITE

__all__ = ["ValidatorSet", "ValidatorSetConfig", "ValidatorSetParams", "ValidatorSetGenesis", "DEFINITION", "AUTHORITY_ID", "set_change_logs", "AURA_ENGINE_ID", "GRANDPA_ENGINE_ID"]

AUTHORITY_ID = FixedBytes(32, ("sp_consensus_aura", "ed25519", "app_ed25519", "Public"))
AUTHORITY_LIST = Vec(AUTHORITY_ID)
Authorities = Annotated[tuple, AUTHORITY_LIST, "Vec<AuthorityId>"]


class ValidatorSetWeightInfo(Protocol):
    def set_validators(self, count: int) -> Weight: ...
    def rotate(self, count: int) -> Weight: ...


class HeaderLogs(Protocol):
    def deposit_log(self, item: object) -> None: ...


class ValidatorSetWeights:
    def set_validators(self, count: int) -> Weight:
        return Weight(20 * US + WRITE + count * US, 32 * count)

    def rotate(self, count: int) -> Weight:
        return Weight(20 * US + 2 * READ + 2 * WRITE + count * US, 32 * count)


@dataclass(frozen=True)
class ValidatorSetParams:
    session_length: int = 50
    """Blocks per session (100 s at 2 s slots): a queued set takes over within two minutes."""
    max_validators: int = 100
    """Finality votes grow with the set; 100 keeps a commit under 10 KiB."""


@dataclass(frozen=True)
class ValidatorSetGenesis:
    """The first authority set: ed25519 session keys in Aura slot order."""

    authorities: tuple[bytes, ...] = ()

    def to_json(self) -> dict:
        return {"authorities": ["0x" + key.hex() for key in self.authorities]}

    @classmethod
    def from_json(cls, doc: dict) -> "ValidatorSetGenesis":
        keys = tuple(bytes.fromhex(str(key).removeprefix("0x")) for key in doc["authorities"])
        if any(len(key) != 32 for key in keys):
            raise InvalidGenesis("validatorSet.authorities: session keys are 32-byte ed25519 public keys")
        return cls(keys)

    def build(self, pallet: "ValidatorSet") -> None:
        pallet.set_genesis(self.authorities)


@dataclass(frozen=True)
class ValidatorSetConfig:
    weights: ValidatorSetWeightInfo
    session_length: int
    max_validators: int
    header_logs: HeaderLogs
    """Where the set-change logs go (System's digest)."""


AURA_ENGINE_ID = b"aura"
GRANDPA_ENGINE_ID = b"FRNK"
_AURA_AUTHORITIES_CHANGE = 1
"""``sp_consensus_aura::ConsensusLog::AuthoritiesChange`` (codec index 1)."""
_GRANDPA_SCHEDULED_CHANGE = 1
"""``sp_consensus_grandpa::ConsensusLog::ScheduledChange`` (codec index 1)."""
_WEIGHTED_AUTHORITIES = Vec(Tuple(AUTHORITY_ID, U64))


def set_change_logs(validators: tuple[bytes, ...]) -> tuple[DigestItemKind.Consensus, ...]:
    """The digest logs of the block that enacts ``validators``."""
    aura = bytes((_AURA_AUTHORITIES_CHANGE,)) + AUTHORITY_LIST.encode(validators)
    grandpa = (bytes((_GRANDPA_SCHEDULED_CHANGE,)) + _WEIGHTED_AUTHORITIES.encode([(v, 1) for v in validators])
               + U32.encode(0))
    return DigestItemKind.Consensus(AURA_ENGINE_ID, aura), DigestItemKind.Consensus(GRANDPA_ENGINE_ID, grandpa)


@dataclass(frozen=True)
class NewValidatorsQueued:
    """A new validator set was queued; it takes effect at the start of the next session."""

    validators: Authorities


@dataclass(frozen=True)
class NewSession:
    """A new session started with this validator set."""

    session_index: Annotated[int, U32, "SessionIndex"]
    validators: Authorities


class EmptyValidatorSet(DispatchError):
    """A validator set must have at least one member."""


class DuplicateValidator(DispatchError):
    """The same key appears twice in the validator set."""


class TooManyValidators(DispatchError):
    """More validators than `MaxValidators`."""


class ValidatorSet(Pallet[ValidatorSetConfig]):
    NAME = "ValidatorSet"
    CRATE = "pallet_cairn_validator_set"
    EVENTS = (NewValidatorsQueued, NewSession)
    ERRORS = (EmptyValidatorSet, DuplicateValidator, TooManyValidators)
    CONSTANTS = (
        Constant("SessionLength", U32, lambda c: c.session_length, "Blocks per session."),
        Constant("MaxValidators", U32, lambda c: c.max_validators, "The largest validator set."),
    )

    validators = StorageValue(AUTHORITY_LIST, default=(), docs="The current authorities, in Aura slot order.")
    queued_validators = StorageValue(AUTHORITY_LIST, docs="The set that takes over at the next session, if any.")
    current_session = StorageValue(U32, default=0, docs="Index of the current session.")

    @call(0, weight=lambda w, validators: w.set_validators(len(validators)), dispatch_class=DispatchClass.Operational)
    def set_validators(self, origin: Origin, validators: Authorities) -> None:
        """Queue ``validators`` to become the authorities at the start of the next session (root only)."""
        ensure_root(origin)
        self._check(validators)
        self.queued_validators.put(tuple(validators))
        self.deposit_event(NewValidatorsQueued(tuple(validators)))

    def _check(self, validators: tuple) -> None:
        if not validators:
            raise EmptyValidatorSet()
        if len(set(validators)) != len(validators):
            raise DuplicateValidator()
        if len(validators) > self.config.max_validators:
            raise TooManyValidators()

    def on_initialize(self, n: int) -> Weight:
        if n == 0 or n % self.config.session_length != 0:
            return Weight.ZERO  # type: ignore[attr-defined]
        session = self.current_session.get() + 1
        self.current_session.put(session)
        queued = self.queued_validators.take()
        if queued is not None:
            self.validators.put(queued)
            for log in set_change_logs(queued):
                self.config.header_logs.deposit_log(log)
        self.deposit_event(NewSession(session, self.validators.get()))
        return self.config.weights.rotate(len(self.validators.get()))

    def authorities(self) -> tuple:
        return self.validators.get()

    def set_genesis(self, validators: tuple) -> None:
        self._check(validators)
        self.validators.put(tuple(validators))

    def integrity_test(self) -> None:
        assert self.config.session_length > 0, "a session lasts at least one block"
        assert self.config.max_validators > 0


DEFINITION = PalletDefinition(pallet=ValidatorSet, config=ValidatorSetConfig, weights=ValidatorSetWeights(),
                              params=ValidatorSetParams, genesis=ValidatorSetGenesis)
