"""Chat rooms, their agents, visits, messages, leads and payment requests.

A room and an agent's own tariff point to tariff rows, and visits to metered sessions, of
the meter's aggregate (``models.metering``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime, str_enum
from fareroom.models.ledger import BIGID


class Distribution(StrEnum):
    """How a room gives a waiting client an idle agent."""

    ROUND_ROBIN = "round_robin"  # the next agent after the last one given a client here
    LONGEST_IDLE = "longest_idle"  # the agent idle the longest


class RequestStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELED = "canceled"


class Availability(StrEnum):
    """What an agent chose in the console."""

    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class VisitStatus(StrEnum):
    TERMS = "terms"  # the contact form was sent
    CARD = "card"  # the terms were accepted
    WAITING = "waiting"  # a hold on the card, in the queue
    CONNECTED = "connected"  # a session was opened
    LEFT = "left"


# A visit not yet connected: its hold (if any) is released when it leaves.
BEFORE_CONNECTED = (VisitStatus.TERMS, VisitStatus.CARD, VisitStatus.WAITING)


class ChatRoom(Base):
    __tablename__ = "chat_rooms"
    __table_args__ = (Index("ix_chat_rooms_business", "business_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    name: Mapped[str] = mapped_column(String(200))
    terms: Mapped[str] = mapped_column(Text)
    tariff_id: Mapped[str] = mapped_column(ForeignKey("tariffs.id"))
    agent_may_start: Mapped[bool] = mapped_column(Boolean, default=False)
    agent_may_pause: Mapped[bool] = mapped_column(Boolean, default=False)
    agents_own_tariff: Mapped[bool] = mapped_column(Boolean, default=False)
    distribution: Mapped[Distribution] = mapped_column(
        str_enum(Distribution, 12), default=Distribution.ROUND_ROBIN, server_default="round_robin"
    )
    last_agent_id: Mapped[str | None] = mapped_column(String(40))
    # The origins (https://shop.example, https://*.example.com) whose pages may show the
    # client's chat page in a frame, space-separated; none: no site may frame it.
    embed_origins: Mapped[str] = mapped_column(Text, default="", server_default="")
    # What the client's page says when no agent of the room is available (None: a default).
    away_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RoomAgent(Base):
    """An agent (a user of the business) who takes chats in a room."""

    __tablename__ = "chat_room_agents"

    room_id: Mapped[str] = mapped_column(ForeignKey("chat_rooms.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)


class AgentTariff(Base):
    """An agent's own tariff, used in rooms that allow it."""

    __tablename__ = "agent_tariffs"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    tariff_id: Mapped[str] = mapped_column(ForeignKey("tariffs.id"))


class PaymentRequest(Base):
    """An agent's request for payment in a chat: service or goods, line items, a total."""

    __tablename__ = "payment_requests"
    __table_args__ = (Index("ix_payment_requests_business", "business_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    room_id: Mapped[str] = mapped_column(ForeignKey("chat_rooms.id"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    session_id: Mapped[str | None] = mapped_column(ForeignKey("chat_sessions.id"))
    category: Mapped[str] = mapped_column(String(10))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, 12))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    service_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    service_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AgentPresence(Base):
    """The availability an agent chose in the console (online, away, offline).

    Idle (may be given a client) = online here, connected (the hub's presence), and no open
    session. ``idle_since`` orders agents for the longest-idle distribution.
    """

    __tablename__ = "agent_presence"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    status: Mapped[Availability] = mapped_column(str_enum(Availability, 8))
    idle_since: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatVisit(Base):
    """A client's way into a chat room, before and during its session.

    ``status``: terms (contact given) → card (terms accepted) → waiting (a hold on the card,
    in the queue) → connected (``session_id``) | left. The client's page proves it is this
    visit with a resume token: ``id.secret``; only the secret's hash is stored, and it is
    replaced each time a page connects, so a token seen once cannot be used again.
    """

    __tablename__ = "chat_visits"
    __table_args__ = (
        Index("ix_chat_visits_queue", "room_id", "status", "queued_at"),
        # The hold sweep reads the visits not yet connected a page at a time in this order.
        Index("ix_chat_visits_stale", "status", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("chat_rooms.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    # The name typed in the contact form (the client record, found by email, may differ;
    # the page and the agent are shown this one: a typed email proves nothing).
    name: Mapped[str | None] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[VisitStatus] = mapped_column(str_enum(VisitStatus, 10))
    token_hash: Mapped[str] = mapped_column(String(64))
    terms: Mapped[str | None] = mapped_column(Text)
    terms_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    card_id: Mapped[str | None] = mapped_column(ForeignKey("cards.id"))
    hold_payment_id: Mapped[str | None] = mapped_column(String(40))
    session_id: Mapped[str | None] = mapped_column(ForeignKey("chat_sessions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While waiting: since when none of the room's agents has been online (the worker's
    # round sets and clears it; the hold is released once it is old enough).
    nobody_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChatMessage(Base):
    """A line of a chat, from the client or the agent."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_session", "session_id", "id"),
        # A page's own name for a message: a resend after a reconnect is not stored twice.
        Index("ix_chat_messages_ref", "session_id", "party", "ref", unique=True),
    )

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id"))
    party: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ref: Mapped[str | None] = mapped_column(String(64))


class ChatLead(Base):
    """A message left on a room's page while no agent was available: whom to get back to."""

    __tablename__ = "chat_leads"
    __table_args__ = (Index("ix_chat_leads_room", "room_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    room_id: Mapped[str] = mapped_column(ForeignKey("chat_rooms.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
