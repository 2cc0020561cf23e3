from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime, str_enum


class ConnectStatus(StrEnum):
    """The business's connected account at the gateway (``gateway.base.AccountResult``)."""

    NONE = "none"  # not created yet
    PENDING = "pending"  # created, onboarding not finished
    ENABLED = "enabled"  # receives the business's charges
    RESTRICTED = "restricted"  # onboarded, but the gateway holds charges or payouts back


class Business(Base):
    """A tenant. Fee rates are optional overrides of the platform's (decimal strings)."""

    __tablename__ = "businesses"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    default_currency: Mapped[str] = mapped_column(String(3))
    fee_rate_service: Mapped[str | None] = mapped_column(String(12))
    fee_rate_goods: Mapped[str | None] = mapped_column(String(12))
    processing_fee_bearer: Mapped[str | None] = mapped_column(String(10))
    gateway_account_id: Mapped[str | None] = mapped_column(String(64))
    connect_status: Mapped[ConnectStatus] = mapped_column(
        str_enum(ConnectStatus, 16), default=ConnectStatus.NONE
    )
    # The name its meeting pages and invitations show (None: ``name``).
    company_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    """A person who signs in. ``business_id`` is null only for the platform operator."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str | None] = mapped_column(ForeignKey("businesses.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    # "Encrypt my meetings": the rooms this user hosts are end-to-end encrypted.
    meetings_e2ee: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; we keep its SHA-256."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
