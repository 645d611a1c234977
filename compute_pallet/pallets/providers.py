"""ComputeProviders: who rents out compute, what hardware and kinds at what prices, their stake and liveness.

A provider registers its hardware (CPU cores, memory, a GPU or none), the job kinds it runs with a price per
job for each, an HTTP endpoint and a stake (held as ``ProviderStake``, at least ``min_stake``). A provider slashed
below ``min_stake`` takes no new assignments until it tops its stake up (``add_stake``). It proves it
is alive with ``heartbeat``; one whose last heartbeat is more than ``heartbeat_timeout`` blocks old is
*stale*: ``on_initialize`` notices it in the block after its timeout and queues it, and ``ComputeJobs``
drains that queue in the same block and treats each unsettled assignment of it as a no-show (slashed,
replaced). A stale provider takes no new assignments until it heartbeats again.

``ComputeJobs`` reaches this pallet through its ``ProviderRegistry`` protocol (house rule 2): it reads the
eligible providers, counts assignments in and out, and reports verdicts here, which keep each provider's
reputation (jobs verified, disputes lost, no-shows) and slash its stake, burning what is slashed.

A provider's verified history (jobs verified, disputes lost, no-shows) outlives its registration: kept in
``PastRecords`` when it leaves and restored when the account registers again, so leaving and coming back does
not wash a bad record into a new provider's best reputation (three counters per account that ever provided,
kept for good).

A provider leaves with ``deregister``. One holding unsettled job slots *drains*: it is marked ``leaving``, takes
no new slot, and is deregistered, its stake released, when the last one settles (paid, slashed, or ended
unjudged). It must keep running until then: a slot it walks away from is a no-show like any other. Until
then ``stay`` takes the leave back: it takes new slots again.

``on_initialize`` is bounded: it looks at most at ``max_checks_per_block`` heartbeat deadlines per block; the
rest wait a block.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Protocol

from compute_pallet.kinds import KIND_IDS
from compute_pallet.pallets.rpc import PROVIDERS_RPC
from compute_pallet.pallets.types import (
    PERBILL,
    SLASH_REASON,
    Hardware,
    JobId,
    Offer,
    ProviderHistory,
    ProviderInfo,
    SlashReason,
)
from compute_pallet.pallets.weights import ComputeProvidersWeightInfo, ComputeProvidersWeights
from runtime.frame.composition import PalletDefinition
from runtime.frame.due import DueQueue
from runtime.frame.pallet import Constant, DispatchError, Origin, Pallet, call, ensure_signed
from runtime.frame.storage import Hasher, StorageMap, StorageValue
from runtime.pallets.balances_types import HoldCurrency
from runtime.primitives import ACCOUNT_ID, AccountId, Balance, Bytes, Weight, is_http_endpoint
from runtime.scale import U32, U128, Vec

__all__ = ["ComputeProviders", "ComputeProvidersConfig", "ComputeProvidersParams", "HoldReason", "DEFINITION",
           "StakeCurrency", "ProviderRegistered", "ProviderUpdated", "ProviderDeregistered", "ProviderLeaving",
           "ProviderStays", "ProviderStale", "ProviderSlashed", "SlashReason", "AlreadyRegistered", "NotRegistered", "StakeTooLow",
           "InvalidEndpoint", "BadOffers", "BadHardware", "TooManyProviders", "AlreadyLeaving", "NotLeaving",
           "InsufficientFunds", "Offers"]


class HoldReason(enum.IntEnum):
    """Why this pallet holds balance."""

    ProviderStake = 0


class StakeCurrency(HoldCurrency, Protocol):
    """Stakes on hold, and whether an account can afford one (Balances)."""

    def can_withdraw(self, who: bytes, amount: int) -> bool: ...


@dataclass(frozen=True)
class ComputeProvidersParams:
    min_stake: int = 1_000 * 10**12
    """1,000 tokens (12 decimals): a lost dispute (10%) costs 100 tokens, far more than the price of the
    jobs a lazy or lying provider could hope to be paid for before it is caught."""
    max_endpoint_length: int = 256
    """Bytes of an endpoint URL: a host name (253 at most) with scheme and port fits."""
    max_gpu_model_length: int = 64
    """Bytes of a GPU model name (``NVIDIA H200 SXM 141GB`` is 21)."""
    max_offers: int = 16
    """Kinds one provider may offer; there are 4 today and ids are never reused."""
    max_providers: int = 1_000
    """Registered providers at most: an assignment reads every provider once, so this bounds its weight."""
    max_jobs_per_provider: int = 16
    """Unsettled job slots a provider holds at most: bounds the work a stale provider's assignments cost to
    reassign in one block, and keeps one provider from taking the whole market's jobs."""
    heartbeat_timeout: int = 30
    """Blocks (60 s at 2 s blocks) after its last heartbeat a provider is stale and loses its assignments: a
    worker heartbeats every ~10 blocks, so two lost heartbeats in a row are forgiven, a dead one is not."""
    dispute_slash: int = 100_000_000
    """Perbill of the stake slashed for a result on the losing side of a dispute: 10%, the price of lying."""
    no_show_slash: int = 20_000_000
    """Perbill of the stake slashed per assignment not committed in time: 2%, enough that taking jobs and
    walking away costs more than it could earn, little for a crash now and then. (A commitment not revealed
    costs ``dispute_slash``: see ``SlashReason.Unrevealed``.)"""
    max_checks_per_block: int = 64
    """Heartbeat deadlines looked at per block (a read each, and a queue write for a stale provider)."""


@dataclass(frozen=True)
class ComputeProvidersConfig:
    currency: StakeCurrency
    weights: ComputeProvidersWeightInfo
    min_stake: int
    max_endpoint_length: int
    max_gpu_model_length: int
    max_offers: int
    max_providers: int
    max_jobs_per_provider: int
    heartbeat_timeout: int
    dispute_slash: int
    no_show_slash: int
    max_checks_per_block: int


Offers = Annotated[tuple[Offer, ...], Vec(Offer.SCALE), "Vec<Offer>"]  # type: ignore[attr-defined]


# --- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderRegistered:
    """A provider registered and put ``stake`` on hold."""

    provider: AccountId
    hardware: Hardware
    offers: Offers
    endpoint: Bytes
    stake: Balance


@dataclass(frozen=True)
class ProviderUpdated:
    """A provider changed its hardware, offers or endpoint."""

    provider: AccountId
    hardware: Hardware
    offers: Offers
    endpoint: Bytes


@dataclass(frozen=True)
class StakeAdded:
    """A provider put ``amount`` more on hold as stake; it now holds ``stake``."""

    provider: AccountId
    amount: Balance
    stake: Balance


@dataclass(frozen=True)
class ProviderDeregistered:
    """A provider left; ``released`` of its stake went back to it."""

    provider: AccountId
    released: Balance


@dataclass(frozen=True)
class ProviderLeaving:
    """A provider asked to leave while holding ``active_jobs`` unsettled job slots: it takes no new ones and
    is deregistered when they are settled."""

    provider: AccountId
    active_jobs: Annotated[int, U32, "u32"]


@dataclass(frozen=True)
class ProviderStays:
    """A leaving provider took its leave back: it takes new job slots again."""

    provider: AccountId


@dataclass(frozen=True)
class ProviderStale:
    """A provider missed its heartbeats: its unsettled assignments go to others."""

    provider: AccountId


@dataclass(frozen=True)
class ProviderSlashed:
    """``amount`` of a provider's stake was burned over job ``job_id``."""

    provider: AccountId
    job_id: JobId
    amount: Balance
    reason: Annotated[SlashReason, SLASH_REASON, "SlashReason"]


# --- errors ---------------------------------------------------------------------------------------


class AlreadyRegistered(DispatchError):
    """This account is already a provider."""


class NotRegistered(DispatchError):
    """This account is not a provider."""


class StakeTooLow(DispatchError):
    """The stake is below ``MinStake``."""


class InvalidEndpoint(DispatchError):
    """The endpoint is no ``http(s)://`` URL of printable ASCII, or longer than ``MaxEndpointLength`` bytes."""


class BadOffers(DispatchError):
    """Offers name no kind, an unknown kind, a kind twice, or more than ``MaxOffers``."""


class BadHardware(DispatchError):
    """Hardware with no CPU core or memory, or a GPU without memory or with a model name too long or not
    printable ASCII."""


class TooManyProviders(DispatchError):
    """``MaxProviders`` providers are registered already."""


class AlreadyLeaving(DispatchError):
    """The provider is leaving already: it is deregistered once its last job slot is settled."""


class NotLeaving(DispatchError):
    """The provider is not leaving: there is no leave to take back."""


class InsufficientFunds(DispatchError):
    """The account cannot put the stake on hold."""


class NoStake(DispatchError):
    """A stake top-up of nothing."""


class ComputeProviders(Pallet[ComputeProvidersConfig]):
    NAME = "ComputeProviders"
    CRATE = "pallet_compute_providers"
    HOLD_REASONS = HoldReason
    EVENTS = (ProviderRegistered, ProviderUpdated, ProviderDeregistered, ProviderStale, ProviderSlashed, StakeAdded,
              ProviderLeaving, ProviderStays)
    ERRORS = (AlreadyRegistered, NotRegistered, StakeTooLow, InvalidEndpoint, BadOffers, BadHardware,
              TooManyProviders, AlreadyLeaving, InsufficientFunds, NoStake, NotLeaving)
    CONSTANTS = (
        Constant("MinStake", U128, lambda c: c.min_stake, "The least stake a provider registers with."),
        Constant("MaxEndpointLength", U32, lambda c: c.max_endpoint_length, "Longest endpoint, in bytes."),
        Constant("MaxOffers", U32, lambda c: c.max_offers, "Most kinds one provider offers."),
        Constant("MaxProviders", U32, lambda c: c.max_providers, "Most registered providers."),
        Constant("MaxJobsPerProvider", U32, lambda c: c.max_jobs_per_provider,
                 "Unsettled job slots one provider holds at most."),
        Constant("HeartbeatTimeout", U32, lambda c: c.heartbeat_timeout,
                 "Blocks after its last heartbeat a provider loses its assignments."),
        Constant("DisputeSlash", U32, lambda c: c.dispute_slash,
                 "Perbill of stake slashed for a lost dispute or an unopened commitment."),
        Constant("NoShowSlash", U32, lambda c: c.no_show_slash, "Perbill of stake slashed per no-show."),
    )

    providers = StorageMap(ACCOUNT_ID, ProviderInfo, docs="Every registered provider.")
    provider_count = StorageValue(U32, default=0, docs="How many providers `Providers` holds.")
    heartbeat_checks = StorageMap(U32, Vec(ACCOUNT_ID), hasher=Hasher.Twox64Concat, default=(),
                                  docs="Providers whose heartbeat deadline passes by each block.")
    heartbeat_checks_cursor = StorageValue(U32, docs="The oldest block of `HeartbeatChecks` that may still hold "
                                                     "providers.")
    check_due = StorageMap(ACCOUNT_ID, U32, docs="The block each provider's one pending heartbeat check falls due at.")
    stale = StorageValue(Vec(ACCOUNT_ID), default=(),
                         docs="Providers found stale since ComputeJobs last took their assignments away.")
    past_records = StorageMap(ACCOUNT_ID, ProviderHistory, docs="The verified history of accounts that were "
                              "providers and left: restored when they register again.")

    # --- calls ----------------------------------------------------------------------------------

    @call(0, weight=lambda w, hardware, offers, endpoint, stake: w.register())
    def register(self, origin: Origin, hardware: Hardware, offers: Offers, endpoint: Bytes, stake: Balance) -> None:
        """Register the signer as a provider of ``hardware`` running ``offers`` at ``endpoint``, holding
        ``stake``, with the verified history it had if it was a provider before. Registering counts as a
        heartbeat."""
        who = ensure_signed(origin)
        if self.providers.contains(who):
            raise AlreadyRegistered()
        self._check_offer(hardware, offers, endpoint)
        if stake < self.config.min_stake:
            raise StakeTooLow()
        if self.provider_count.get() >= self.config.max_providers:
            raise TooManyProviders()
        if not self.config.currency.can_withdraw(who, stake):
            raise InsufficientFunds()
        n = self.block_number()
        self.config.currency.hold(HoldReason.ProviderStake, who, stake)
        past = self.past_records.take(who) or ProviderHistory(0, 0, 0)
        self.providers.insert(who, ProviderInfo(hardware, offers, endpoint, stake, n, n, 0, past.jobs_verified,
                                                past.disputes_lost, past.no_shows, False))
        self.provider_count.put(self.provider_count.get() + 1)
        self._schedule_check(who, n)
        self.deposit_event(ProviderRegistered(who, hardware, offers, endpoint, stake))

    @call(1, weight=lambda w, hardware, offers, endpoint: w.update())
    def update(self, origin: Origin, hardware: Hardware, offers: Offers, endpoint: Bytes) -> None:
        """Change the signer's hardware, offers and endpoint (assignments already made keep their price)."""
        who = ensure_signed(origin)
        info = self._provider(who)
        self._check_offer(hardware, offers, endpoint)
        self.providers.insert(who, info.with_(hardware=hardware, offers=offers, endpoint=endpoint))
        self.deposit_event(ProviderUpdated(who, hardware, offers, endpoint))

    @call(2, weight=lambda w: w.heartbeat())
    def heartbeat(self, origin: Origin) -> None:
        """Say the signer is alive: it keeps its assignments for ``heartbeat_timeout`` more blocks."""
        who = ensure_signed(origin)
        info = self._provider(who)
        n = self.block_number()
        if info.last_heartbeat == n:
            return
        self.providers.insert(who, info.with_(last_heartbeat=n))
        if not self.check_due.contains(who):  # (else its pending check moves itself on when it finds it fresh)
            self._schedule_check(who, n)

    @call(3, weight=lambda w: w.deregister())
    def deregister(self, origin: Origin) -> None:
        """Leave: at once, releasing the stake left, if no job slot of the signer is unsettled; else drain (no
        new slots; deregistered when the last one settles)."""
        who = ensure_signed(origin)
        info = self._provider(who)
        if info.leaving:
            raise AlreadyLeaving()
        if info.active_jobs:
            self.providers.insert(who, info.with_(leaving=True))
            self.deposit_event(ProviderLeaving(who, info.active_jobs))
        else:
            self._remove(who, info)

    @call(4, weight=lambda w, amount: w.add_stake())
    def add_stake(self, origin: Origin, amount: Balance) -> None:
        """Put ``amount`` more of the signer's balance on hold as its stake: a provider slashed below
        ``MinStake`` is assigned again once it is back above."""
        who = ensure_signed(origin)
        info = self._provider(who)
        if amount == 0:
            raise NoStake()
        if not self.config.currency.can_withdraw(who, amount):
            raise InsufficientFunds()
        self.config.currency.hold(HoldReason.ProviderStake, who, amount)
        self.providers.insert(who, info.with_(stake=info.stake + amount))
        self.deposit_event(StakeAdded(who, amount, info.stake + amount))

    @call(5, weight=lambda w: w.stay())
    def stay(self, origin: Origin) -> None:
        """Take back a ``deregister`` still draining: the signer takes new job slots again (the slots it holds
        were never affected)."""
        who = ensure_signed(origin)
        info = self._provider(who)
        if not info.leaving:
            raise NotLeaving()
        self.providers.insert(who, info.with_(leaving=False))
        self.deposit_event(ProviderStays(who))

    def _check_offer(self, hardware: Hardware, offers: tuple[Offer, ...], endpoint: bytes) -> None:
        cfg = self.config
        if not is_http_endpoint(endpoint, cfg.max_endpoint_length):
            raise InvalidEndpoint()
        kinds = [offer.kind for offer in offers]
        known = set(KIND_IDS.values())
        if not 0 < len(kinds) <= cfg.max_offers or len(set(kinds)) != len(kinds) or not set(kinds) <= known:
            raise BadOffers()
        gpu = hardware.gpu
        if (hardware.cpu_cores == 0 or hardware.memory_mib == 0
                or (gpu is not None and (gpu.memory_mib == 0 or not _is_model_name(gpu.model, cfg.max_gpu_model_length)))):
            raise BadHardware()

    def _provider(self, who: bytes) -> ProviderInfo:
        info = self.providers.get(who)
        if info is None:
            raise NotRegistered()
        return info

    def _remove(self, who: bytes, info: ProviderInfo) -> None:
        """Deregister ``who``, releasing what is left of its stake and keeping its verified history."""
        self.providers.remove(who)
        self.check_due.remove(who)
        if info.history() != ProviderHistory(0, 0, 0):
            self.past_records.insert(who, info.history())
        self.provider_count.put(self.provider_count.get() - 1)
        released = self.config.currency.release(HoldReason.ProviderStake, who, info.stake, best_effort=True)
        self.deposit_event(ProviderDeregistered(who, released))

    def _store_settled(self, who: bytes, info: ProviderInfo) -> None:
        """Store ``info`` after one of ``who``'s slots settled: a leaving provider whose last slot it was leaves."""
        if info.leaving and not info.active_jobs:
            self._remove(who, info)
        else:
            self.providers.insert(who, info)

    def _schedule_check(self, who: bytes, heartbeat: int) -> None:
        """``who``'s one pending check, due the block after its ``heartbeat`` times out. One per provider, moved
        on when it finds the provider fresh: a check queued at every heartbeat grew the queue without bound
        (100 providers heartbeating each block add 36 a block past the 64 checked), each block rewriting it."""
        due = heartbeat + self.config.heartbeat_timeout + 1
        self.check_due.insert(who, due)
        DueQueue(self.heartbeat_checks, self.heartbeat_checks_cursor).push(due, who)

    # --- hooks ----------------------------------------------------------------------------------

    def on_initialize(self, n: int) -> Weight:
        """Queue the providers whose heartbeat deadline passed at block ``n - 1`` and that hold assignments."""
        now = DueQueue(self.heartbeat_checks, self.heartbeat_checks_cursor).take(n, self.config.max_checks_per_block)
        stale: list[bytes] = []
        queued = set(self.stale.get())
        for who in now:
            due = self.check_due.get(who)
            info = self.providers.get(who)
            if due is None or due > n or info is None:
                continue  # a check of an earlier registration
            if self.is_fresh(info, n):
                self._schedule_check(who, info.last_heartbeat)
                continue
            self.check_due.remove(who)  # (its next heartbeat schedules one again)
            if info.active_jobs and who not in queued:
                stale.append(who)
                queued.add(who)
                self.deposit_event(ProviderStale(who))
        if stale:
            self.stale.put(self.stale.get() + tuple(stale))
        return self.config.weights.on_initialize(len(now), len(stale))

    # --- ProviderRegistry: what ComputeJobs uses --------------------------------------------------

    def max_providers(self) -> int:
        return self.config.max_providers

    def provider(self, who: bytes) -> ProviderInfo | None:
        return self.providers.get(who)

    def all_providers(self) -> list[tuple[bytes, ProviderInfo]]:
        """Every registered provider, in storage order (at most ``max_providers``)."""
        return list(self.providers.items())

    def is_fresh(self, info: ProviderInfo, n: int) -> bool:
        """Whether ``info``'s last heartbeat is at most ``heartbeat_timeout`` blocks before block ``n``."""
        return info.is_fresh(n, self.config.heartbeat_timeout)

    def can_take(self, info: ProviderInfo, n: int) -> bool:
        """Whether the provider may be given a new job slot at block ``n``: staying, alive, staked, not full."""
        cfg = self.config
        return info.can_take(n, heartbeat_timeout=cfg.heartbeat_timeout, min_stake=cfg.min_stake,
                             max_jobs=cfg.max_jobs_per_provider)

    def assign(self, who: bytes) -> None:
        info = self.providers.get(who)
        self.providers.insert(who, info.with_(active_jobs=info.active_jobs + 1))

    def settle(self, who: bytes, *, verified: bool = False) -> None:
        """One of ``who``'s job slots is settled (on the verified side if ``verified``)."""
        info = self.providers.get(who)
        self._store_settled(who, info.with_(active_jobs=info.active_jobs - 1,
                                            jobs_verified=info.jobs_verified + verified))

    def slash(self, who: bytes, job_id: int, reason: SlashReason) -> int:
        """Settle one of ``who``'s slots as lost (a dispute, a no-show, a commitment never opened): count it,
        burn the reason's share of the stake; returns the amount burned."""
        cfg = self.config
        info = self.providers.get(who)
        fraction = cfg.no_show_slash if reason is SlashReason.NoShow else cfg.dispute_slash
        amount = info.stake * fraction // PERBILL
        burned = amount - cfg.currency.slash_held(HoldReason.ProviderStake, who, amount)
        lost = reason is SlashReason.DisputeLost
        self.deposit_event(ProviderSlashed(who, job_id, burned, reason))
        self._store_settled(who, info.with_(stake=info.stake - burned, active_jobs=info.active_jobs - 1,
                                            disputes_lost=info.disputes_lost + lost,
                                            no_shows=info.no_shows + (not lost)))
        return burned

    def take_stale(self, limit: int) -> tuple[bytes, ...]:
        """Up to ``limit`` of the providers found stale, oldest first (ComputeJobs takes their assignments
        away); the rest stay queued."""
        stale = self.stale.get()
        self.stale.put(stale[limit:] or None)
        return stale[:limit]

    def integrity_test(self) -> None:
        cfg = self.config
        assert cfg.min_stake > 0, "a provider must stake something: slashing is verification's teeth"
        assert 0 < cfg.dispute_slash <= PERBILL and 0 < cfg.no_show_slash <= PERBILL
        assert cfg.heartbeat_timeout > 0 and cfg.max_jobs_per_provider > 0 and cfg.max_checks_per_block > 0


DEFINITION = PalletDefinition(pallet=ComputeProviders, config=ComputeProvidersConfig,
                              weights=ComputeProvidersWeights(), params=ComputeProvidersParams, rpc=PROVIDERS_RPC)


def _is_model_name(model: bytes, max_length: int) -> bool:
    """A GPU model name every client may print as it is: 1 to ``max_length`` bytes of printable ASCII, spaces
    included (``NVIDIA H100 80GB HBM3``). Escape sequences in one rewrote the terminal of whoever listed the
    providers."""
    return 0 < len(model) <= max_length and all(0x20 <= byte <= 0x7E for byte in model)
