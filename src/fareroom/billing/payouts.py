"""Payouts on a schedule, and what the payouts page shows: the available balance, the next
automatic payout, the payouts made (with the day each arrives) and the transfers that made
the balance (each captured payment's net).

A business's schedule (``BillingSettings.payout_schedule``): ``manual`` (the business pays
out when it asks), ``daily``, or ``weekly`` on a weekday. On a day the schedule names, the
worker's daily schedule pays out the whole available balance, once: the payout's id is the
business's and the day's (``po_<business><yyyymmdd>``), so a second worker, or a second
tick that day, finds it made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.kit.clock import Clock
from fareroom.kit.errors import ValidationFailed
from fareroom.kit.repository import Repository
from fareroom.ledger.service import Ledger, business
from fareroom.models.billing import BillingSettings
from fareroom.models.business import Business
from fareroom.models.payment import Payment, PaymentStatus, Payout
from fareroom.payments.service import PaymentsService

SCHEDULES = ("manual", "daily", "weekly")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class PayoutsView:
    currency: str
    available: int
    schedule: str
    weekday: int | None
    next_on: date | None  # the next automatic payout (None: manual)
    payouts: Sequence[Payout]
    transfers: Sequence[Payment]  # captured payments, newest first: what came in


class PayoutsRepository(Repository):
    async def scheduled(self) -> Sequence[BillingSettings]:
        stmt = select(BillingSettings).where(BillingSettings.payout_schedule != "manual")
        return (await self.session.scalars(stmt)).all()

    async def transfers(self, business_id: str, *, limit: int) -> Sequence[Payment]:
        return await self.newest_first(
            Payment, business_id, Payment.status == PaymentStatus.SUCCEEDED, limit=limit
        )

    async def payout(self, payout_id: str) -> Payout | None:
        return await self.session.get(Payout, payout_id)


def next_payout(schedule: str, weekday: int | None, today: date) -> date | None:
    """The first day from ``today`` the schedule pays out on."""
    if schedule == "daily":
        return today
    if schedule == "weekly" and weekday is not None:
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    return None


class PayoutsService:
    def __init__(self, session: AsyncSession, clock: Clock, ledger: Ledger,
                 payments: PaymentsService) -> None:  # fmt: skip
        self._repo = PayoutsRepository(session)
        self._session = session
        self._clock = clock
        self._ledger = ledger
        self._payments = payments

    async def _settings(self, business_id: str) -> BillingSettings | None:
        return await self._session.get(BillingSettings, business_id)

    async def available(self, biz: Business) -> int:
        return await self._ledger.balance(business("business_balance", biz.default_currency,
                                                   biz.id))  # fmt: skip

    async def view(self, biz: Business) -> PayoutsView:
        found = await self._settings(biz.id)
        schedule = found.payout_schedule if found else "manual"
        weekday = found.payout_weekday if found else None
        today = self._clock.now().date()
        return PayoutsView(biz.default_currency, await self.available(biz), schedule, weekday,
                           next_payout(schedule, weekday, today),
                           await self._payments.payouts(biz.id, limit=50),
                           await self._repo.transfers(biz.id, limit=50))  # fmt: skip

    async def set_schedule(self, biz: Business, schedule: str, weekday: int | None) -> None:
        if schedule not in SCHEDULES:
            raise ValidationFailed("Pay out manually, daily or weekly.", code="invalid_schedule")
        if schedule == "weekly" and (weekday is None or not 0 <= weekday <= 6):
            raise ValidationFailed("A weekly payout names its day of the week.",
                                   code="invalid_weekday")  # fmt: skip
        found = await self._settings(biz.id)
        if found is None:
            found = BillingSettings(business_id=biz.id, retry_days="3,5,7", reminders=True,
                                    updated_at=self._clock.now())  # fmt: skip
            self._session.add(found)
        found.payout_schedule = schedule
        found.payout_weekday = weekday if schedule == "weekly" else None
        found.updated_at = self._clock.now()
        await self._session.flush()

    async def due(self, today: date) -> list[str]:
        """The businesses whose schedule pays out today."""
        return [s.business_id for s in await self._repo.scheduled()
                if next_payout(s.payout_schedule, s.payout_weekday, today) == today]  # fmt: skip

    async def pay_out_scheduled(self, biz: Business, today: date) -> Payout | None:
        """Today's automatic payout of the whole available balance (once a day)."""
        payout_id = f"po_{biz.id.removeprefix('biz_')}{today:%Y%m%d}"
        if await self._repo.payout(payout_id) is not None:
            return None
        available = await self.available(biz)
        if available < 1:
            return None
        return await self._payments.payout(biz, amount=available, payout_id=payout_id,
                                           automatic=True)  # fmt: skip
