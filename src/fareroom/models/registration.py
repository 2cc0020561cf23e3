"""Paid meetings: a scheduled room's price and rules, its occurrences with their seats, the
registrations that pay for them, and the codes that let registrants in
(docs/paid-meetings.md).

Seats are counted on the occurrence row (``seats_taken``), which every change of a
registration's seats locks first, so no two registrations take the last seat together.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime, str_enum


class Pricing(StrEnum):
    SINGLE = "single"  # a room without recurrence: one occurrence
    PER_OCCURRENCE = "per_occurrence"  # a series: the registrant picks, pays each
    PER_SERIES = "per_series"  # a series: one price for all of it


class RefundRule(StrEnum):
    ALWAYS = "always"
    NEVER = "never"
    WINDOW = "window"  # refund_percent back if cancelled refund_window_minutes before


class RegistrationStatus(StrEnum):
    PENDING = "pending"  # made, not paid (its seats held until it expires)
    PAID = "paid"
    HELD = "held"  # a no-show fee's hold is on the card
    ATTENDED = "attended"  # the hold was released after the meeting
    NO_SHOW = "no_show"  # the hold was captured
    PARTLY_REFUNDED = "partly_refunded"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"  # by the registrant or the host (any refund is on the payment)
    EXPIRED = "expired"  # never paid


# A registration in one of these has its seats (and its codes admit).
SEATED = (RegistrationStatus.PAID, RegistrationStatus.HELD, RegistrationStatus.PARTLY_REFUNDED)


class PaidMeeting(Base):
    __tablename__ = "paid_meetings"
    __table_args__ = (Index("ix_paid_meetings_business", "business_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    room_id: Mapped[str] = mapped_column(ForeignKey("meeting_rooms.id"), unique=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # the page: /r/<code>
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    pricing: Mapped[Pricing] = mapped_column(str_enum(Pricing, 16))
    seats: Mapped[int] = mapped_column(Integer)
    closes_minutes: Mapped[int] = mapped_column(Integer, default=0)
    refund_rule: Mapped[RefundRule] = mapped_column(str_enum(RefundRule, 8))
    refund_window_minutes: Mapped[int] = mapped_column(Integer, default=0)
    refund_percent: Mapped[int] = mapped_column(Integer, default=100)
    # A card hold with a no-show fee: the price is held at registration, not charged; it is
    # captured from those the host marks as no-shows, released for everyone else.
    no_show_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_email: Mapped[bool] = mapped_column(Boolean, default=False)
    open: Mapped[bool] = mapped_column(Boolean, default=True)  # taking registrations
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Occurrence(Base):
    __tablename__ = "meeting_occurrences"
    __table_args__ = (UniqueConstraint("paid_meeting_id", "starts_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    paid_meeting_id: Mapped[str] = mapped_column(ForeignKey("paid_meetings.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Registration(Base):
    __tablename__ = "meeting_registrations"
    __table_args__ = (
        Index("ix_meeting_registrations_meeting", "paid_meeting_id", "id"),
        Index("ix_meeting_registrations_business", "business_id", "id"),
        Index("ix_meeting_registrations_expiry", "status", "expires_at"),
        UniqueConstraint("paid_meeting_id", "request_hash"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    paid_meeting_id: Mapped[str] = mapped_column(ForeignKey("paid_meetings.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    status: Mapped[RegistrationStatus] = mapped_column(str_enum(RegistrationStatus, 16))
    amount: Mapped[int] = mapped_column(BigInteger)  # what it pays (or holds)
    currency: Mapped[str] = mapped_column(String(3))
    # Attempt n pays as payment pay_<reg>_<n> (its gateway key derived from it); only a
    # refused card ends an attempt.
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    seats_held: Mapped[bool] = mapped_column(Boolean, default=True)
    # The card attempt n charges, kept (committed) before the charge is asked for: a retry
    # after a lost answer charges that card again under the same key, whatever it is sent.
    attempt_card_id: Mapped[str | None] = mapped_column(String(40))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    failure: Mapped[str | None] = mapped_column(String(300))
    # The registrant's page's own secret (``request_key``): the token is "<id>.<key>" and
    # only hashes are kept; the same key again is the same registration (a lost answer).
    request_hash: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64))  # the registrant's: pay, cancel
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # while pending
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RegistrationItem(Base):
    """One occurrence a registration takes a seat in, with its share of the amount."""

    __tablename__ = "meeting_registration_items"

    registration_id: Mapped[str] = mapped_column(
        ForeignKey("meeting_registrations.id"), primary_key=True
    )
    occurrence_id: Mapped[str] = mapped_column(
        ForeignKey("meeting_occurrences.id"), primary_key=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


class MeetingCode(Base):
    """A paid registrant's way in: for one occurrence, or (``occurrence_id`` None) for every
    occurrence of the series."""

    __tablename__ = "meeting_codes"
    __table_args__ = (Index("ix_meeting_codes_registration", "registration_id"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("meeting_registrations.id"))
    room_id: Mapped[str] = mapped_column(ForeignKey("meeting_rooms.id"))
    occurrence_id: Mapped[str | None] = mapped_column(ForeignKey("meeting_occurrences.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first let in


class Notification(Base):
    """Something a user of the business should see: a registration, for now."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user", "user_id", "read_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(1000), default="")
    ref_id: Mapped[str | None] = mapped_column(String(40))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
