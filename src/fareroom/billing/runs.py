"""Payment runs: a selection of open bills, charged once each by the worker, chunk by chunk.

Starting a run selects its bills (``Criteria``) and writes one item per bill, in chunks of
``CHUNK`` bills, and defers a job per chunk, all in one transaction: the run and its jobs
exist together or not at all. A chunk's job (``billing.tasks``) takes its pending items one
by one, each in a transaction of its own that locks the item first: an item is charged
only while it is pending, so two jobs of one chunk (a run stopped and run again while a job
was still at work, a job retried after its worker died) charge each bill once.

Stopping a run lets no new charge start (a job at work finishes the bill in hand). Running
it again defers a job for each chunk with pending items, having first made pending again
the items the gateway was away for (``gateway_unavailable``: their pending attempt is asked
again under the same key, so what the gateway did is what is recorded, never a second
charge). A run with nothing pending is finished.

Which bills a run takes: open bills of the business (unsettled or partly paid), due by the
criteria, whose retry day (after a decline) has come, and that no other live run holds. A
``retry`` run takes the bills whose retry day is today or past; an ``autopay`` run those
whose client (or business) pays them N days before they are due.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.billing.collect import GATEWAY_UNAVAILABLE, Collected
from fareroom.jobs import Jobs
from fareroom.kit.clock import Clock
from fareroom.kit.errors import Conflict, NotFound, ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.kit.money import MAX_CHARGE_MINOR, normalise_currency
from fareroom.kit.repository import Repository, for_update
from fareroom.models.billing import (
    OPEN,
    Bill,
    BillingSettings,
    ItemStatus,
    PaymentRun,
    RunDefinition,
    RunItem,
    RunStatus,
)
from fareroom.models.business import Business
from fareroom.models.client import Card, Client

CHUNK = 50
CHUNK_TASK = "billing.chunk"
MAX_DAYS_AHEAD = 366
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]", re.ASCII)
LIVE = (RunStatus.RUNNING, RunStatus.STOPPED)  # runs that still hold their pending bills


class RunNotFound(NotFound):
    code = "run_not_found"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"No payment run {run_id!r} in this business.")


@dataclass(frozen=True)
class Criteria:
    """Which open bills a run takes. No due date: every open bill."""

    due_on_or_before: date | None = None
    due_within_days: int | None = None  # due today or in the next N days
    min_amount: int | None = None  # what is left to pay, minor units
    max_amount: int | None = None
    currency: str | None = None
    tag: str | None = None
    recurring_only: bool = False  # only clients whose card is authorised for recurring use
    retries_due: bool = False  # a retry run: only bills whose retry day has come
    autopay: bool = False  # an autopay run: bills due within their client's autopay days
    autopay_days: int | None = None  # the business's, for clients with no setting of their own

    def checked(self) -> Criteria:
        if self.due_on_or_before is not None and self.due_within_days is not None:
            raise ValidationFailed("Select by a due date or by days ahead, not both.",
                                   code="invalid_criteria")  # fmt: skip
        if self.due_within_days is not None and not 0 <= self.due_within_days <= MAX_DAYS_AHEAD:
            raise ValidationFailed(f"Days ahead are 0 to {MAX_DAYS_AHEAD}.",
                                   code="invalid_criteria")  # fmt: skip
        for amount in (self.min_amount, self.max_amount):
            if amount is not None and not 0 <= amount <= MAX_CHARGE_MINOR:
                raise ValidationFailed("An amount range is 0 to the largest charge.",
                                       code="invalid_criteria")  # fmt: skip
        if (self.min_amount is not None and self.max_amount is not None
                and self.min_amount > self.max_amount):  # fmt: skip
            raise ValidationFailed("The smallest amount is above the largest.",
                                   code="invalid_criteria")  # fmt: skip
        if self.tag is not None and len(self.tag) > 40:
            raise ValidationFailed("A tag is at most 40 characters.", code="invalid_criteria")
        currency = normalise_currency(self.currency) if self.currency else None
        return Criteria(**{**asdict(self), "currency": currency})

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v not in (None, False)}
        if self.due_on_or_before is not None:
            out["due_on_or_before"] = self.due_on_or_before.isoformat()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Criteria:
        data = dict(data)
        if data.get("due_on_or_before"):
            data["due_on_or_before"] = date.fromisoformat(data["due_on_or_before"])
        return cls(**data)


@dataclass
class Progress:
    run: PaymentRun
    counts: dict[str, int] = field(default_factory=dict)  # by item status
    amounts: dict[str, int] = field(default_factory=dict)  # by item status
    failures: dict[str, int] = field(default_factory=dict)  # by decline code or reason

    @property
    def done(self) -> int:
        return sum(n for status, n in self.counts.items() if status != ItemStatus.PENDING)


class RunsRepository(Repository):
    async def run(self, business_id: str | None, run_id: str, *, lock: bool = False
                  ) -> PaymentRun | None:  # fmt: skip
        if business_id is not None:
            return await self.of_business(PaymentRun, business_id, run_id, lock=lock)
        stmt = select(PaymentRun).where(PaymentRun.id == run_id)
        return await self.session.scalar(for_update(stmt) if lock else stmt)

    async def selectable(self, biz: Business, criteria: Criteria, today: date
                         ) -> Sequence[tuple[str, int]]:  # fmt: skip
        """The (bill id, amount left) of the open bills the criteria take, oldest due first."""
        left = Bill.amount - Bill.amount_paid
        where = [Bill.business_id == biz.id, Bill.status.in_(OPEN),
                 or_(Bill.next_try_on.is_(None), Bill.next_try_on <= today)]  # fmt: skip
        c = criteria
        cutoff = c.due_on_or_before
        if c.due_within_days is not None:
            cutoff = today + timedelta(days=c.due_within_days)
        if cutoff is not None:
            where.append(Bill.due_on <= cutoff)
        if c.min_amount is not None:
            where.append(left >= c.min_amount)
        if c.max_amount is not None:
            where.append(left <= c.max_amount)
        if c.currency:
            where.append(Bill.currency == c.currency)
        if c.tag:
            where.append(Bill.tag == c.tag)
        if c.retries_due:
            where.append(Bill.next_try_on.is_not(None))
        if c.recurring_only or c.autopay:
            where.append(Bill.client_id == Client.id)
        if c.recurring_only:
            where.append(exists().where(Card.id == Client.default_card_id,
                                        Card.recurring_authorised.is_(True),
                                        Card.deleted_at.is_(None)))  # fmt: skip
        if c.autopay and c.autopay_days is None:  # the clients' own setting only
            where.append(Client.autopay_days.is_not(None))
        held = exists().where(
            RunItem.bill_id == Bill.id,
            RunItem.status == ItemStatus.PENDING,
            RunItem.run_id == PaymentRun.id,
            PaymentRun.status.in_(LIVE),
        )
        where.append(~held)
        columns = [Bill.id, left, Bill.due_on] + ([Client.autopay_days] if c.autopay else [])
        rows: Any = await self.session.execute(
            select(*columns).where(*where).order_by(Bill.due_on, Bill.id)
        )
        if not c.autopay:
            return [(row[0], row[1]) for row in rows]
        # a bill is paid automatically N days before it is due: on that day or after it
        return [(row[0], row[1]) for row in rows
                if row[2] - timedelta(days=row[3] if row[3] is not None
                                      else c.autopay_days or 0) <= today]  # fmt: skip

    async def add_items(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), 1_000):
            await self.session.execute(insert(RunItem), rows[start : start + 1_000])

    async def claim(self, run_id: str, bill_id: str) -> tuple[RunItem, str] | None:
        """The item, locked (the run's row is not), and its run's status: one query."""
        stmt = (select(RunItem, PaymentRun.status).join(PaymentRun, PaymentRun.id == RunItem.run_id)
                .where(RunItem.run_id == run_id, RunItem.bill_id == bill_id)
                .with_for_update(of=RunItem).execution_options(populate_existing=True))  # fmt: skip
        row = (await self.session.execute(stmt)).first()
        return (row[0], row[1]) if row is not None else None

    async def pending(self, run_id: str, chunk: int | None = None) -> Sequence[str]:
        where = [RunItem.run_id == run_id, RunItem.status == ItemStatus.PENDING]
        if chunk is not None:
            where.append(RunItem.chunk == chunk)
        stmt = select(RunItem.bill_id).where(*where).order_by(RunItem.bill_id)
        return (await self.session.scalars(stmt)).all()

    async def pending_chunks(self, run_id: str) -> Sequence[int]:
        stmt = (select(RunItem.chunk).where(RunItem.run_id == run_id,
                                            RunItem.status == ItemStatus.PENDING)
                .distinct().order_by(RunItem.chunk))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def any_pending(self, run_id: str) -> bool:
        stmt = (
            select(RunItem.bill_id)
            .where(RunItem.run_id == run_id, RunItem.status == ItemStatus.PENDING)
            .limit(1)
        )
        return (await self.session.scalar(stmt)) is not None

    async def requeue_unreached(self, run_id: str, now: datetime) -> int:
        stmt = (update(RunItem)
                .where(RunItem.run_id == run_id, RunItem.status == ItemStatus.FAILED,
                       RunItem.reason == GATEWAY_UNAVAILABLE)
                .values(status=ItemStatus.PENDING, updated_at=now))  # fmt: skip
        return (await self.session.execute(stmt)).rowcount  # type: ignore[attr-defined]

    async def tallies(self, run_id: str) -> Sequence[tuple[str, str | None, int, int]]:
        """(status, failure, count, amount) of the run's items."""
        failure = func.coalesce(RunItem.decline_code, RunItem.reason)
        stmt = (select(RunItem.status, failure, func.count(), func.sum(RunItem.amount))
                .where(RunItem.run_id == run_id).group_by(RunItem.status, failure))  # fmt: skip
        return [(r[0], r[1], r[2], int(r[3] or 0)) for r in await self.session.execute(stmt)]

    async def report(self, run_id: str) -> Sequence[tuple[RunItem, Bill, Client]]:
        stmt = (select(RunItem, Bill, Client)
                .join(Bill, Bill.id == RunItem.bill_id).join(Client, Client.id == Bill.client_id)
                .where(RunItem.run_id == run_id).order_by(Bill.due_on, Bill.id))  # fmt: skip
        return [(r[0], r[1], r[2]) for r in await self.session.execute(stmt)]

    async def runs(self, business_id: str, *, limit: int, starting_after: str | None = None
                   ) -> Sequence[PaymentRun]:  # fmt: skip
        return await self.newest_first(PaymentRun, business_id, limit=limit,
                                       starting_after=starting_after)  # fmt: skip

    async def definition(self, business_id: str, definition_id: str, *, lock: bool = False
                         ) -> RunDefinition | None:  # fmt: skip
        return await self.of_business(RunDefinition, business_id, definition_id, lock=lock)

    async def definitions(self, business_id: str) -> Sequence[RunDefinition]:
        stmt = (select(RunDefinition).where(RunDefinition.business_id == business_id)
                .order_by(RunDefinition.id))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def due_definitions(self, today: date, time_of_day: str) -> Sequence[tuple[str, str]]:
        stmt = select(RunDefinition.business_id, RunDefinition.id).where(
            RunDefinition.daily_at.is_not(None),
            RunDefinition.daily_at <= time_of_day,
            or_(RunDefinition.last_run_on.is_(None), RunDefinition.last_run_on < today),
        )
        return [(r[0], r[1]) for r in await self.session.execute(stmt)]

    async def with_retries_due(self, today: date) -> Sequence[str]:
        stmt = select(Bill.business_id).where(Bill.status.in_(OPEN), Bill.next_try_on <= today
                                              ).distinct()  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def with_autopay(self) -> Sequence[tuple[str, int | None]]:
        """The businesses whose bills are (some) paid automatically: (id, their own days)."""
        own = select(BillingSettings.business_id, BillingSettings.autopay_days).where(
            BillingSettings.autopay_days.is_not(None)
        )
        found = {r[0]: r[1] for r in await self.session.execute(own)}
        clients = select(Client.business_id).where(Client.autopay_days.is_not(None)).distinct()
        for business_id in await self.session.scalars(clients):
            found.setdefault(business_id, None)
        return sorted(found.items())

    async def ran_today(self, business_id: str, kind: str, since: datetime) -> bool:
        stmt = (
            select(PaymentRun.id)
            .where(
                PaymentRun.business_id == business_id,
                PaymentRun.kind == kind,
                PaymentRun.created_at >= since,
            )
            .limit(1)
        )
        return (await self.session.scalar(stmt)) is not None

    async def running(self) -> Sequence[str]:
        stmt = select(PaymentRun.id).where(PaymentRun.status == RunStatus.RUNNING)
        return (await self.session.scalars(stmt)).all()


class RunsService:
    def __init__(self, session: AsyncSession, clock: Clock, jobs: Jobs) -> None:
        self._repo = RunsRepository(session)
        self._session = session
        self._clock = clock
        self._jobs = jobs

    def today(self) -> date:
        return self._clock.now().date()

    async def start(self, biz: Business, criteria: Criteria, *, kind: str = "run",
                    definition_id: str | None = None, started_by: str | None = None,
                    run_id: str | None = None) -> PaymentRun:  # fmt: skip
        """Select the bills and defer their chunks, in this transaction. A run that finds
        no bill is written finished (a schedule's run on a quiet day is recorded too)."""
        criteria = criteria.checked()
        if criteria.currency and criteria.currency != biz.default_currency:
            raise ValidationFailed(f"This business bills in {biz.default_currency}.",
                                   code="currency_mismatch")  # fmt: skip
        now = self._clock.now()
        bills = await self._repo.selectable(biz, criteria, self.today())
        run = PaymentRun(id=run_id or new_id("run"), business_id=biz.id,
                         definition_id=definition_id, kind=kind, criteria=criteria.as_json(),
                         status=RunStatus.RUNNING if bills else RunStatus.FINISHED,
                         bills=len(bills), amount=sum(a for _, a in bills),
                         currency=biz.default_currency, started_by=started_by, created_at=now,
                         finished_at=None if bills else now)  # fmt: skip
        await self._repo.add(run)
        await self._repo.add_items([
            {"run_id": run.id, "bill_id": bill_id, "chunk": n // CHUNK, "amount": amount,
             "status": ItemStatus.PENDING, "updated_at": now}
            for n, (bill_id, amount) in enumerate(bills)])  # fmt: skip
        await self._defer(run.id, range((len(bills) + CHUNK - 1) // CHUNK))
        return run

    async def _defer(self, run_id: str, chunks: Sequence[int] | range) -> None:
        await self._jobs.defer(self._session, CHUNK_TASK,
                               [{"run_id": run_id, "chunk": c} for c in chunks])  # fmt: skip

    async def _locked(self, business_id: str, run_id: str) -> PaymentRun:
        run = await self._repo.run(business_id, run_id, lock=True)
        if run is None:
            raise RunNotFound(run_id)
        return run

    async def stop(self, biz: Business, run_id: str) -> PaymentRun:
        run = await self._locked(biz.id, run_id)
        if run.status != RunStatus.RUNNING:
            raise Conflict(f"This run is {run.status}; only a running run can be stopped.",
                           code="run_not_running", run_status=run.status)  # fmt: skip
        run.status = RunStatus.STOPPED
        return run

    async def again(self, biz: Business, run_id: str) -> PaymentRun:
        """Run a stopped run again, and the bills of a run the gateway was away for."""
        run = await self._locked(biz.id, run_id)
        if run.status == RunStatus.RUNNING:
            raise Conflict("This run is running already.", code="run_running")
        await self._repo.requeue_unreached(run.id, self._clock.now())
        chunks = await self._repo.pending_chunks(run.id)
        if not chunks:
            raise Conflict("This run has no bill left to charge.", code="run_nothing_left")
        run.status, run.finished_at = RunStatus.RUNNING, None
        await self._defer(run.id, chunks)
        return run

    # ------------------------------------------------------------ the worker's

    async def live(self, run_id: str) -> PaymentRun | None:
        """The run, if it is running."""
        run = await self._repo.run(None, run_id)
        return run if run is not None and run.status == RunStatus.RUNNING else None

    async def pending(self, run_id: str, chunk: int) -> Sequence[str]:
        return await self._repo.pending(run_id, chunk)

    async def claim(self, run_id: str, bill_id: str) -> RunItem | None | Literal[False]:
        """The item, locked, if it is still to do and its run is running; None if it is
        done already; False if the run is no longer running."""
        found = await self._repo.claim(run_id, bill_id)
        if found is None or found[0].status != ItemStatus.PENDING:
            return None
        return found[0] if found[1] == RunStatus.RUNNING else False

    def record(self, item: RunItem, outcome: Collected) -> None:
        item.status, item.attempt = outcome.status, outcome.attempt
        item.payment_id, item.decline_code = outcome.payment_id, outcome.decline_code
        item.reason, item.updated_at = outcome.reason, self._clock.now()

    async def finish_if_done(self, run_id: str) -> bool:
        run = await self._repo.run(None, run_id, lock=True)
        if run is None or run.status != RunStatus.RUNNING or await self._repo.any_pending(run_id):
            return False
        run.status, run.finished_at = RunStatus.FINISHED, self._clock.now()
        return True

    # ------------------------------------------------------------ definitions, the schedule

    async def define(self, biz: Business, *, name: str, criteria: Criteria,
                     daily_at: str | None) -> RunDefinition:  # fmt: skip
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise ValidationFailed("Name the run in 1 to 100 characters.", code="invalid_name")
        if daily_at is not None and not _TIME.fullmatch(daily_at):
            raise ValidationFailed("A time of day is HH:MM (UTC), 00:00 to 23:59.",
                                   code="invalid_time")  # fmt: skip
        criteria = criteria.checked()
        if criteria.retries_due or criteria.autopay:
            raise ValidationFailed("Retry and autopay runs are the schedule's own.",
                                   code="invalid_criteria")  # fmt: skip
        found = RunDefinition(id=new_id("rdef"), business_id=biz.id, name=name,
                              criteria=criteria.as_json(), daily_at=daily_at,
                              created_at=self._clock.now())  # fmt: skip
        await self._repo.add(found)
        return found

    async def definitions(self, business_id: str) -> Sequence[RunDefinition]:
        return await self._repo.definitions(business_id)

    async def start_from(self, biz: Business, definition_id: str, *,
                         started_by: str | None = None, run_id: str | None = None
                         ) -> PaymentRun:  # fmt: skip
        found = await self._repo.definition(biz.id, definition_id, lock=True)
        if found is None:
            raise NotFound(f"No run definition {definition_id!r} in this business.",
                           code="run_definition_not_found")  # fmt: skip
        if started_by is None:
            found.last_run_on = self.today()
        return await self.start(biz, Criteria.from_json(found.criteria), definition_id=found.id,
                                started_by=started_by, run_id=run_id)  # fmt: skip

    async def due_definitions(self, now: datetime) -> Sequence[tuple[str, str]]:
        return await self._repo.due_definitions(now.date(), f"{now:%H:%M}")

    async def start_definition(self, business_id: str, definition_id: str, now: datetime
                               ) -> int:  # fmt: skip
        """The schedule's run of a definition, unless one ran today already."""
        found = await self._repo.definition(business_id, definition_id, lock=True)
        if found is None or (found.last_run_on is not None and found.last_run_on >= now.date()):
            return 0
        await self.start_from(await self._business(business_id), definition_id)
        return 1

    async def daily_due(self, today: date) -> list[tuple[str, str, Criteria]]:
        """The (business, kind, criteria) of the daily retry and autopay runs to consider."""
        out = [(b, "retry", Criteria(retries_due=True))
               for b in await self._repo.with_retries_due(today)]  # fmt: skip
        out += [(b, "autopay", Criteria(autopay=True, autopay_days=days))
                for b, days in await self._repo.with_autopay()]  # fmt: skip
        return out

    async def start_daily(self, business_id: str, kind: str, criteria: Criteria) -> int:
        """A retry or autopay run, once a day per business (the business is locked: two
        workers' schedules start one)."""
        biz = await self._business(business_id, lock=True)
        midnight = datetime.combine(self.today(), time(0), tzinfo=UTC)
        if await self._repo.ran_today(business_id, kind, midnight):
            return 0
        await self.start(biz, criteria, kind=kind)
        return 1

    async def _business(self, business_id: str, *, lock: bool = False) -> Business:
        stmt = select(Business).where(Business.id == business_id)
        found = await self._session.scalar(for_update(stmt) if lock else stmt)
        assert found is not None
        return found

    async def resume_all(self) -> int:
        n = 0
        for run_id in await self._repo.running():
            chunks = await self._repo.pending_chunks(run_id)
            await self._defer(run_id, chunks)
            n += len(chunks)
        return n

    # ------------------------------------------------------------ reading

    async def get(self, business_id: str, run_id: str) -> PaymentRun:
        run = await self._repo.run(business_id, run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    async def progress(self, business_id: str, run_id: str) -> Progress:
        out = Progress(await self.get(business_id, run_id))
        for status, failure, count, amount in await self._repo.tallies(run_id):
            out.counts[status] = out.counts.get(status, 0) + count
            out.amounts[status] = out.amounts.get(status, 0) + amount
            if status == ItemStatus.FAILED:
                key = failure or "unknown"
                out.failures[key] = out.failures.get(key, 0) + count
        return out

    async def list(self, business_id: str, *, limit: int, starting_after: str | None = None
                   ) -> Sequence[PaymentRun]:  # fmt: skip
        return await self._repo.runs(business_id, limit=limit, starting_after=starting_after)

    async def report_csv(self, business_id: str, run_id: str) -> str:
        await self.get(business_id, run_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["bill", "reference", "client", "email", "due_on", "amount", "currency",
                         "result", "attempt", "payment", "decline_code", "reason"])  # fmt: skip
        for item, bill, client in await self._repo.report(run_id):
            writer.writerow([bill.id, bill.reference, client.name, client.email,
                             bill.due_on.isoformat(), item.amount, bill.currency, item.status,
                             item.attempt or "", item.payment_id or "", item.decline_code or "",
                             item.reason or ""])  # fmt: skip
        return out.getvalue()
