from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime

# 64-bit ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY (also 64-bit).
BIGID = BigInteger().with_variant(Integer, "sqlite")


class LedgerAccount(Base):
    """One ledger account in one currency. Sign convention: debits positive, credits negative.

    Its balance lives in ``ledger_balances``, striped over ``shards`` rows: a platform account
    that every payment touches would otherwise be one row lock that serialises every posting.
    """

    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("key", name="uq_ledger_accounts_key"),)

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160))
    business_id: Mapped[str | None] = mapped_column(ForeignKey("businesses.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    normal: Mapped[str] = mapped_column(String(6))  # "debit" or "credit"
    shards: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerBalance(Base):
    """One stripe of an account's balance. The sum of an account's stripes is the sum of its
    entries: a cache written only by the ledger's posting code, checked by ``verify``."""

    __tablename__ = "ledger_balances"

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerTransfer(Base):
    """A balanced set of entries, written once, never changed."""

    __tablename__ = "ledger_transfers"
    __table_args__ = (Index("ix_ledger_transfers_business", "business_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str | None] = mapped_column(ForeignKey("businesses.id"))
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(80), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("ledger_transfers.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
