"""Bills: made through the API, the dashboard or a CSV file; cancelled, written off, paid.

Every change of what a bill is owed moves the same amount in the ledger, in the same
transaction: issuing it moves its amount into the client's receivable (``client_receivable``,
from the business's ``bills_outstanding``); a payment, a cancellation or a write-off moves
its part back (``bill_paid``, ``bill_cancelled``, ``bill_written_off``). So a client's
receivable is what its open bills (and any chat debt it left) still claim, and
``bills_outstanding`` is the business's side of the same sum.

Bad input is refused whole: a bill with one bad line, or a file with one bad row, writes
nothing, and the error names the line or the row and says why.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.billing.repository import BillsRepository
from fareroom.clients.service import ClientsService
from fareroom.kit.clock import Clock
from fareroom.kit.errors import Conflict, FareroomError, NotFound, ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.kit.money import (
    MAX_CHARGE_MINOR,
    MIN_CHARGE_MINOR,
    CurrencyMismatch,
    InvalidAmount,
    Money,
    normalise_currency,
    parse_major,
    parse_whole,
)
from fareroom.ledger.service import AccountRef, Ledger, business
from fareroom.models.billing import (
    OPEN,
    AttemptStatus,
    Bill,
    BillAttempt,
    BillingSettings,
    BillLine,
    BillStatus,
    Dunning,
)
from fareroom.models.business import Business

MAX_LINES = 100
MAX_RETRIES = 10
DEFAULT_RETRY_DAYS = (3, 5, 7)
MAX_QUANTITY = 100_000
MAX_IMPORT_ROWS = 5_000
MAX_IMPORT_BYTES = 2_000_000
REFERENCE = r"[A-Za-z0-9][A-Za-z0-9_./#-]{0,63}"
_REFERENCE = re.compile(REFERENCE, re.ASCII)
_EARLIEST, _LATEST = date(2000, 1, 1), date(2100, 12, 31)
CSV_COLUMNS = ("client", "reference", "currency", "issued_on", "due_on", "tag", "description",
               "line", "quantity", "unit_price")  # fmt: skip
CSV_REQUIRED = ("client", "reference", "due_on", "line", "unit_price")
_CLOSED = {BillStatus.CANCELLED: "bill_cancelled", BillStatus.WRITTEN_OFF: "bill_written_off"}


class BillNotFound(NotFound):
    code = "bill_not_found"

    def __init__(self, bill_id: str) -> None:
        super().__init__(f"No bill {bill_id!r} in this business.")


@dataclass(frozen=True)
class LineIn:
    description: str
    quantity: int
    unit_amount: int
    currency: str | None = None  # if given, the bill's own


@dataclass(frozen=True)
class BillIn:
    client_id: str
    lines: Sequence[LineIn]
    due_on: date
    currency: str | None = None  # the business's, by default
    issued_on: date | None = None  # today, by default
    reference: str | None = None  # the bill's id, by default
    tag: str = ""
    description: str = ""


@dataclass(frozen=True)
class Rules:
    """A business's collection rules (``BillingSettings``)."""

    retry_days: list[int]
    autopay_days: int | None
    reminders: bool


def retry_days(settings: BillingSettings | None) -> tuple[int, ...]:
    """The waits after each decline; the defaults for a business that set none."""
    if settings is None:
        return DEFAULT_RETRY_DAYS
    return tuple(int(d) for d in settings.retry_days.split(",") if d.strip())


@dataclass(frozen=True)
class BillView:
    bill: Bill
    lines: Sequence[BillLine]
    attempts: Sequence[BillAttempt]


def _check_line(n: int, line: LineIn, currency: str) -> int:
    where = f"Line {n}"
    if line.currency is not None and normalise_currency(line.currency) != currency:
        raise CurrencyMismatch(f"{where} is in {line.currency.upper()[:3]}, the bill in {currency}:"
                               " a bill's lines are all in its currency.", line=n)  # fmt: skip
    text = line.description.strip()
    if not text or len(text) > 200:
        raise ValidationFailed(f"{where}: describe it in 1 to 200 characters.",
                               code="invalid_line", line=n)  # fmt: skip
    for value, name in ((line.quantity, "quantity"), (line.unit_amount, "unit amount")):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidAmount(f"{where}: the {name} is a whole number.", line=n)
    if line.unit_amount < 0:
        raise ValidationFailed(f"{where}: a unit amount cannot be negative (a bill's lines add "
                               "up; give a lower price instead of a negative line).",
                               code="negative_amount", line=n)  # fmt: skip
    if not 1 <= line.quantity <= MAX_QUANTITY:
        raise ValidationFailed(f"{where}: the quantity is 1 to {MAX_QUANTITY:,}.",
                               code="invalid_quantity", line=n)  # fmt: skip
    amount = line.quantity * line.unit_amount
    if amount > MAX_CHARGE_MINOR:
        raise ValidationFailed(f"{where} comes to more than a bill may: at most "
                               f"{Money(MAX_CHARGE_MINOR, currency).format()}.",
                               code="invalid_total", line=n)  # fmt: skip
    return amount


def _check_dates(issued_on: date, due_on: date) -> None:
    for day, name in ((issued_on, "issue date"), (due_on, "due date")):
        if not _EARLIEST <= day <= _LATEST:
            raise ValidationFailed(f"The {name} {day.isoformat()} is out of range.",
                                   code="invalid_date")  # fmt: skip
    if due_on < issued_on:
        raise ValidationFailed("The due date is before the issue date.", code="invalid_due_date")


class BillsService:
    def __init__(self, session: AsyncSession, clock: Clock, ledger: Ledger,
                 clients: ClientsService) -> None:  # fmt: skip
        self._repo = BillsRepository(session)
        self._clock = clock
        self._ledger = ledger
        self._clients = clients

    def today(self) -> date:
        return self._clock.now().date()

    async def _prepared(self, biz: Business, spec: BillIn, bill_id: str
                        ) -> tuple[Bill, list[BillLine]]:  # fmt: skip
        """The bill and its lines, checked; nothing written."""
        currency = normalise_currency(spec.currency or biz.default_currency)
        if currency != biz.default_currency:
            raise CurrencyMismatch(
                f"This business bills in {biz.default_currency}, not {currency}."
            )
        client = await self._clients.get(biz.id, spec.client_id)
        if not spec.lines:
            raise ValidationFailed("A bill has at least one line.", code="lines_required")
        if len(spec.lines) > MAX_LINES:
            raise ValidationFailed(f"A bill has at most {MAX_LINES} lines.", code="too_many_lines")
        amounts = [_check_line(n, line, currency) for n, line in enumerate(spec.lines, 1)]
        total = sum(amounts)
        if not MIN_CHARGE_MINOR <= total <= MAX_CHARGE_MINOR:
            raise ValidationFailed(
                f"A bill's lines add up to {Money(total, currency).format()}; a bill is "
                f"{Money(MIN_CHARGE_MINOR, currency).format()} (the smallest charge) to "
                f"{Money(MAX_CHARGE_MINOR, currency).format()}.", code="invalid_total",
                minimum=MIN_CHARGE_MINOR, maximum=MAX_CHARGE_MINOR)  # fmt: skip
        issued_on = spec.issued_on or self.today()
        _check_dates(issued_on, spec.due_on)
        reference = spec.reference if spec.reference is not None else bill_id
        if not _REFERENCE.fullmatch(reference):
            raise ValidationFailed("A reference is 1 to 64 letters, digits and _ . / # -, "
                                   "starting with a letter or digit.",
                                   code="invalid_reference")  # fmt: skip
        if len(spec.tag) > 40 or len(spec.description) > 500:
            raise ValidationFailed("A tag is at most 40 characters, a description 500.",
                                   code="text_too_long")  # fmt: skip
        now = self._clock.now()
        bill = Bill(id=bill_id, business_id=biz.id, client_id=client.id, reference=reference,
                    currency=currency, amount=total, amount_paid=0, status=BillStatus.UNSETTLED,
                    dunning=Dunning.CURRENT, tag=spec.tag.strip(),
                    description=spec.description.strip(), issued_on=issued_on,
                    due_on=spec.due_on, declines=0, created_at=now, updated_at=now)  # fmt: skip
        pairs = enumerate(zip(spec.lines, amounts, strict=True), 1)
        lines = [BillLine(bill_id=bill_id, position=n, description=line.description.strip(),
                          quantity=line.quantity, unit_amount=line.unit_amount, amount=amount)
                 for n, (line, amount) in pairs]  # fmt: skip
        return bill, lines

    async def _issue(self, bills: Sequence[tuple[Bill, list[BillLine]]]) -> None:
        taken = await self._repo.by_reference(bills[0][0].business_id,
                                              [b.reference for b, _ in bills])  # fmt: skip
        if taken:
            raise Conflict(f"A bill with the reference {sorted(taken)[0]!r} exists already.",
                           code="reference_taken", references=sorted(taken)[:10])  # fmt: skip
        for bill, lines in bills:
            await self._repo.add(bill, *lines)
        for bill, _ in bills:
            await self._move(bill, "bill_issued", bill.amount, bill.id)

    async def _move(self, bill: Bill, kind: str, amount: int, reference: str) -> None:
        """Into the client's receivable (``bill_issued``), or out of it (the others)."""
        sign = 1 if kind == "bill_issued" else -1
        cur = bill.currency
        await self._ledger.post(kind=kind, reference=reference, currency=cur,
                                business_id=bill.business_id, legs=[
            (AccountRef("client_receivable", cur, bill.business_id, bill.client_id),
             sign * amount),
            (business("bills_outstanding", cur, bill.business_id), -sign * amount),
        ])  # fmt: skip

    async def create(self, biz: Business, spec: BillIn, *, bill_id: str | None = None
                     ) -> BillView:  # fmt: skip
        bill, lines = await self._prepared(biz, spec, bill_id or new_id("bill"))
        await self._issue([(bill, lines)])
        return BillView(bill, lines, [])

    async def import_csv(self, biz: Business, data: bytes) -> list[BillView]:
        """One bill per reference, a line per row; the first bad row refuses the file."""
        specs = await self._parse_csv(biz, data)
        prepared = []
        for row, spec in specs:
            try:
                prepared.append(await self._prepared(biz, spec, new_id("bill")))
            except FareroomError as exc:
                raise _at_row(row, exc) from None
        if not prepared:
            raise ValidationFailed("The file has no bills in it.", code="csv_empty")
        await self._issue(prepared)
        return [BillView(bill, lines, []) for bill, lines in prepared]

    async def _parse_csv(self, biz: Business, data: bytes) -> list[tuple[int, BillIn]]:
        if len(data) > MAX_IMPORT_BYTES:
            raise ValidationFailed(f"The file is over {MAX_IMPORT_BYTES // 1_000_000} MB; "
                                   "split it.", code="csv_too_large")  # fmt: skip
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed("The file is not UTF-8 text.", code="csv_invalid") from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in CSV_REQUIRED if c not in header]
        unknown = [c for c in header if c not in CSV_COLUMNS]
        if missing or unknown:
            raise ValidationFailed(
                "The first row names the columns: " + ", ".join(CSV_COLUMNS) + " ("
                + ", ".join(CSV_REQUIRED) + " required). "
                + (f"Missing: {', '.join(missing)}. " if missing else "")
                + (f"Unknown: {', '.join(unknown[:5])}." if unknown else ""),
                code="csv_columns", missing=missing, unknown=unknown[:5])  # fmt: skip
        reader.fieldnames = header
        bills: dict[str, tuple[int, dict[str, str], list[LineIn]]] = {}
        for n, raw in enumerate(reader, start=2):
            if n - 1 > MAX_IMPORT_ROWS:
                raise ValidationFailed(f"A file has at most {MAX_IMPORT_ROWS:,} rows; split it.",
                                       code="csv_too_many_rows")  # fmt: skip
            if None in raw:
                raise _row(n, "it has more fields than the header names")
            row = {k: (v or "").strip() for k, v in raw.items()}
            if not any(row.values()):
                continue
            try:
                line, head = await self._csv_line(biz, row)
            except FareroomError as exc:
                raise _at_row(n, exc) from None
            first = bills.setdefault(row["reference"], (n, head, []))
            if first[1] != head:
                raise _row(n, f"its bill's fields differ from row {first[0]}'s, which has the "
                           f"same reference {row['reference']!r}")  # fmt: skip
            first[2].append(line)
        return [(n, BillIn(lines=lines, **_bill_fields(head))) for n, head, lines in bills.values()]

    async def _csv_line(self, biz: Business, row: dict[str, str]) -> tuple[LineIn, dict[str, str]]:
        for column in CSV_REQUIRED:
            if not row.get(column):
                raise ValidationFailed(f"the {column} is empty", code="csv_field_required")
        currency = normalise_currency(row.get("currency") or biz.default_currency)
        if currency != biz.default_currency:
            raise CurrencyMismatch(f"this business bills in {biz.default_currency}, not {currency}")
        client = row["client"]
        if "@" in client:
            found = await self._clients.by_email(biz.id, client)
            if found is None:
                raise NotFound(f"no client has the email {client!r}", code="client_not_found")
            client = found.id
        head = {"client_id": client, "reference": row["reference"], "currency": currency,
                "issued_on": row.get("issued_on", ""), "due_on": row["due_on"],
                "tag": row.get("tag", ""), "description": row.get("description", "")}  # fmt: skip
        for name in ("issued_on", "due_on"):
            if head[name]:
                _parse_date(head[name], name)
        quantity = (parse_whole(row["quantity"], label="quantity", unit="items")
                    if row.get("quantity") else 1)  # fmt: skip
        return LineIn(row["line"], quantity, parse_major(row["unit_price"], currency)), head

    # ------------------------------------------------------------ changes

    async def _locked(self, business_id: str, bill_id: str) -> Bill:
        bill = await self._repo.bill(business_id, bill_id, lock=True)
        if bill is None:
            raise BillNotFound(bill_id)
        return bill

    async def _close(self, biz: Business, bill_id: str, status: BillStatus) -> BillView:
        bill = await self._locked(biz.id, bill_id)
        if bill.status not in OPEN:
            raise Conflict(f"This bill is {bill.status.replace('_', ' ')}; only an open bill can "
                           "be cancelled or written off.", code="bill_closed",
                           bill_status=bill.status)  # fmt: skip
        attempts = await self._repo.attempts(bill.id)
        if any(a.status == AttemptStatus.PENDING for a in attempts):
            # Its answer may still be a charge: closing the bill now could take the money
            # and forget the debt. The next run (or the worker) asks the gateway again.
            raise Conflict("A charge of this bill is still waiting for the gateway's answer; "
                           "try again once it has one.", code="bill_charge_pending")  # fmt: skip
        await self.close(bill, status)
        return BillView(bill, await self._repo.lines(bill.id), attempts)

    async def close(self, bill: Bill, status: BillStatus) -> None:
        """The (locked, open) bill no longer claims what is left of it."""
        left = bill.amount - bill.amount_paid
        await self._move(bill, _CLOSED[status], left, bill.id)
        bill.status, bill.next_try_on = status, None
        bill.updated_at = self._clock.now()

    async def cancel(self, biz: Business, bill_id: str) -> BillView:
        return await self._close(biz, bill_id, BillStatus.CANCELLED)

    async def write_off(self, biz: Business, bill_id: str) -> BillView:
        return await self._close(biz, bill_id, BillStatus.WRITTEN_OFF)

    async def record_paid(self, bill: Bill, amount: int, reference: str) -> None:
        """``amount`` of the (locked, open) bill paid, by the payment or wallet movement
        ``reference``."""
        assert bill.status in OPEN and 0 < amount <= bill.amount - bill.amount_paid
        bill.amount_paid += amount
        paid = bill.amount_paid == bill.amount
        bill.status = BillStatus.PAID if paid else BillStatus.PARTLY_PAID
        if paid:
            bill.dunning, bill.next_try_on = Dunning.CURRENT, None
        bill.updated_at = self._clock.now()
        await self._move(bill, "bill_paid", amount, reference)

    # ------------------------------------------------------------ collection rules

    async def billing_settings(self, business_id: str) -> Rules:
        found = await self._repo.settings(business_id)
        if found is None:
            return Rules(list(DEFAULT_RETRY_DAYS), None, True)
        return Rules(list(retry_days(found)), found.autopay_days, found.reminders)

    async def update_billing_settings(
        self, business_id: str, *, retry_days: Sequence[int], autopay_days: int | None,
        reminders: bool,
    ) -> Rules:  # fmt: skip
        if len(retry_days) > MAX_RETRIES or any(
            not isinstance(d, int) or not 1 <= d <= 60 for d in retry_days
        ):
            raise ValidationFailed(f"A retry schedule is at most {MAX_RETRIES} waits of 1 to 60 "
                                   "days each.", code="invalid_retry_days")  # fmt: skip
        if autopay_days is not None and not 0 <= autopay_days <= 60:
            raise ValidationFailed("Bills are paid automatically 0 to 60 days before they "
                                   "are due.", code="invalid_autopay_days")  # fmt: skip
        values = {"retry_days": ",".join(str(d) for d in retry_days),
                  "autopay_days": autopay_days, "reminders": reminders,
                  "updated_at": self._clock.now()}  # fmt: skip
        found = await self._repo.settings(business_id)
        if found is None:
            await self._repo.add(BillingSettings(business_id=business_id, **values))
        else:
            for name, value in values.items():
                setattr(found, name, value)
        return Rules(list(retry_days), autopay_days, reminders)

    # ------------------------------------------------------------ reading

    async def get(self, business_id: str, bill_id: str) -> BillView:
        bill = await self._repo.bill(business_id, bill_id)
        if bill is None:
            raise BillNotFound(bill_id)
        return BillView(bill, await self._repo.lines(bill.id), await self._repo.attempts(bill.id))

    async def list(self, business_id: str, *, limit: int, starting_after: str | None = None,
                   **filters: Any) -> Sequence[Bill]:  # fmt: skip
        return await self._repo.bills(business_id, limit=limit, starting_after=starting_after,
                                      **filters)  # fmt: skip


def _parse_date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"the {name} {text[:20]!r} is not a date like 2026-12-31",
                               code="invalid_date") from None  # fmt: skip


def _bill_fields(head: dict[str, str]) -> dict[str, Any]:
    return {"client_id": head["client_id"], "reference": head["reference"],
            "currency": head["currency"], "tag": head["tag"], "description": head["description"],
            "due_on": _parse_date(head["due_on"], "due_on"),
            "issued_on": _parse_date(head["issued_on"], "issued_on") if head["issued_on"]
            else None}  # fmt: skip


def _row(n: int, why: str) -> ValidationFailed:
    return ValidationFailed(f"Row {n}: {why}. Nothing was imported.", code="csv_bad_row", row=n)


def _at_row(n: int, exc: FareroomError) -> ValidationFailed:
    message = exc.message[0].lower() + exc.message[1:] if exc.message else exc.code
    return ValidationFailed(f"Row {n}: {message.rstrip('.')}. Nothing was imported.",
                            code="csv_bad_row", row=n, reason=exc.code)  # fmt: skip
