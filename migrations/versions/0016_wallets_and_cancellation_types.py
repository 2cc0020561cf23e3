"""wallets (a client's prepaid credit per currency, with automatic top-up) and their
movements; cancellation types and the payments cancelled with them

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fareroom.kit.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cancellation_types",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("refund_percent", sa.Integer(), nullable=False),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_cancellation_types_business_id_businesses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cancellation_types")),
        sa.UniqueConstraint("business_id", "name", name="uq_cancellation_types_name"),
    )
    op.create_table(
        "wallets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=True),
        sa.Column("target", sa.BigInteger(), nullable=True),
        sa.Column("topups", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_topup_on", sa.Date(), nullable=True),
        sa.Column("last_failure", sa.String(length=300), nullable=True),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_wallets_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_wallets_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallets")),
        sa.UniqueConstraint("client_id", "currency", name="uq_wallets_client_currency"),
    )
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallets_business_id"), ["business_id"], unique=False)
        batch_op.create_index("ix_wallets_next_topup", ["next_topup_on"], unique=False)

    op.create_table(
        "wallet_movements",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("wallet_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("bill_id", sa.String(length=40), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_wallet_movements_business_id_businesses"),
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_wallet_movements_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_movements")),
    )
    with op.batch_alter_table("wallet_movements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wallet_movements_business_id"), ["business_id"], unique=False
        )
        batch_op.create_index("ix_wallet_movements_wallet", ["wallet_id", "id"], unique=False)

    op.create_table(
        "payment_cancellations",
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("type_id", sa.String(length=40), nullable=False),
        sa.Column("type_name", sa.String(length=100), nullable=False),
        sa.Column("refund_percent", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.String(length=40), nullable=True),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_payment_cancellations_business_id_businesses"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_cancellations_payment_id_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["type_id"],
            ["cancellation_types.id"],
            name=op.f("fk_payment_cancellations_type_id_cancellation_types"),
        ),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_payment_cancellations")),
    )
    with op.batch_alter_table("payment_cancellations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_cancellations_business_id"), ["business_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_cancellations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_cancellations_business_id"))

    op.drop_table("payment_cancellations")
    with op.batch_alter_table("wallet_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_movements_wallet")
        batch_op.drop_index(batch_op.f("ix_wallet_movements_business_id"))

    op.drop_table("wallet_movements")
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.drop_index("ix_wallets_next_topup")
        batch_op.drop_index(batch_op.f("ix_wallets_business_id"))

    op.drop_table("wallets")
    op.drop_table("cancellation_types")
