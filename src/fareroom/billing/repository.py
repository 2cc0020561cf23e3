"""Bills' SQL: every query is scoped to one business."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select

from fareroom.kit.repository import Repository
from fareroom.models.billing import Bill, BillAttempt, BillingSettings, BillLine, BillStatus


class BillsRepository(Repository):
    async def bill(self, business_id: str, bill_id: str, *, lock: bool = False) -> Bill | None:
        return await self.of_business(Bill, business_id, bill_id, lock=lock)

    async def by_reference(self, business_id: str, references: Sequence[str]) -> set[str]:
        """Which of these references the business's bills have already."""
        if not references:
            return set()
        stmt = select(Bill.reference).where(Bill.business_id == business_id,
                                            Bill.reference.in_(references))  # fmt: skip
        return set((await self.session.scalars(stmt)).all())

    async def lines(self, bill_id: str) -> Sequence[BillLine]:
        stmt = select(BillLine).where(BillLine.bill_id == bill_id).order_by(BillLine.position)
        return (await self.session.scalars(stmt)).all()

    async def attempts(self, bill_id: str) -> Sequence[BillAttempt]:
        stmt = (
            select(BillAttempt).where(BillAttempt.bill_id == bill_id).order_by(BillAttempt.number)
        )
        return (await self.session.scalars(stmt)).all()

    async def bills(
        self, business_id: str, *, limit: int, starting_after: str | None = None,
        status: BillStatus | None = None, client_id: str | None = None, tag: str | None = None,
        due_on_or_before: date | None = None,
    ) -> Sequence[Bill]:  # fmt: skip
        where = []
        if status is not None:
            where.append(Bill.status == status)
        if client_id is not None:
            where.append(Bill.client_id == client_id)
        if tag is not None:
            where.append(Bill.tag == tag)
        if due_on_or_before is not None:
            where.append(Bill.due_on <= due_on_or_before)
        return await self.newest_first(
            Bill, business_id, *where, limit=limit, starting_after=starting_after
        )

    async def settings(self, business_id: str) -> BillingSettings | None:
        return await self.session.get(BillingSettings, business_id)
