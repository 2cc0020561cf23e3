"""Chat rooms, tariffs, metered sessions, their events and collections, payment requests.

A tariff row is never changed: a room or agent that changes its tariff points to a new row,
so a session keeps the tariff its client accepted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime
from fareroom.models.ledger import BIGID


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
    # How a waiting client is given an idle agent: round_robin (the next agent after the
    # last one given a client here) or longest_idle (the agent idle the longest).
    distribution: Mapped[str] = mapped_column(
        String(12), default="round_robin", server_default="round_robin"
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


class ChatSession(Base):
    """A metered session between a client and an agent.

    ``status``: open → ended (paid in full) | payment_failed → ended | abandoned.
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
    status: Mapped[str] = mapped_column(String(16))
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
    twice. ``status``: pending → succeeded | failed.
    """

    __tablename__ = "chat_collections"
    __table_args__ = (
        Index("ix_chat_collections_session", "session_id", "id"),
        Index("ix_chat_collections_pending", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id"))
    reason: Mapped[str] = mapped_column(String(10))  # split | final | retry
    amount: Mapped[int] = mapped_column(BigInteger)
    capture_payment_id: Mapped[str | None] = mapped_column(String(40))
    capture_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    cancel_payment_id: Mapped[str | None] = mapped_column(String(40))
    charge_payment_id: Mapped[str | None] = mapped_column(String(40))
    charge_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.id"))
    new_hold_payment_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))
    failure: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
    status: Mapped[str] = mapped_column(String(12))  # open | paid | canceled
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
    status: Mapped[str] = mapped_column(String(8))
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
    status: Mapped[str] = mapped_column(String(10))
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
