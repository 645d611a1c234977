"""``client.account``: what an account holds and why, transfers between accounts, and the chain's token read
and written for people.

A :class:`Balance` is what wallets show: ``free`` (of which :attr:`Balance.transferable` can leave the account
now), ``reserved`` and, of that, each hold with the pallet and reason that holds it (``FileBank.FileDeposit``,
``ComputeProviders.ProviderStake``, ``ComputeJobs.JobEscrow``, ...), so the deposits, stakes and escrows that
``client.storage``, ``client.compute``, ``client.fl`` and ``client.da`` take are all seen in one place. Amounts
are integers of the chain's smallest unit everywhere in the SDK; :class:`Token` (the chain's ``tokenSymbol``
and ``tokenDecimals``, which ``system_properties`` serves) turns them into text and back::

    token = await client.account.token()
    token.format(1_500_000_000_000)      # '1.5 CAIRN'
    token.parse("1.5 CAIRN")             # 1500000000000; a plain integer ("1500") is units
    await client.account.transfer("5FHneW46…", token.parse("10 CAIRN"))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runtime.frame.construct import Call
from runtime.keyring import Keypair
from runtime.ss58 import ss58_encode
from sdk.account.errors import NoSigner, TransferRefused
from sdk.chain.client import AsyncClient
from sdk.chain.errors import BadArgument
from sdk.chain.keys import AccountLike, account_argument
from sdk.records import Record

__all__ = ["AccountApi", "Balance", "Hold", "Token", "amount_form", "chain_token", "stake_shortfall"]

_AMOUNT = re.compile(r"\s*(\d{1,64}(?:\.\d{0,64})?|\.\d{1,64})\s*([A-Za-z]*)\s*", re.ASCII)
"""A number (ASCII digits, at most 64 of them each side of the point: a u128 has 39) and a symbol or none."""


def amount_form(text: str) -> tuple[str, str]:
    """An amount's number and token symbol (``""``: none), checked for what needs no token to check: a number, and
    a symbol after a fraction (is ``1.5`` tokens or units?). :class:`BadArgument` otherwise."""
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise BadArgument(f"{text!r} is no amount: give tokens with their symbol (2.5CAIRN) or base units (2500)")
    number, symbol = match.groups()
    if not symbol and not number.isdigit():
        raise BadArgument(f"{text!r}: a fraction needs the token's symbol ({number}CAIRN, say); a plain number is "
                          "base units")
    return number, symbol


@dataclass(frozen=True)
class Token:
    """The chain's token: its symbol and how many decimals of the smallest unit make one token."""

    symbol: str
    decimals: int

    def format(self, units: int) -> str:
        """``units`` as tokens, every significant decimal kept and no more: ``"1.5 CAIRN"``, ``"0 CAIRN"``."""
        whole, fraction = divmod(abs(units), 10 ** self.decimals)
        digits = f"{fraction:0{self.decimals}d}".rstrip("0") if self.decimals else ""
        return f"{'-' if units < 0 else ''}{whole}{'.' + digits if digits else ''} {self.symbol}"

    def parse(self, text: str) -> int:
        """The units an amount names: a number with the token's symbol (``"1.5 CAIRN"``, ``"2CAIRN"``, any case)
        is tokens; a plain integer (``"1500"``) is units, as every amount the chain and the SDK take. Exact:
        :class:`BadArgument` for a fraction finer than the smallest unit, a fraction without the symbol (is
        ``1.5`` tokens or units?), another symbol, a negative amount or no number (:func:`amount_form`)."""
        number, symbol = amount_form(text)
        if not symbol:
            return int(number)
        if symbol.upper() != self.symbol.upper():
            raise BadArgument(f"{text!r}: this chain's token is {self.symbol}")
        whole, _, fraction = number.partition(".")
        fraction = fraction.rstrip("0")
        if len(fraction) > self.decimals:
            raise BadArgument(f"{text!r} is finer than the smallest unit ({self.decimals} decimals of {self.symbol})")
        return int(whole or "0") * 10 ** self.decimals + int(fraction.ljust(self.decimals, "0") or "0")


@dataclass(frozen=True)
class Hold(Record):
    """Part of an account's reserved balance, held by ``pallet`` for ``reason`` (its ``HoldReason``)."""

    pallet: str
    reason: str
    amount: int


@dataclass(frozen=True)
class Balance(Record):
    """One account's balance (``System.Account``) with its holds (``Balances.Holds``), in units."""

    account: bytes
    free: int
    reserved: int
    """Held for the chain's pallets: the sum of :attr:`holds` and of any reserve no hold accounts for."""
    frozen: int
    """Of ``free``, what locks and freezes keep in place: no transfer, fee or hold may take it."""
    holds: tuple[Hold, ...]
    nonce: int
    """Transactions the account has sent (the next one's nonce)."""
    consumers: int
    """What keeps the account from being reaped (a reserve, a freeze): while any, it must keep the existential
    deposit, whatever a transfer's ``keep_alive``."""
    existential_deposit: int
    """The least an account must keep (free plus reserved) to exist (``Balances.ExistentialDeposit``)."""

    @property
    def total(self) -> int:
        return self.free + self.reserved

    @property
    def transferable(self) -> int:
        """What a transfer that keeps the account alive could send now, before its fee (:meth:`sendable`)."""
        return self.sendable()

    def sendable(self, *, fee: int = 0, keep_alive: bool = True) -> int:
        """What one transfer can send once its ``fee`` is paid, as ``Balances`` reckons it: free less the fee and
        what is frozen, and, if the account must stay (``keep_alive``, or :attr:`consumers`), less the existential
        deposit."""
        spendable = self.free - fee - self.frozen
        if keep_alive or self.consumers:
            spendable = min(spendable, self.total - fee - self.existential_deposit)
        return max(0, spendable)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "transferable": self.transferable}


async def chain_token(chain: AsyncClient) -> Token:
    """The token ``chain``'s node names (``system_properties``: ``tokenSymbol``, ``tokenDecimals``); a chain that
    names none counts in plain units (``UNIT``, no decimals)."""
    properties = await chain.rpc_request("system_properties", [])
    symbol, decimals = properties.get("tokenSymbol", "UNIT"), properties.get("tokenDecimals", 0)
    # Substrate allows a list, one per token of a multi-token chain; the first is the native one.
    symbol = symbol[0] if isinstance(symbol, list) else symbol
    decimals = decimals[0] if isinstance(decimals, list) else decimals
    return Token(str(symbol), int(decimals))


async def stake_shortfall(chain: AsyncClient, account: bytes, stake: int, minimum: int,
                          registration: Call) -> str | None:
    """Why a daemon's ``registration`` (a call holding ``stake``) would be refused, checked before it is sent (a
    refused registration costs its fee), in its operator's terms and in tokens: the stake is below the pallet's
    ``minimum``, or more than ``account`` can put on hold once the fee the node quotes is paid (and how to fund
    it). ``None`` if neither."""
    token = await chain_token(chain)
    if stake < minimum:
        return f"--stake is {token.format(stake)}, below the chain's minimum ({token.format(minimum)})"
    data = (await chain.query("System", "Account", [account])).data
    fee = (await chain.get_payment_info(registration, account))["partialFee"]
    if data.free - data.frozen < stake + fee:  # the fee is taken first; the hold then needs the stake free
        address = ss58_encode(account)
        return (f"{address} holds {token.format(data.free)} free, less than its --stake of {token.format(stake)} and "
                f"the registration's fee ({token.format(fee)}): fund it (`cairn account transfer {address} AMOUNT "
                "--key A_FUNDED_KEY`) or stake less")
    return None


class AccountApi:
    """Balances and transfers, through ``chain``, signed by ``signer`` (``None``: read-only)."""

    def __init__(self, chain: AsyncClient, signer: Keypair | None) -> None:
        self.chain = chain
        self.signer = signer
        self._token: Token | None = None

    async def token(self) -> Token:
        """The chain's token (:func:`chain_token`), asked once."""
        if self._token is None:
            self._token = await chain_token(self.chain)
        return self._token

    async def balance(self, account: AccountLike | None = None) -> Balance:
        """``account``'s balance at the best block (default: the signer's); an account the chain does not know
        holds nothing. :class:`BadArgument` if ``account`` names none."""
        who = self._account(account)
        return await self._balance_at(who, await self.chain.get_chain_head())

    async def _balance_at(self, who: bytes, at: bytes) -> Balance:
        info = await self.chain.query("System", "Account", [who], at)
        holds = await self.chain.query("Balances", "Holds", [who], at)  # at one block: they add up to ``reserved``
        return Balance(who, info.data.free, info.data.reserved, info.data.frozen,
                       tuple(Hold(*self.chain.runtime.hold_reasons.names(h.id), h.amount) for h in holds),
                       info.nonce, info.consumers,
                       self.chain.get_constant("Balances", "ExistentialDeposit"))

    async def transfer(self, dest: AccountLike, amount: int, *, keep_alive: bool = True) -> int:
        """Send ``amount`` units of the signer's free balance to ``dest`` and wait for the block that includes it;
        returns the fee paid. ``keep_alive`` (``Balances.transfer_keep_alive``) refuses to take the signer below
        the existential deposit; ``False`` (``transfer_allow_death``) lets the chain reap an account left with
        less, if nothing is held, reserved or frozen on it. :class:`TransferRefused` if it breaks one of the
        chain's rules (more than the signer can send once the fee is paid, a first transfer to an account below
        the existential deposit, ...): checked here first, on the best block with the fee the node quotes there
        (``payment_queryInfo``), so that a transfer bound to fail costs nothing. What the check cannot see can
        still have the chain refuse it, its fee paid: the balance changing before the transfer's block (another
        transaction of the signer's), or, for an amount within a few units of all it can send, the fee moving
        with the fee multiplier from one block to the next."""
        if self.signer is None:
            raise NoSigner("a transfer is signed: build the client with signer=")
        to = account_argument(dest)
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            raise BadArgument(f"amount must be a non-negative integer of units, got {amount!r}")
        name = "transfer_keep_alive" if keep_alive else "transfer_allow_death"
        call = self.chain.compose_call("Balances", name, {"dest": to, "value": amount})
        await self._check_transfer(call, to, amount, keep_alive)
        receipt = await self.chain.sign_and_submit(call, self.signer, wait_for_inclusion=True)
        failure = receipt.error_message
        if not receipt.is_success:
            raise TransferRefused(f"Balances.{name}: {failure}", failure.name if failure else "unknown", failure)
        return receipt.total_fee_amount

    async def _check_transfer(self, call: Call, to: bytes, amount: int, keep_alive: bool) -> None:
        """``Balances.transfer``'s checks, in its order, on the best block's balances after the fee the node quotes
        at that block (the fee is taken first)."""
        assert self.signer is not None
        at = await self.chain.get_chain_head()
        sender = await self._balance_at(self.signer.public, at)
        fee = (await self.chain.get_payment_info(call, self.signer, at))["partialFee"]
        sendable = sender.sendable(fee=fee, keep_alive=keep_alive)
        if fee > sender.free - sender.frozen or sender.total - fee < sender.existential_deposit:
            raise TransferRefused(f"the signer cannot pay the fee ({fee})", "InsufficientBalance", sendable=0)
        if amount > sender.free - fee - sender.frozen:
            raise TransferRefused(f"{amount} is more than the {sendable} units the signer can send",
                                  "InsufficientBalance", sendable=sendable)
        if to == sender.account or amount == 0:
            return  # the chain lets these through, moving nothing
        receiver = await self.chain.query("System", "Account", [to], at)
        if receiver.providers == 0 and amount < sender.existential_deposit:
            raise TransferRefused(f"the receiver does not exist yet, and {amount} is below the existential deposit "
                                  f"({sender.existential_deposit}) that makes one", "ExistentialDeposit",
                                  sendable=sendable)
        if amount > sendable:
            raise TransferRefused(f"{amount} would leave the signer below the existential deposit "
                                  f"({sender.existential_deposit})", "Expendability", sendable=sendable)

    def _account(self, account: AccountLike | None) -> bytes:
        if account is not None:
            return account_argument(account)
        if self.signer is None:
            raise NoSigner("no account given, and the client has no signer")
        return self.signer.public
