"""All SQL of the ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.models.ledger import LedgerAccount, LedgerEntry, LedgerTransfer


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ensure_account(self, values: dict[str, Any]) -> LedgerAccount:
        """Insert the account if its key is new (safe under concurrency), then read it."""
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        ins = pg_insert if dialect == "postgresql" else sqlite_insert
        await self.session.execute(
            ins(LedgerAccount).values(**values).on_conflict_do_nothing(index_elements=["key"])
        )
        account = await self.account_by_key(values["key"])
        assert account is not None
        return account

    async def account_by_key(self, key: str) -> LedgerAccount | None:
        stmt = select(LedgerAccount).where(LedgerAccount.key == key)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_to_balance(self, account_id: int, delta: int) -> int:
        """Lock the row and move its cached balance in one statement; returns the new balance."""
        stmt = (
            update(LedgerAccount)
            .where(LedgerAccount.id == account_id)
            .values(balance=LedgerAccount.balance + delta)
            .returning(LedgerAccount.balance)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def insert_transfer(self, values: dict[str, Any], legs: list[tuple[int, int]]) -> None:
        await self.session.execute(insert(LedgerTransfer).values(**values))
        await self.session.execute(
            insert(LedgerEntry),
            [{"transfer_id": values["id"], "account_id": a, "amount": amt} for a, amt in legs],
        )

    async def cached_balance(self, account_id: int) -> int:
        stmt = select(LedgerAccount.balance).where(LedgerAccount.id == account_id)
        return int((await self.session.execute(stmt)).scalar_one())

    async def entries_sum(self, account_id: int) -> int:
        stmt = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.account_id == account_id
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def mismatched_accounts(self) -> list[tuple[str, int, int]]:
        """Accounts whose cached balance differs from the sum of their entries."""
        sums = (
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount).label("total"))
            .group_by(LedgerEntry.account_id)
            .subquery()
        )
        stmt = (
            select(LedgerAccount.key, LedgerAccount.balance, func.coalesce(sums.c.total, 0))
            .outerjoin(sums, sums.c.account_id == LedgerAccount.id)
            .where(LedgerAccount.balance != func.coalesce(sums.c.total, 0))
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
