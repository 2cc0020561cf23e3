from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime, str_enum


class RequestOutcome(StrEnum):
    OK = "ok"  # the gateway answered
    ERROR = "error"  # a ``GatewayError``: declined, refused, unavailable, misconfigured


class GatewayRequest(Base):
    """One call to the payment gateway, redacted: never a card number, never a secret."""

    __tablename__ = "gateway_requests"
    __table_args__ = (Index("ix_gateway_requests_business", "business_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str | None] = mapped_column(String(40))
    gateway: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(120), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(160))
    request_summary: Mapped[str] = mapped_column(Text, default="{}")
    outcome: Mapped[RequestOutcome] = mapped_column(str_enum(RequestOutcome, 16))
    gateway_object_id: Mapped[str | None] = mapped_column(String(64))
    error_type: Mapped[str | None] = mapped_column(String(40))
    error_code: Mapped[str | None] = mapped_column(String(60))
    decline_code: Mapped[str | None] = mapped_column(String(60))
    latency_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """An ``Idempotency-Key`` of our own API, per business.

    ``resource_id`` is allocated at the first attempt and reused by every retry, so gateway
    idempotency keys derived from it stay the same across retries.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("business_id", "key", name="uq_idempotency_business_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(40))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookEvent(Base):
    """A gateway event, stored once per event id; ``processed_at`` set when applied."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(80))
    payload: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SandboxObject(Base):
    """The sandbox gateway's own store: Stripe-like objects as JSON, and idempotency replays.

    ``kind`` is the object type (customer, payment_method, token, charge, refund, account,
    payout, event, idempotency). The sandbox is an external service in spirit, so it writes
    through its own sessions, never inside the caller's transaction.
    """

    __tablename__ = "sandbox_objects"
    __table_args__ = (Index("ix_sandbox_objects_kind", "kind", "id"),)

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    data: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TokenBucketRow(Base):
    """A rate shared by every process on PostgreSQL (``kit.bucket.SharedBucket``): the
    tokens left at ``at``; tokens come back at the bucket's rate."""

    __tablename__ = "token_buckets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
