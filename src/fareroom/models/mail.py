from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime, str_enum


class MailKind(StrEnum):
    RECEIPT = "receipt"  # to the client who paid
    AGENT_REVENUE = "agent_revenue"  # to the agent whose chat or request was paid
    INVITATION = "invitation"  # to someone a meeting room invites
    REGISTRATION = "registration"  # a paid meeting's: to the registrant, and to its host
    BILL = "bill"  # a declined bill's reminder, to the client


class OutboxMail(Base):
    """A mail written in the same transaction as what it tells; the worker sends it."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_pending", "sent_at", "id"),
                      Index("ix_mail_outbox_unique_key", "unique_key", unique=True))  # fmt: skip

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str | None] = mapped_column(ForeignKey("businesses.id"), index=True)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[MailKind] = mapped_column(str_enum(MailKind, 20))
    reference: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The business the mail is from: "<name> via Fareroom" in its From line.
    sender_name: Mapped[str | None] = mapped_column(String(200))
    # What the mail is about, once: a second mail with the same key is never written
    # (e.g. ``chat-receipt:<session>``, however often the chat's end is processed).
    unique_key: Mapped[str | None] = mapped_column(String(120))
    # An iCalendar file sent with the mail (a meeting's invitation), as text.
    calendar: Mapped[str | None] = mapped_column(Text)
