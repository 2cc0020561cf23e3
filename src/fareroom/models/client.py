from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime


class Client(Base):
    __tablename__ = "clients"
    __table_args__ = (
        Index("ix_clients_business_created", "business_id", "id"),
        Index("ix_clients_business_email", "business_id", "email"),
        Index("ix_clients_business_name", "business_id", "name_key"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    name: Mapped[str] = mapped_column(String(200))
    # the name in lower case, to search by
    name_key: Mapped[str] = mapped_column(String(200), default="", server_default="")
    email: Mapped[str] = mapped_column(String(254))
    gateway_customer_id: Mapped[str | None] = mapped_column(String(64))
    default_card_id: Mapped[str | None] = mapped_column(String(40))
    # How bills (and what else allows it) are paid: "card" (the default card), or
    # "wallet_first" (the wallet's balance, then the card for the rest).
    pay_with: Mapped[str] = mapped_column(String(16), default="card", server_default="card")
    # Pay my bills this many days before they are due (none: the business's setting).
    autopay_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its cards detached


class Card(Base):
    """A saved card. Only what is safe to keep: brand, last 4, expiry, fingerprint."""

    __tablename__ = "cards"
    __table_args__ = (Index("ix_cards_client", "client_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    gateway_payment_method_id: Mapped[str] = mapped_column(String(64))
    brand: Mapped[str] = mapped_column(String(20))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recurring_authorised: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
