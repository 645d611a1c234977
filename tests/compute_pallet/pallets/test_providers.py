"""ComputeProviders, FRAME-style: registration and its refusals, updates, heartbeats and staleness, leaving."""

from __future__ import annotations

import pytest

from compute_pallet.pallets.providers import (
    AlreadyRegistered,
    BadHardware,
    BadOffers,
    InvalidEndpoint,
    HoldReason,
    InsufficientFunds,
    NoStake,
    NotRegistered,
    ProviderDeregistered,
    ProviderRegistered,
    ProviderUpdated,
    SlashReason,
    StakeAdded,
    StakeTooLow,
    TooManyProviders,
)
from compute_pallet.pallets.types import Gpu, Hardware, Offer, ProviderInfo, Resources
from runtime.frame.pallet import Origin
from runtime.frame.testing import assert_last_event, assert_noop
from runtime.pallets.system import System

from .mock import (
    ALICE,
    HARDWARE,
    PRICE,
    PROVIDERS,
    STAKE,
    free,
    held,
    new_ext,
    providers_pallet,
    run_to,
    slot_providers,
    stored_file,
    submit,
)

EVE = bytes([0xEE]) * 32
H200 = Hardware(32, 262_144, Gpu(b"NVIDIA H200", 143_771))
OFFERS = (Offer(0, 10), Offer(3, 20))


def register(ext, who, **changes):
    args = {"hardware": HARDWARE, "offers": OFFERS, "endpoint": b"http://p", "stake": STAKE, **changes}
    ext.dispatch(Origin.signed(who), "ComputeProviders", "register", **args)


def test_register_holds_stake_and_records_the_offer():
    ext = new_ext(providers=0)
    with ext:
        before = free(ext, PROVIDERS[0])
        register(ext, PROVIDERS[0], hardware=H200)
        n = ext.pallet(System).number.get()
        assert providers_pallet(ext).providers.get(PROVIDERS[0]) == ProviderInfo(
            H200, OFFERS, b"http://p", STAKE, n, n, 0, 0, 0, 0, False)
        assert held(ext, HoldReason.ProviderStake, PROVIDERS[0]) == STAKE
        assert free(ext, PROVIDERS[0]) == before - STAKE
        assert_last_event(ext, ProviderRegistered(PROVIDERS[0], H200, OFFERS, b"http://p", STAKE))


@pytest.mark.parametrize("changes, error", [
    ({"stake": 9_999}, StakeTooLow),
    ({"endpoint": b""}, InvalidEndpoint),
    ({"endpoint": b"x" * 257}, InvalidEndpoint),
    ({"endpoint": "http://prövider".encode()}, InvalidEndpoint),
    ({"offers": ()}, BadOffers),
    ({"offers": (Offer(9, 1),)}, BadOffers),
    ({"offers": (Offer(0, 1), Offer(0, 2))}, BadOffers),
    ({"hardware": Hardware(0, 1024, None)}, BadHardware),
    ({"hardware": Hardware(4, 0, None)}, BadHardware),
    ({"hardware": Hardware(4, 1024, Gpu(b"X", 0))}, BadHardware),
    ({"hardware": Hardware(4, 1024, Gpu(b"", 8))}, BadHardware),
    ({"hardware": Hardware(4, 1024, Gpu(b"x" * 65, 8))}, BadHardware),
    ({"hardware": Hardware(4, 1024, Gpu(b"\x1b[2JNVIDIA H200", 8))}, BadHardware),  # rewrote listers' terminals
    ({"hardware": Hardware(4, 1024, Gpu("Ŋvidia".encode(), 8))}, BadHardware),
])
def test_bad_registrations_are_refused(changes, error):
    ext = new_ext(providers=0)
    with ext:
        assert_noop(ext, error, register, ext, PROVIDERS[0], **changes)


def test_registering_twice_beyond_the_limit_or_without_funds_is_refused():
    ext = new_ext(providers=1, params={"ComputeProviders": {"max_providers": 2}})
    with ext:
        assert_noop(ext, AlreadyRegistered, register, ext, PROVIDERS[0])
        assert_noop(ext, InsufficientFunds, register, ext, EVE)
        register(ext, PROVIDERS[1])
        assert_noop(ext, TooManyProviders, register, ext, PROVIDERS[2])


def test_update_changes_the_offer_and_unknown_providers_are_refused():
    ext = new_ext(providers=1)
    with ext:
        ext.dispatch(Origin.signed(PROVIDERS[0]), "ComputeProviders", "update", hardware=H200, offers=OFFERS,
                     endpoint=b"http://new")
        assert_last_event(ext, ProviderUpdated(PROVIDERS[0], H200, OFFERS, b"http://new"))
        assert providers_pallet(ext).providers.get(PROVIDERS[0]).hardware == H200
        for name, args in (("update", dict(hardware=H200, offers=OFFERS, endpoint=b"x")), ("heartbeat", {}),
                           ("deregister", {})):
            assert_noop(ext, NotRegistered, ext.dispatch, Origin.signed(EVE), "ComputeProviders", name, **args)


def test_only_a_provider_whose_hardware_fits_is_assigned_a_gpu_job():
    ext = new_ext(providers=2)
    with ext:
        register(ext, PROVIDERS[5], hardware=H200, offers=(Offer(0, PRICE),))
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,), resources=Resources(4, 8_192, 80_000), redundancy=1)
        assert slot_providers(ext, job_id) == [PROVIDERS[5]]


def test_a_provider_without_recent_heartbeats_is_not_assigned():
    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        timeout = providers_pallet(ext).config.heartbeat_timeout
        run_to(ext, ext.pallet(System).number.get() + timeout + 1)
        ext.dispatch(Origin.signed(PROVIDERS[1]), "ComputeProviders", "heartbeat")
        job_id = submit(ext, ALICE, inputs=(dataset,), redundancy=1)
        assert slot_providers(ext, job_id) == [PROVIDERS[1]]
        assert providers_pallet(ext).providers.get(PROVIDERS[1]).last_heartbeat == ext.pallet(System).number.get()


def test_deregister_releases_the_stake():
    ext = new_ext(providers=1)
    with ext:
        before = free(ext, PROVIDERS[0])
        ext.dispatch(Origin.signed(PROVIDERS[0]), "ComputeProviders", "deregister")
        assert free(ext, PROVIDERS[0]) == before + STAKE and held(ext, HoldReason.ProviderStake, PROVIDERS[0]) == 0
        assert_last_event(ext, ProviderDeregistered(PROVIDERS[0], STAKE))
        assert providers_pallet(ext).provider_count.get() == 0


def test_a_provider_slashed_below_the_minimum_is_assigned_again_once_it_tops_its_stake_up():
    ext = new_ext(providers=0)
    with ext:
        pallet = providers_pallet(ext)
        minimum = pallet.config.min_stake
        register(ext, PROVIDERS[0], stake=minimum)
        pallet.assign(PROVIDERS[0])
        burned = pallet.slash(PROVIDERS[0], 0, SlashReason.DisputeLost)
        dataset = stored_file(ext, ALICE)
        assert not pallet.can_take(pallet.providers.get(PROVIDERS[0]), ext.pallet(System).number.get())
        before = free(ext, PROVIDERS[0])
        ext.dispatch(Origin.signed(PROVIDERS[0]), "ComputeProviders", "add_stake", amount=burned)
        assert_last_event(ext, StakeAdded(PROVIDERS[0], burned, minimum))
        assert pallet.providers.get(PROVIDERS[0]).stake == minimum == held(ext, HoldReason.ProviderStake, PROVIDERS[0])
        assert free(ext, PROVIDERS[0]) == before - burned
        job_id = submit(ext, ALICE, inputs=(dataset,), redundancy=1)
        assert slot_providers(ext, job_id) == [PROVIDERS[0]]


def test_bad_stake_top_ups_are_refused():
    ext = new_ext(providers=1)
    with ext:
        def add(who, amount):
            ext.dispatch(Origin.signed(who), "ComputeProviders", "add_stake", amount=amount)

        assert_noop(ext, NotRegistered, add, EVE, 1)
        assert_noop(ext, NoStake, add, PROVIDERS[0], 0)
        assert_noop(ext, InsufficientFunds, add, PROVIDERS[0], free(ext, PROVIDERS[0]) + 1)


def test_heartbeats_keep_one_pending_check_per_provider():
    """A check was queued at every heartbeat and at most 64 handled a block: providers heartbeating each block
    grew the queue without bound, every block rewriting what was left."""
    ext = new_ext(providers=3)
    with ext:
        pallet = providers_pallet(ext)
        for _ in range(3 * pallet.config.heartbeat_timeout):
            for who in PROVIDERS[:3]:
                ext.dispatch(Origin.signed(who), "ComputeProviders", "heartbeat")
            run_to(ext, ext.pallet(System).number.get() + 1)
            assert sum(len(queued) for _, queued in pallet.heartbeat_checks.items()) <= 3
        assert all(pallet.is_fresh(pallet.providers.get(who), ext.pallet(System).number.get()) for who in PROVIDERS[:3])
