from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime, str_enum


class PaymentStatus(StrEnum):
    """The charge's own state, as the gateway names it (``gateway.base.ChargeStatus``)."""

    REQUIRES_CAPTURE = "requires_capture"  # a hold
    SUCCEEDED = "succeeded"  # captured (and still, after refunds)
    CANCELED = "canceled"  # a hold released


class RefundStatus(StrEnum):
    """A refund's state as the gateway reports it (Stripe's refund statuses)."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class PayoutStatus(StrEnum):
    """A payout's state as the gateway reports it (Stripe's payout statuses)."""

    PENDING = "pending"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"


class Payment(Base):
    """A charge of a client's card. Amounts in minor units of ``currency``.

    Invariants: amount_captured <= amount; amount_refunded <= amount_captured.
    Status (``PaymentStatus``): requires_capture (held) → succeeded | canceled; or
    succeeded at once.
    """

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_business_id", "business_id", "id"),
        # Lists are newest first, paged by the keyset (created_at, id).
        Index("ix_payments_business_created", "business_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.id"))
    currency: Mapped[str] = mapped_column(String(3))
    category: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, 20))
    amount: Mapped[int] = mapped_column(BigInteger)
    amount_captured: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    platform_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    processing_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the business was credited at capture (captured − platform fee − fee it bears).
    business_net: Mapped[int] = mapped_column(BigInteger, default=0)
    gateway_charge_id: Mapped[str | None] = mapped_column(String(64))
    # What the payment was for, when it came from a chat: revenue is reported by these.
    room_id: Mapped[str | None] = mapped_column(String(40), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(40), index=True)
    source_id: Mapped[str | None] = mapped_column(String(40))  # a session or payment request
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[RefundStatus] = mapped_column(str_enum(RefundStatus, 20))
    gateway_refund_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Payout(Base):
    __tablename__ = "payouts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PayoutStatus] = mapped_column(str_enum(PayoutStatus, 20))
    gateway_payout_id: Mapped[str | None] = mapped_column(String(64))
    arrives_on: Mapped[date | None] = mapped_column(Date)  # as the gateway expects it
    automatic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
