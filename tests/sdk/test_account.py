"""``client.account`` and ``cairn account`` on a real dev node: balances with the holds that make up their
reserved part, transfers exact to the unit, the chain's token read and written, fresh keys, and transfers that
break one of Balances' rules refused before they are sent (no fee) or, past that check, by the chain (the fee
paid, nothing else moved)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from runtime.keyring import Keypair
from sdk.account import Balance, Hold, NoSigner, Token, TransferRefused
from sdk.chain import BadArgument
from sdk.cli import main
from sdk.client import AsyncClient, Client

from .conftest import start_dev_node, ws_url

CAIRN = 10**12
CAIRN_COMMAND = str(Path(sys.executable).parent / "cairn")
ALICE = Keypair.from_uri("//Alice")
TOKEN = Token("CAIRN", 12)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    """A node of this module's own: a test here registers a storage node, which other modules' nodes must not list."""
    node = start_dev_node(tmp_path_factory.mktemp("account-node"))
    yield ws_url(node)
    node.stop()


def fresh(name: str) -> Keypair:
    return Keypair.from_uri(f"//Account{name}")


# --- the token, for people ----------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=10**30))
def test_an_amount_written_as_tokens_reads_back_to_the_same_units(units):
    assert TOKEN.parse(TOKEN.format(units)) == units


@pytest.mark.parametrize(("text", "units"), [
    ("1.5 CAIRN", 15 * 10**11), ("2CAIRN", 2 * CAIRN), (".5cairn", CAIRN // 2), ("5. CAIRN", 5 * CAIRN),
    ("0.000000000001 CAIRN", 1), ("1500", 1500), (" 7 ", 7), ("1.000000000000000 CAIRN", CAIRN),
    ("123456789012345678.123456789012 CAIRN", 123456789012345678123456789012),  # 30 digits: no float, no Decimal
])
def test_an_amount_is_tokens_with_the_symbol_and_units_without(text, units):
    assert TOKEN.parse(text) == units


@pytest.mark.parametrize(("text", "says"), [
    ("1.5", "a fraction needs the token's symbol"), ("1 DOT", "this chain's token is CAIRN"),
    ("0.0000000000001 CAIRN", "finer than the smallest unit"), ("-1", "is no amount"), ("1e5 CAIRN", "is no amount"),
    ("", "is no amount"), ("CAIRN", "is no amount"), ("1,5 CAIRN", "is no amount"),
])
def test_an_amount_that_is_none_or_not_exact_is_refused(text, says):
    with pytest.raises(BadArgument, match=says):
        TOKEN.parse(text)


def test_amounts_are_written_with_every_significant_decimal_and_no_more():
    assert [TOKEN.format(u) for u in (0, 1, CAIRN, 15 * 10**11, 10**18)] == [
        "0 CAIRN", "0.000000000001 CAIRN", "1 CAIRN", "1.5 CAIRN", "1000000 CAIRN"]
    assert Token("UNIT", 0).format(42) == "42 UNIT"


async def test_the_token_is_the_one_the_chain_names(url):
    async with AsyncClient(url) as client:
        assert await client.account.token() == TOKEN


# --- balances and transfers ---------------------------------------------------------------------------------


async def test_a_transfer_moves_the_amount_and_the_sender_pays_the_fee_exactly(url):
    receiver = fresh("Receiver")
    async with AsyncClient(url, signer=ALICE) as client:
        before = await client.account.balance()
        assert (before.account, before.reserved, before.holds) == (ALICE.public, 0, ())
        fee = await client.account.transfer(receiver.ss58_address(), 10 * CAIRN)
        after, received = await client.account.balance(), await client.account.balance(receiver)
    assert fee > 0 and before.free - after.free == 10 * CAIRN + fee
    assert after.nonce == before.nonce + 1
    assert (received.free, received.reserved, received.nonce, received.transferable) == (
        10 * CAIRN, 0, 0, 10 * CAIRN - received.existential_deposit)


async def test_a_balance_names_each_hold_that_makes_up_its_reserved_part(url):
    operator = fresh("Operator")
    async with AsyncClient(url, signer=ALICE) as client:
        await client.account.transfer(operator, 1000 * CAIRN)
        stake = client.get_constant("StorageNodes", "MinStake")
        call = client.compose_call("StorageNodes", "register", {
            "endpoint": b"http://127.0.0.1:9", "capacity": 1 << 30, "stake": stake})
        assert (await client.sign_and_submit(call, operator, wait_for_inclusion=True)).is_success
        held = await client.account.balance(operator.ss58_address())
    assert held.holds == (Hold("StorageNodes", "NodeStake", stake),) and held.reserved == stake
    assert held.transferable == held.free  # what is held keeps the account alive: all that is free may go
    assert held.to_json()["holds"] == [{"pallet": "StorageNodes", "reason": "NodeStake", "amount": stake}]


async def test_a_transfer_that_breaks_a_rule_is_refused_before_it_is_sent_and_costs_nothing(url):
    poor, stranger = fresh("Poor"), fresh("Stranger")
    async with AsyncClient(url, signer=ALICE) as client:
        await client.account.transfer(poor, CAIRN)
        ed = client.get_constant("Balances", "ExistentialDeposit")
        refusals = [(poor, stranger, 2 * CAIRN, True, "InsufficientBalance"),
                    (poor, ALICE, CAIRN, True, "Expendability"),        # all of it, keeping the account alive
                    (ALICE, stranger, ed - 1, True, "ExistentialDeposit")]
        for sender, dest, amount, keep_alive, reason in refusals:
            client.account.signer = sender
            before = await client.account.balance()
            with pytest.raises(TransferRefused) as refused:
                await client.account.transfer(dest, amount, keep_alive=keep_alive)
            assert (refused.value.reason, refused.value.failure) == (reason, None)
            assert await client.account.balance() == before  # not sent: no fee, no nonce
        assert (await client.account.balance(stranger)).free == 0


async def test_a_transfer_the_chain_refuses_still_pays_its_fee_and_moves_nothing_else(url):
    """Exactly the existential deposit is left after the amount: the check passes, but the fee, taken first,
    leaves too little to keep the account alive."""
    tight = fresh("Tight")
    async with AsyncClient(url, signer=ALICE) as client:
        ed = client.get_constant("Balances", "ExistentialDeposit")
        await client.account.transfer(tight, CAIRN)
        client.account.signer = tight
        before = await client.account.balance()
        with pytest.raises(TransferRefused) as refused:
            await client.account.transfer(ALICE, CAIRN - ed)
        after = await client.account.balance()
    assert refused.value.reason == "Expendability" and refused.value.failure.pallet == "Balances"
    assert after.nonce == before.nonce + 1 and 0 < before.free - after.free < CAIRN // 100  # the fee alone


async def test_bad_arguments_are_refused_before_anything_is_read_or_sent(url):
    async with AsyncClient(url) as client:
        with pytest.raises(NoSigner):
            await client.account.transfer(ALICE, 1)
        with pytest.raises(NoSigner):
            await client.account.balance()
        with pytest.raises(BadArgument, match="not an SS58 address"):
            await client.account.balance("5Foo")
        client.account.signer = ALICE
        for amount in (-1, 1.5, True, "1"):
            with pytest.raises(BadArgument, match="non-negative integer of units"):
                await client.account.transfer(fresh("Nobody"), amount)


def test_the_blocking_client_reads_and_sends_alike(url):
    with Client(url, signer=ALICE) as client:
        assert client.account.token() == TOKEN
        assert isinstance(client.account.balance(), Balance)
        assert client.account.transfer(fresh("Blocking"), CAIRN) > 0


# --- cairn account ------------------------------------------------------------------------------------------


def cairn(*args: str):
    return CliRunner().invoke(main, ["account", *args])


def test_a_new_key_is_written_for_its_owner_alone_and_never_over_another(tmp_path):
    key = tmp_path / "operator.key"
    made = cairn("new", "-o", str(key))
    assert made.exit_code == 0, made.output
    address = made.stdout.splitlines()[-1]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert Keypair.from_uri(key.read_text().strip()).ss58_address() == address
    again = cairn("new", "-o", str(key))
    assert again.exit_code == 2 and "is never overwritten" in again.stderr
    assert Keypair.from_uri(key.read_text().strip()).ss58_address() == address
    assert cairn("new", "-o", "-").exit_code == 2
    assert cairn("new", "-o", str(tmp_path / "missing" / "key")).exit_code == 2


def test_cli_funds_a_new_key_which_then_signs_its_own_transfer(url, tmp_path):
    key = tmp_path / "mine.key"
    address = cairn("new", "-o", str(key)).stdout.split()[-1]
    sent = cairn("transfer", address, "2.5CAIRN", "--rpc", url)
    assert sent.exit_code == 0, sent.output
    assert sent.stdout.startswith(f"sent 2.5 CAIRN to {address}; fee 0.")
    shown = cairn("balance", "--key", str(key), "--rpc", url, "--json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert (document["free"], document["reserved"], document["nonce"]) == (25 * 10**11, 0, 0)
    assert document["token"] == {"symbol": "CAIRN", "decimals": 12}
    back = cairn("transfer", "//Alice", "1CAIRN", "--key", str(key), "--rpc", url)
    assert back.exit_code == 0, back.output
    table = cairn("balance", address, "--rpc", url)
    assert table.exit_code == 0 and "nonce           1" in table.stdout, table.output
    assert "free            1.49" in table.stdout and "CAIRN" in table.stdout


def test_cli_says_why_a_transfer_is_refused_in_the_senders_terms(url, tmp_path):
    key = tmp_path / "empty.key"
    cairn("new", "-o", str(key))
    broke = cairn("transfer", "//Alice", "1CAIRN", "--key", str(key), "--rpc", url)
    assert broke.exit_code == 1
    assert broke.stderr.startswith("Error: TransferRefused: 1 CAIRN not sent: 5")
    assert "can send 0 CAIRN now" in broke.stderr
    tiny = cairn("transfer", fresh("Tiny").ss58_address(), "0.001CAIRN", "--rpc", url)
    assert tiny.exit_code == 1 and "existential deposit (0.01 CAIRN)" in tiny.stderr, tiny.output


@pytest.mark.parametrize(("amount", "says"), [
    ("1.5", "a fraction needs the token's symbol"), ("1DOT", "this chain's token is CAIRN"),
    ("abc", "is no amount"), ("0.0000000000001CAIRN", "finer than the smallest unit")])
def test_cli_refuses_an_amount_it_cannot_read_exactly_as_a_usage_error(url, amount, says):
    refused = cairn("transfer", "//Bob", amount, "--rpc", url)
    assert refused.exit_code == 2 and says in refused.stderr, refused.output


# --- the daemons' stakes ------------------------------------------------------------------------------------

DAEMONS = [("storage-node", "storage node", "StorageNodes"), ("da-node", "DA node", "DataAvailability"),
           ("provider", "provider", "ComputeProviders")]


@pytest.mark.parametrize(("command", "role", "pallet"), DAEMONS, ids=[d[0] for d in DAEMONS])
def test_a_daemon_says_in_tokens_why_its_stake_would_be_refused_and_sends_nothing(url, tmp_path, command, role, pallet):
    """A stake below the chain's minimum, or one the operator's new key cannot pay, was sent anyway: refused by
    the chain, in units (``MinStake (1000000000000000)``), with the fee paid. Now: said before anything is sent."""
    key = tmp_path / "operator.key"
    address = cairn("new", "-o", str(key)).stdout.split()[-1]
    with Client(url) as client:
        minimum = client.get_constant(pallet, "MinStake")

    def run(stake: str) -> subprocess.CompletedProcess:
        return subprocess.run([CAIRN_COMMAND, command, "--chain-rpc", url, "--key", str(key), "--base-path",
                               str(tmp_path / stake), "--stake", stake], capture_output=True, text=True, timeout=120)

    low = run("1CAIRN")
    assert low.returncode == 1 and low.stderr.splitlines()[-1] == (
        f"Error: not registering this {role}: --stake is 1 CAIRN, below the chain's minimum "
        f"({TOKEN.format(minimum)})"), low.stderr
    unfunded = run(str(minimum))
    assert unfunded.returncode == 1 and unfunded.stderr.splitlines()[-1] == (
        f"Error: not registering this {role}: {address} holds 0 CAIRN free, less than its --stake of "
        f"{TOKEN.format(minimum)}: fund it (`cairn account transfer {address} AMOUNT --key A_FUNDED_KEY`) or "
        "stake less"), unfunded.stderr
