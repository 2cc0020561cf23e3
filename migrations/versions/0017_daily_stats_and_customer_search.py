"""daily figures per business (the dashboard's charts), and customers' search key and
deletion; both filled in from the rows that exist

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fareroom.kit.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "daily_stats",
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("charges", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_daily_stats_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint("business_id", "day", "currency", name=op.f("pk_daily_stats")),
    )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name_key", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("deleted_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_clients_business_name", ["business_id", "name_key"], unique=False)

    _fill()


def _fill() -> None:
    """The figures of the payments, refunds and clients there are (by their UTC day)."""
    pg = op.get_bind().dialect.name == "postgresql"

    def day(column: str) -> str:
        return f"(({column}) AT TIME ZONE 'UTC')::date" if pg else f"date({column})"

    op.execute("UPDATE clients SET name_key = lower(name)")
    op.execute(f"""
        INSERT INTO daily_stats (business_id, day, currency, gross, charges, refunded, customers)
        SELECT business_id, d, currency, sum(gross), sum(charges), sum(refunded), sum(customers)
        FROM (
            SELECT business_id, {day("created_at")} AS d, currency, amount_captured AS gross,
                   1 AS charges, 0 AS refunded, 0 AS customers
              FROM payments WHERE status = 'succeeded'
            UNION ALL
            SELECT r.business_id, {day("r.created_at")}, r.currency, 0, 0, r.amount, 0
              FROM refunds r
            UNION ALL
            SELECT c.business_id, {day("c.created_at")}, b.default_currency, 0, 0, 0, 1
              FROM clients c JOIN businesses b ON b.id = c.business_id
        ) AS figures
        GROUP BY business_id, d, currency
    """)


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index("ix_clients_business_name")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("name_key")

    op.drop_table("daily_stats")
