"""The meter's aggregate: tariffs, metered sessions, their events and collections.

A tariff row is never changed: a room or agent that changes its tariff points to a new row,
so a session keeps the tariff its client accepted. Chat rooms, visits and payment requests
(``models.chat``) refer to these rows; these rows refer to no chat row but the session's
room (a foreign key only).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime, str_enum
from fareroom.models.ledger import BIGID


class SessionStatus(StrEnum):
    OPEN = "open"
    COLLECTING = "collecting"  # ended; the final collection is planned or under way
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    ABANDONED = "abandoned"


# A settled session owes nothing more: paid in full, or its rest recorded as abandoned debt.
SETTLED = (SessionStatus.PAID, SessionStatus.ABANDONED)


class CollectionStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CollectionReason(StrEnum):
    SPLIT = "split"  # the amount due reached the tariff's threshold
    FINAL = "final"  # the session ended
    RETRY = "retry"  # another card, after a failed collection


class TariffRow(Base):
    __tablename__ = "tariffs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    free_minutes: Mapped[int] = mapped_column(Integer)
    block_minutes: Mapped[int] = mapped_column(Integer)
    block_price: Mapped[int] = mapped_column(BigInteger)
    increment_seconds: Mapped[int] = mapped_column(Integer)
    split_threshold: Mapped[int | None] = mapped_column(BigInteger)
    preauth_amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatSession(Base):
    """A metered session between a client and an agent.

    ``status``: open → collecting → paid; collecting → payment_failed → collecting … |
    abandoned (``SessionStatus``).
    The meter columns are a checkpoint derived from the events (rebuilt from them on
    demand): while the meter runs, the chargeable seconds are the time since
    ``meter_origin``; otherwise ``meter_seconds``. ``timeout_at`` is set while a party is
    offline: the moment the session times out, indexed so the sweep reads only those due.
    """

    __tablename__ = "chat_sessions"
    __table_args__ = (
        Index("ix_chat_sessions_business", "business_id", "id"),
        Index("ix_chat_sessions_open", "status", "id"),
        Index("ix_chat_sessions_timeout", "timeout_at"),
        Index("ix_chat_sessions_agent", "agent_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    room_id: Mapped[str] = mapped_column(ForeignKey("chat_rooms.id"), index=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.id"))
    tariff_id: Mapped[str] = mapped_column(ForeignKey("tariffs.id"))
    agent_may_start: Mapped[bool] = mapped_column(Boolean)
    agent_may_pause: Mapped[bool] = mapped_column(Boolean)
    terms: Mapped[str] = mapped_column(Text)  # the text the client accepted
    terms_accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[SessionStatus] = mapped_column(str_enum(SessionStatus, 16))
    end_reason: Mapped[str | None] = mapped_column(String(20))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_payment_id: Mapped[str | None] = mapped_column(String(40))
    collected: Mapped[int] = mapped_column(BigInteger, default=0)
    final_price: Mapped[int | None] = mapped_column(BigInteger)
    abandoned: Mapped[int] = mapped_column(BigInteger, default=0)
    meter_seconds: Mapped[int] = mapped_column(Integer, default=0)
    meter_origin: Mapped[datetime | None] = mapped_column(UTCDateTime)
    meter_state: Mapped[str] = mapped_column(String(10))
    timeout_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # True when the parties' presence comes from their live connections (a chat page and
    # the agent console), false when an API caller reports it with events.
    live: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeterEventRow(Base):
    """What happened (``event_at``) and when we learnt it (``created_at``)."""

    __tablename__ = "meter_events"
    __table_args__ = (Index("ix_meter_events_session", "session_id", "id"),)

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id"))
    kind: Mapped[str] = mapped_column(String(10))
    party: Mapped[str | None] = mapped_column(String(10))
    event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Collection(Base):
    """One attempt to collect what a session owes, planned before the gateway is asked.

    The plan (which hold to capture for how much, which payment to charge off-session, which
    new hold to place) is committed first, with the payment ids its gateway keys derive from;
    carrying it out again after a crash replays the gateway's answers instead of charging
    twice. ``status``: pending → succeeded | failed (``CollectionStatus``).
    """

    __tablename__ = "chat_collections"
    __table_args__ = (
        Index("ix_chat_collections_session", "session_id", "id"),
        Index("ix_chat_collections_pending", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id"))
    reason: Mapped[CollectionReason] = mapped_column(str_enum(CollectionReason, 10))
    amount: Mapped[int] = mapped_column(BigInteger)
    capture_payment_id: Mapped[str | None] = mapped_column(String(40))
    capture_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    cancel_payment_id: Mapped[str | None] = mapped_column(String(40))
    charge_payment_id: Mapped[str | None] = mapped_column(String(40))
    charge_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.id"))
    new_hold_payment_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[CollectionStatus] = mapped_column(str_enum(CollectionStatus, 10))
    failure: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
