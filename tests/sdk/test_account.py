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

from runtime.frame.construct import RuntimeReason
from runtime.keyring import DEV_PHRASE, Keypair
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


def test_a_phrase_derives_the_account_subkey_and_polkadot_js_derive_from_it():
    """The development phrase's root account, as ``subkey inspect "bottom drive obey … walk"`` gives it: what
    ``cairn account new`` writes is read as wallets read a phrase (sr25519, no password)."""
    assert Keypair.from_uri(DEV_PHRASE).ss58_address() == "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"


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
    ("\u0661\u0662", "is no amount"),  # Arabic-Indic digits: only ASCII ones
    ("9" * 5000, "is no amount"),  # not int()'s ValueError on a digit limit
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
        call = client.compose_call("Balances", "transfer_keep_alive", {"dest": receiver.public, "value": 10 * CAIRN})
        quoted = (await client.get_payment_info(call, ALICE))["partialFee"]
        assert await client.get_account_nonce(ALICE) == before.nonce  # a quote takes no nonce
        fee = await client.account.transfer(receiver.ss58_address(), 10 * CAIRN)
        assert abs(fee - quoted) <= quoted // 1000  # the fee multiplier may have moved a block on
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
    """Checked with the fee the node quotes, taken before the transfer: all of one's balance is more than one can
    send, and what is left must keep the account alive."""
    poor, stranger = fresh("Poor"), fresh("Stranger")
    async with AsyncClient(url, signer=ALICE) as client:
        await client.account.transfer(poor, CAIRN)
        ed = client.get_constant("Balances", "ExistentialDeposit")
        refusals = [(poor, stranger, 2 * CAIRN, "InsufficientBalance"),
                    (poor, ALICE, CAIRN, "InsufficientBalance"),      # all of it: the fee comes first
                    (poor, poor, 2 * CAIRN, "InsufficientBalance"),   # to itself too, as Balances checks it
                    (poor, ALICE, CAIRN - ed, "Expendability"),       # the fee then takes it below the deposit
                    (ALICE, stranger, ed - 1, "ExistentialDeposit")]
        for sender, dest, amount, reason in refusals:
            client.account.signer = sender
            before = await client.account.balance()
            with pytest.raises(TransferRefused) as refused:
                await client.account.transfer(dest, amount)
            assert (refused.value.reason, refused.value.failure) == (reason, None)
            assert 0 < refused.value.sendable < before.transferable  # less the fee
            assert await client.account.balance() == before  # not sent: no fee, no nonce
        client.account.signer = poor
        with pytest.raises(TransferRefused) as quoted:
            await client.account.transfer(ALICE, CAIRN - ed)
        await client.account.transfer(ALICE, quoted.value.sendable)  # what it said it could send, it can
        left = await client.account.balance()
        assert ed <= left.total <= ed + 10**6  # give or take the fee multiplier's move over a block or two
        assert (await client.account.balance(stranger)).free == 0


async def test_a_transfer_that_lets_the_account_die_can_send_all_but_the_fee(url):
    mortal = fresh("Mortal")
    async with AsyncClient(url, signer=ALICE) as client:
        await client.account.transfer(mortal, CAIRN)
        client.account.signer = mortal
        with pytest.raises(TransferRefused) as quoted:
            await client.account.transfer(ALICE, CAIRN, keep_alive=False)
        assert quoted.value.reason == "InsufficientBalance"
        kept_alive = (await client.account.balance()).sendable(fee=0, keep_alive=True)
        assert kept_alive < quoted.value.sendable < CAIRN  # the deposit may go too, but not the fee
        await client.account.transfer(ALICE, quoted.value.sendable, keep_alive=False)
        reaped = await client.account.balance()
    assert (reaped.free, reaped.nonce, reaped.consumers) == (0, 0, 0)  # reaped: the account is gone


def test_what_can_be_sent_keeps_the_deposit_while_anything_is_held_even_if_the_account_may_die():
    """Balances never reaps an account with a consumer (a reserve, a freeze): a hold smaller than the deposit
    keeps ``keep_alive=False`` from sending the deposit away."""
    held = Balance(b"\0" * 32, free=100, reserved=3, frozen=0, holds=(), nonce=1, consumers=1, existential_deposit=10)
    free = Balance(b"\0" * 32, free=100, reserved=0, frozen=0, holds=(), nonce=1, consumers=0, existential_deposit=10)
    assert held.sendable(fee=5, keep_alive=False) == 100 + 3 - 5 - 10
    assert free.sendable(fee=5, keep_alive=False) == 95 and free.sendable(fee=5) == 85
    frozen = Balance(b"\0" * 32, free=100, reserved=50, frozen=70, holds=(), nonce=1, consumers=2,
                     existential_deposit=10)
    assert frozen.sendable(fee=5) == 25 and frozen.transferable == 30  # the frozen part stays, whatever is held


async def test_a_transfer_the_chain_refuses_after_its_check_pays_its_fee_and_moves_nothing_else(url):
    """A transaction still in the pool is not in the best block's balance the check reads: a transfer that the
    signer's earlier one leaves no room for passes the check and is refused by the chain, its fee paid."""
    spender = fresh("Spender")
    async with AsyncClient(url, signer=ALICE) as client:
        await client.account.transfer(spender, 10 * CAIRN)
        client.account.signer = spender
        before = await client.account.balance()
        spend = client.compose_call("Balances", "transfer_keep_alive", {"dest": ALICE.public, "value": 9 * CAIRN})
        async with client.subscribe_new_heads() as heads:
            seen = 0
            async for _ in heads:  # the first is the best block as it was; the second has just been made
                seen += 1
                if seen == 2:
                    break
            await client.sign_and_submit(spend, spender)  # pooled, not waited for: the next block is a slot away
            with pytest.raises(TransferRefused) as refused:
                await client.account.transfer(ALICE, 5 * CAIRN)
        after = await client.account.balance()
    assert refused.value.failure is not None, "the check saw the pooled transfer: it was in a block already"
    assert refused.value.reason == "InsufficientBalance" and refused.value.failure.pallet == "Balances"
    assert after.nonce == before.nonce + 2 and 0 < before.free - 9 * CAIRN - after.free < CAIRN // 100  # two fees


async def test_a_fee_quote_at_a_blocks_parent_is_what_a_transaction_pays_in_that_block(url):
    """Quoted by account, nothing signed (a quote's bytes must never be a transaction someone could send)."""
    async with AsyncClient(url) as client:
        call = client.compose_call("Balances", "transfer_keep_alive", {"dest": fresh("Quoted").public, "value": CAIRN})
        receipt = await client.sign_and_submit(call, ALICE, wait_for_inclusion=True)
        parent = (await client.get_block_header(receipt.block_hash)).parent_hash
        quoted = await client.get_payment_info(call, ALICE.ss58_address(), parent)
    assert quoted["partialFee"] == receipt.total_fee_amount > 0 and quoted["class"] == "normal"


async def test_a_hold_the_sdk_cannot_name_is_shown_by_its_indices(url):
    """A state written by a later runtime (a pallet or a reason this SDK does not know) is shown, not a crash."""
    async with AsyncClient(url) as client:
        names = client.runtime.hold_reasons.names
        assert names(RuntimeReason(250, 0)) == ("pallet 250", "reason 0")
        storage_nodes = client.runtime.index_of["StorageNodes"]
        assert names(RuntimeReason(storage_nodes, 0)) == ("StorageNodes", "NodeStake")
        assert names(RuntimeReason(storage_nodes, 99)) == ("StorageNodes", "reason 99")


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
    phrase = key.read_text().strip()
    assert len(phrase.split()) == 12 and Keypair.from_uri(phrase).ss58_address() == address
    assert [p.name for p in tmp_path.iterdir()] == ["operator.key"]  # its temporary name is gone
    assert cairn("new", "-o", str(tmp_path / "other.key")).stdout.split()[-1] != address  # each one new
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
    assert "has not that much to send; it can send 0 CAIRN now, after the fee" in broke.stderr
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
    assert unfunded.returncode == 1 and unfunded.stderr.splitlines()[-1].startswith(
        f"Error: not registering this {role}: {address} holds 0 CAIRN free, less than its --stake of "
        f"{TOKEN.format(minimum)} and the registration's fee (0."), unfunded.stderr
    assert unfunded.stderr.rstrip().endswith(
        f"CAIRN): fund it (`cairn account transfer {address} AMOUNT --key A_FUNDED_KEY`) or stake less")
    with Client(url, signer=ALICE) as alice:  # exactly the stake: not enough, the fee is taken first
        alice.account.transfer(address, minimum)
    exact = run(str(minimum))
    assert exact.returncode == 1 and f"holds {TOKEN.format(minimum)} free, less than its --stake" in exact.stderr, (
        exact.stderr)
    with Client(url) as client:
        assert client.account.balance(address).nonce == 0  # nothing was sent


def test_a_daemon_refuses_an_amount_in_another_token_as_a_usage_error(url, tmp_path):
    """Only the chain knows its token's symbol: read once connected, still a usage error naming the option."""
    refused = subprocess.run([CAIRN_COMMAND, "storage-node", "--chain-rpc", url, "--key", "//AccountDaemon",
                              "--base-path", str(tmp_path / "node"), "--stake", "150DOT"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "Invalid value for '--stake': '150DOT': this chain's token is CAIRN" in (
        refused.stderr), refused.stderr
