"""The billing back office: bills and their lines, each charge attempt on a bill, payment runs
(what they select, one result per bill), and each business's billing settings
(docs/billing.md).

A bill's money is in the ledger: issuing it moves its amount into the client's receivable
(from the business's ``bills_outstanding``), and each payment, cancellation or write-off moves
its part back out. The row's ``amount_paid`` and ``status`` say the same, written in the same
transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime, str_enum


class BillStatus(StrEnum):
    UNSETTLED = "unsettled"  # nothing paid yet
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    CANCELLED = "cancelled"  # what was left unpaid is no longer owed
    WRITTEN_OFF = "written_off"  # given up after the last try of its schedule (or by hand)


OPEN = (BillStatus.UNSETTLED, BillStatus.PARTLY_PAID)  # a bill still owed


class Dunning(StrEnum):
    """Where a bill stands on its retry schedule (``BillingSettings.retry_days``)."""

    CURRENT = "current"  # no charge of it has been declined
    RETRYING = "retrying"  # declined; tried again on the schedule's days
    PAST_DUE = "past_due"  # declined on the schedule's last retry but one: one try left


class Bill(Base):
    __tablename__ = "bills"
    __table_args__ = (
        UniqueConstraint("business_id", "reference", name="uq_bills_business_reference"),
        Index("ix_bills_business_created", "business_id", "created_at", "id"),
        Index("ix_bills_business_status_due", "business_id", "status", "due_on"),
        Index("ix_bills_client", "client_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    reference: Mapped[str] = mapped_column(String(64))  # the business's own number
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)  # the lines' sum
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[BillStatus] = mapped_column(str_enum(BillStatus, 16))
    dunning: Mapped[Dunning] = mapped_column(str_enum(Dunning, 16), default=Dunning.CURRENT)
    tag: Mapped[str] = mapped_column(String(40), default="")  # a business unit, to select by
    description: Mapped[str] = mapped_column(String(500), default="")
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    declines: Mapped[int] = mapped_column(Integer, default=0)  # declined attempts so far
    next_try_on: Mapped[date | None] = mapped_column(Date)  # the schedule's next retry
    last_decline_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BillLine(Base):
    __tablename__ = "bill_lines"

    bill_id: Mapped[str] = mapped_column(ForeignKey("bills.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)


class AttemptStatus(StrEnum):
    PENDING = "pending"  # its charge is asked for, or its answer never came: try it again
    SUCCEEDED = "succeeded"
    DECLINED = "declined"


class BillAttempt(Base):
    """One charge of a bill. Its number makes the gateway's idempotency key (through the
    payment id ``pay_<bill>_<number>``): an attempt whose answer was lost is asked again
    under the same key, so the gateway answers what it did instead of charging again."""

    __tablename__ = "bill_attempts"
    __table_args__ = (UniqueConstraint("bill_id", "number", name="uq_bill_attempts_number"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    bill_id: Mapped[str] = mapped_column(ForeignKey("bills.id"))
    number: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(String(40), index=True)
    card_id: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[AttemptStatus] = mapped_column(str_enum(AttemptStatus, 16))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    decline_code: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RunStatus(StrEnum):
    RUNNING = "running"
    STOPPING = "stopping"  # asked to stop: no new charge starts
    STOPPED = "stopped"  # stopped with bills left; running it again takes those
    FINISHED = "finished"


class RunDefinition(Base):
    """What a payment run selects (``criteria``, see ``billing.runs.Criteria``) and when it
    runs by itself (``daily_at``: "HH:MM" in UTC; none: on demand only)."""

    __tablename__ = "run_definitions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    criteria: Mapped[dict] = mapped_column(JSON)
    daily_at: Mapped[str | None] = mapped_column(String(5))
    last_run_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaymentRun(Base):
    __tablename__ = "payment_runs"
    __table_args__ = (Index("ix_payment_runs_business_created", "business_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    definition_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # "run" | "autopay" | "retry"
    criteria: Mapped[dict] = mapped_column(JSON)
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus, 16))
    bills: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str | None] = mapped_column(String(3))
    started_by: Mapped[str | None] = mapped_column(String(40))  # a user; none: the schedule
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ItemStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"  # declined, or no card: ``reason`` says
    SKIPPED = "skipped"  # no longer owed when its turn came (paid elsewhere, cancelled)


class RunItem(Base):
    """A run's one result for one bill."""

    __tablename__ = "payment_run_items"
    __table_args__ = (
        Index("ix_run_items_chunk", "run_id", "chunk", "status"),
        Index("ix_run_items_bill", "bill_id"),
    )

    run_id: Mapped[str] = mapped_column(ForeignKey("payment_runs.id"), primary_key=True)
    bill_id: Mapped[str] = mapped_column(ForeignKey("bills.id"), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[ItemStatus] = mapped_column(str_enum(ItemStatus, 16))
    attempt: Mapped[int | None] = mapped_column(Integer)
    payment_id: Mapped[str | None] = mapped_column(String(40))
    decline_code: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BillingSettings(Base):
    """A business's collection rules: the days after a decline on which a bill is tried
    again (``retry_days``, e.g. "3,5,7": the last is the last try, after which the bill is
    written off), autopay (bills paid ``autopay_days`` before they are due), reminders."""

    __tablename__ = "billing_settings"

    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), primary_key=True)
    retry_days: Mapped[str] = mapped_column(String(60), default="3,5,7")
    autopay_days: Mapped[int | None] = mapped_column(Integer)
    reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    # Automatic payouts of the available balance: "manual" (none), "daily", or "weekly" on
    # ``payout_weekday`` (0 Monday … 6 Sunday).
    payout_schedule: Mapped[str] = mapped_column(String(8), default="manual",
                                                 server_default="manual")  # fmt: skip
    payout_weekday: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Wallet(Base):
    """A client's prepaid credit in one currency. Its balance is the ledger's
    (``client_wallet``); the row holds the automatic top-up: when a charge takes the balance
    below ``threshold``, one top-up brings it back to ``target``. ``topups`` numbers the
    top-ups asked for (their payment ids); a declined one is tried again on the business's
    retry schedule (``failures``, ``next_topup_on``)."""

    __tablename__ = "wallets"
    __table_args__ = (UniqueConstraint("client_id", "currency", name="uq_wallets_client_currency"),
                      Index("ix_wallets_next_topup", "next_topup_on"))  # fmt: skip

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    currency: Mapped[str] = mapped_column(String(3))
    threshold: Mapped[int | None] = mapped_column(BigInteger)
    target: Mapped[int | None] = mapped_column(BigInteger)
    topups: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_topup_on: Mapped[date | None] = mapped_column(Date)
    last_failure: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WalletMovement(Base):
    """One change of a wallet's balance, as the account's timeline shows it (the ledger
    holds the amounts): a top-up (with its payment), credit added by the business, or what
    paid a bill."""

    __tablename__ = "wallet_movements"
    __table_args__ = (Index("ix_wallet_movements_wallet", "wallet_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "topup" | "credit" | "spent"
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: + in, - out
    payment_id: Mapped[str | None] = mapped_column(String(40))
    bill_id: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CancellationType(Base):
    """A kind of cancellation the business defines, and what it refunds of a payment it
    cancels: ``refund_percent`` of what was captured (100: in full, 0: nothing)."""

    __tablename__ = "cancellation_types"
    __table_args__ = (UniqueConstraint("business_id", "name", name="uq_cancellation_types_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    name: Mapped[str] = mapped_column(String(100))
    refund_percent: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaymentCancellation(Base):
    """A payment cancelled with a type: once per payment; its refund, if the type gave
    one."""

    __tablename__ = "payment_cancellations"

    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    type_id: Mapped[str] = mapped_column(ForeignKey("cancellation_types.id"))
    type_name: Mapped[str] = mapped_column(String(100))  # as it was named then
    refund_percent: Mapped[int] = mapped_column(Integer)
    refund_id: Mapped[str | None] = mapped_column(String(40))
    refunded: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
