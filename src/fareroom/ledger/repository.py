"""All SQL of the ledger."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update

from fareroom.kit.db import insert_or_ignore
from fareroom.kit.repository import Repository
from fareroom.models.ledger import LedgerAccount, LedgerBalance, LedgerEntry, LedgerTransfer

_balances: Table = LedgerBalance.__table__  # type: ignore[assignment]
_MOVE = (
    update(_balances)
    .where(_balances.c.account_id == bindparam("b_account"),
           _balances.c.shard == bindparam("b_shard"))
    .values(balance=_balances.c.balance + bindparam("b_delta"))
    .returning(_balances.c.balance)
)  # fmt: skip
_MOVE_MANY = (
    update(_balances)
    .where(_balances.c.account_id == bindparam("b_account"),
           _balances.c.shard == bindparam("b_shard"))
    .values(balance=_balances.c.balance + bindparam("b_delta"))
)  # fmt: skip
_BALANCE = select(func.coalesce(func.sum(_balances.c.balance), 0)).where(
    _balances.c.account_id == bindparam("b_account")
)
_TRANSFER = insert(cast(Table, LedgerTransfer.__table__))
_ENTRY = insert(cast(Table, LedgerEntry.__table__))


class LedgerRepository(Repository):
    async def ensure_account(self, values: dict[str, Any]) -> tuple[bool, tuple[int, str, int]]:
        """Insert the account and its balance stripes unless they exist (safe under
        concurrency). Returns (whether this transaction inserted it, so it is not yet
        committed; the account's (id, normal side, shards))."""
        result = await self.session.execute(
            insert_or_ignore(self.session, LedgerAccount, ["key"], values)
        )
        inserted = bool(getattr(result, "rowcount", 0))
        account = await self.account_by_key(values["key"])
        assert account is not None
        stripes = [{"account_id": account[0], "shard": n, "balance": 0}
                   for n in range(values["shards"])]  # fmt: skip
        await self.session.execute(
            insert_or_ignore(self.session, LedgerBalance, ["account_id", "shard"], stripes)
        )
        return inserted, account

    async def account_by_key(self, key: str) -> tuple[int, str, int] | None:
        """(id, normal side, shards) of the account with this key."""
        stmt = select(LedgerAccount.id, LedgerAccount.normal, LedgerAccount.shards).where(
            LedgerAccount.key == key
        )
        row = (await self.session.execute(stmt)).first()
        return (int(row[0]), str(row[1]), int(row[2])) if row else None

    async def add_to_balance(self, account_id: int, shard: int, delta: int) -> int:
        """Lock one stripe and move it in one statement; returns the stripe's new balance."""
        result = await self.session.execute(
            _MOVE, {"b_account": account_id, "b_shard": shard, "b_delta": delta}
        )
        return int(result.scalar_one())

    async def move_many(self, moves: list[tuple[int, int, int]]) -> None:
        """Move several stripes in one executemany, in the order given (the lock order)."""
        await self.session.execute(
            _MOVE_MANY, [{"b_account": a, "b_shard": s, "b_delta": d} for a, s, d in moves]
        )

    async def insert_transfer(self, values: dict[str, Any], legs: list[tuple[int, int]]) -> None:
        # Core statements on the tables, compiled once: the ORM's bulk path costs more than
        # the database's own work here.
        await self.session.execute(_TRANSFER, values)
        await self.session.execute(
            _ENTRY, [{"transfer_id": values["id"], "account_id": a, "amount": amt}
                     for a, amt in legs]
        )  # fmt: skip

    async def balance_of(self, account_id: int) -> int:
        """The sum of one account's stripes (at most ``shards`` rows, whatever its history)."""
        result = await self.session.execute(_BALANCE, {"b_account": account_id})
        return int(result.scalar_one())

    async def balance_by_key(self, key: str) -> tuple[str, int] | None:
        """(normal side, signed balance) in one query: the sum of at most ``shards`` rows."""
        stmt = (
            select(LedgerAccount.normal, func.coalesce(func.sum(LedgerBalance.balance), 0))
            .join(LedgerBalance, LedgerBalance.account_id == LedgerAccount.id)
            .where(LedgerAccount.key == key)
            .group_by(LedgerAccount.normal)
        )
        row = (await self.session.execute(stmt)).first()
        return (str(row[0]), int(row[1])) if row else None

    async def mismatched_accounts(self) -> list[tuple[str, int, int]]:
        """Accounts whose balance stripes do not add up to the sum of their entries."""
        entries = (
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount).label("total"))
            .group_by(LedgerEntry.account_id)
            .subquery()
        )
        stripes = (
            select(LedgerBalance.account_id, func.sum(LedgerBalance.balance).label("cached"))
            .group_by(LedgerBalance.account_id)
            .subquery()
        )
        cached = func.coalesce(stripes.c.cached, 0)
        total = func.coalesce(entries.c.total, 0)
        stmt = (
            select(LedgerAccount.key, cached, total)
            .outerjoin(stripes, stripes.c.account_id == LedgerAccount.id)
            .outerjoin(entries, entries.c.account_id == LedgerAccount.id)
            .where(cached != total)
        )
        return [(k, int(b), int(t)) for k, b, t in (await self.session.execute(stmt)).all()]

    async def unbalanced_transfers(self) -> list[str]:
        stmt = (
            select(LedgerEntry.transfer_id)
            .group_by(LedgerEntry.transfer_id)
            .having(func.sum(LedgerEntry.amount) != 0)
        )
        return [row[0] for row in (await self.session.execute(stmt)).all()]

    async def business_totals(self, business_id: str, currency: str) -> list[tuple[str, str, int]]:
        """Sum of entries by (account kind, transfer kind) over one business's transfers."""
        stmt = (
            select(LedgerAccount.kind, LedgerTransfer.kind, func.sum(LedgerEntry.amount))
            .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
            .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
            .where(LedgerTransfer.business_id == business_id, LedgerTransfer.currency == currency)
            .group_by(LedgerAccount.kind, LedgerTransfer.kind)
        )
        return [(a, t, int(s)) for a, t, s in (await self.session.execute(stmt)).all()]

    async def currencies_of(self, business_id: str) -> list[str]:
        stmt = select(LedgerAccount.currency).where(
            LedgerAccount.business_id == business_id, LedgerAccount.kind == "business_balance"
        )
        return sorted({row[0] for row in (await self.session.execute(stmt)).all()})
