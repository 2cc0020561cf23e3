"""The ledger service: balanced transfers between accounts; the only writer of balances.

Invariants (tested with worked examples and property tests):
- every transfer's entries sum to zero and share one currency;
- an account's balance (the sum of its stripes in ``ledger_balances``) equals the sum of
  its entries (``verify``);
- entries are append-only; nothing updates or deletes them;
- new accounts are created in key order and balance stripes are locked in ascending
  (account, stripe) order, so concurrent postings never deadlock;
- a posting writes its transfer and entries first and moves balances last, so row locks
  are held only for the end of the transaction;
- platform accounts, which every payment touches, are striped over ``PLATFORM_SHARDS`` rows
  and a posting moves one stripe at random: concurrent payments do not queue on one row;
- a posting may name accounts that must not fall below zero on their normal side
  (``floors``); if one would, nothing is written (``InsufficientFunds``).

Sign convention: debits positive, credits negative. ``normal`` says which side an account
grows on: an asset or expense is debit-normal, a liability or revenue credit-normal.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.kit.clock import Clock
from fareroom.kit.errors import Conflict
from fareroom.kit.ids import new_id
from fareroom.kit.money import CurrencyMismatch
from fareroom.ledger.repository import LedgerRepository

PLATFORM_SHARDS = 16

# kind → normal side. Platform accounts have no business; business accounts do.
ACCOUNT_KINDS: dict[str, str] = {
    "gateway_funds": "debit",  # money held for us at the gateway (asset)
    "processing_fees": "debit",  # fees the gateway kept (expense)
    "processing_fees_recharged": "credit",  # the part of those fees businesses bore
    "platform_fee_revenue": "credit",  # the platform's fee income
    "business_balance": "credit",  # what the platform owes each business
    "client_receivable": "debit",  # what a client owes
    "client_wallet": "credit",  # a client's prepaid credit
    "written_off_debt": "debit",  # debt given up
    "abandoned_debt": "credit",  # what clients left unpaid when an agent gave up collecting
    "bills_outstanding": "credit",  # what the business's open bills claim of its clients
    "wallets_issued": "debit",  # the business's side of its clients' wallets (their sum)
}


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


@dataclass(frozen=True)
class AccountRef:
    kind: str
    currency: str
    business_id: str | None = None
    owner_id: str | None = None  # a client, for client accounts

    @property
    def key(self) -> str:
        scope = self.business_id or "platform"
        owner = f":{self.owner_id}" if self.owner_id else ""
        return f"{scope}:{self.kind}{owner}:{self.currency}"


def _stripe(account: Account) -> int:
    return random.randrange(account.shards) if account.shards > 1 else 0


def platform(kind: str, currency: str) -> AccountRef:
    return AccountRef(kind, currency)


def business(kind: str, currency: str, business_id: str) -> AccountRef:
    return AccountRef(kind, currency, business_id)


@dataclass(frozen=True)
class Account:
    id: int
    key: str
    normal: str
    shards: int


def normal_balance(normal: str, signed: int) -> int:
    """A signed (debit-positive) balance seen from the account's normal side."""
    return signed if normal == "debit" else -signed


class Ledger:
    """Posts transfers in the caller's transaction.

    ``accounts`` is a cache of account ids shared by the process (accounts are never changed
    or deleted). Only accounts read back as already existing go in it, never one this
    transaction inserted, which a rollback could still undo.
    """

    def __init__(
        self, session: AsyncSession, clock: Clock, accounts: dict[str, Account] | None = None
    ) -> None:
        self._repo = LedgerRepository(session)
        self._clock = clock
        self._shared = accounts if accounts is not None else {}
        self._local: dict[str, Account] = {}

    async def account(self, ref: AccountRef) -> Account:
        found = self._local.get(ref.key) or self._shared.get(ref.key)
        if found is not None:
            return found
        if ref.kind not in ACCOUNT_KINDS:
            raise ValueError(f"unknown account kind {ref.kind!r}")
        row = await self._repo.account_by_key(ref.key)
        committed = row is not None
        if row is None:
            shards = PLATFORM_SHARDS if ref.business_id is None and ref.owner_id is None else 1
            inserted, row = await self._repo.ensure_account({
                "key": ref.key, "business_id": ref.business_id, "kind": ref.kind,
                "currency": ref.currency, "normal": ACCOUNT_KINDS[ref.kind], "shards": shards,
                "created_at": self._clock.now()})  # fmt: skip
            committed = not inserted
        account = Account(row[0], ref.key, row[1], row[2])
        (self._shared if committed else self._local)[ref.key] = account
        return account

    async def post(
        self,
        *,
        kind: str,
        reference: str,
        currency: str,
        legs: Iterable[tuple[AccountRef, int]],
        business_id: str | None = None,
        event_at: datetime | None = None,
        floors: Iterable[AccountRef] = (),
    ) -> str:
        """Write one balanced transfer; returns its id. Zero legs are dropped.

        ``floors`` name accounts that must not fall below zero on their normal side; they
        must be unstriped (a floor needs the whole balance under one lock).
        """
        per_account: dict[str, int] = defaultdict(int)
        refs: dict[str, AccountRef] = {}
        for ref, amount in legs:
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise TypeError("ledger amounts are int minor units")
            if ref.currency != currency:
                raise CurrencyMismatch("A transfer cannot mix currencies.")
            per_account[ref.key] += amount
            refs[ref.key] = ref
        if sum(per_account.values()) != 0:
            raise ValueError(f"unbalanced transfer {kind}: {dict(per_account)}")
        # Accounts are looked up (and created, the first time) in key order: two transfers
        # creating the same new accounts would otherwise lock them in opposite orders.
        moves = [(await self.account(refs[k]), per_account[k]) for k in sorted(per_account)
                 if per_account[k]]  # fmt: skip
        if not moves:
            raise ValueError("a transfer needs at least one non-zero leg")
        moves.sort(key=lambda m: m[0].id)
        floor_keys = {f.key for f in floors}
        if floor_keys:
            await self._move_checked(moves, floor_keys, currency)
        transfer_id = new_id("tr")
        now = self._clock.now()
        await self._repo.insert_transfer(
            {"id": transfer_id, "business_id": business_id, "kind": kind,
             "reference": reference, "currency": currency, "event_at": event_at or now,
             "created_at": now},
            [(account.id, amount) for account, amount in moves],
        )  # fmt: skip
        if not floor_keys:
            await self._repo.move_many([(a.id, _stripe(a), amount) for a, amount in moves])
        return transfer_id

    async def _move_checked(
        self, moves: list[tuple[Account, int]], floor_keys: set[str], currency: str
    ) -> None:
        applied: list[tuple[Account, int, int]] = []
        for account, amount in moves:
            if account.key in floor_keys and account.shards != 1:
                raise ValueError("a floor needs an unstriped account")
            shard = _stripe(account)
            new_balance = await self._repo.add_to_balance(account.id, shard, amount)
            applied.append((account, shard, amount))
            if account.key in floor_keys and normal_balance(account.normal, new_balance) < 0:
                # Undo what this posting moved (we hold the row locks), so a caller that
                # handles the error inside its transaction is left with consistent books.
                for done, done_shard, moved in applied:
                    await self._repo.add_to_balance(done.id, done_shard, -moved)
                raise InsufficientFunds(
                    "The balance is too low for this.",
                    available=normal_balance(account.normal, new_balance - amount),
                    currency=currency,
                )

    async def balance(self, ref: AccountRef) -> int:
        """The account's balance on its normal side (0 for an account never used)."""
        known = self._local.get(ref.key) or self._shared.get(ref.key)
        if known is not None:
            return normal_balance(known.normal, await self._repo.balance_of(known.id))
        found = await self._repo.balance_by_key(ref.key)
        return normal_balance(*found) if found else 0

    async def verify(self) -> list[str]:
        """Problems found: unbalanced transfers, balances that disagree with their entries."""
        problems = [
            f"transfer {t} does not balance" for t in await self._repo.unbalanced_transfers()
        ]
        problems += [
            f"account {k}: balance {b} != entries {s}"
            for k, b, s in await self._repo.mismatched_accounts()
        ]
        return problems

    async def business_summary(self, business_id: str) -> dict[str, dict[str, int]]:
        """Per currency: available balance and totals by what moved it, read from the ledger."""
        out: dict[str, dict[str, int]] = {}
        for currency in await self._repo.currencies_of(business_id):
            rows = await self._repo.business_totals(business_id, currency)
            total: dict[tuple[str, str], int] = {(a, t): s for a, t, s in rows}

            def of(account_kind: str, *transfer_kinds: str, t: dict = total) -> int:
                return sum(t.get((account_kind, k), 0) for k in transfer_kinds)

            fees = of("processing_fees", "payment_captured")
            out[currency] = {
                "available": await self.balance(business("business_balance", currency,
                                                         business_id)),
                "gross": of("gateway_funds", "payment_captured") + fees,
                "platform_fees": -of("platform_fee_revenue", "payment_captured"),
                "processing_fees": fees,
                "refunds": of("business_balance", "payment_refunded"),
                "payouts": of("business_balance", "payout_paid"),
            }  # fmt: skip
            out[currency]["net"] = -of("business_balance", "payment_captured", "payment_refunded")
        return out
