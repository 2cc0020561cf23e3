"""billing: bills and their lines, charge attempts, payment runs and their results, run
definitions, billing settings; clients' payment preference and autopay days

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fareroom.kit.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_settings",
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("retry_days", sa.String(length=60), nullable=False),
        sa.Column("autopay_days", sa.Integer(), nullable=True),
        sa.Column("reminders", sa.Boolean(), nullable=False),
        sa.Column("updated_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_billing_settings_business_id_businesses"),
        ),
        sa.PrimaryKeyConstraint("business_id", name=op.f("pk_billing_settings")),
    )
    op.create_table(
        "payment_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("definition_id", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "running",
                "stopping",
                "stopped",
                "finished",
                name="runstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("bills", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("started_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_payment_runs_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_runs")),
    )
    op.create_index(
        "ix_payment_runs_business_created",
        "payment_runs",
        ["business_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "run_definitions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("daily_at", sa.String(length=5), nullable=True),
        sa.Column("last_run_on", sa.Date(), nullable=True),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_run_definitions_business_id_businesses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_definitions")),
    )
    op.create_index(
        op.f("ix_run_definitions_business_id"), "run_definitions", ["business_id"], unique=False
    )
    op.create_table(
        "bills",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "unsettled",
                "partly_paid",
                "paid",
                "cancelled",
                "written_off",
                name="billstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "dunning",
            sa.Enum(
                "current", "retrying", "past_due", name="dunning", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("declines", sa.Integer(), nullable=False),
        sa.Column("next_try_on", sa.Date(), nullable=True),
        sa.Column("last_decline_code", sa.String(length=40), nullable=True),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_bills_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_bills_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
        sa.UniqueConstraint("business_id", "reference", name="uq_bills_business_reference"),
    )
    op.create_index(
        "ix_bills_business_created", "bills", ["business_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_bills_business_status_due", "bills", ["business_id", "status", "due_on"], unique=False
    )
    op.create_index("ix_bills_client", "bills", ["client_id"], unique=False)
    op.create_table(
        "bill_attempts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("bill_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("card_id", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "succeeded",
                "declined",
                name="attemptstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("decline_code", sa.String(length=40), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bills.id"], name=op.f("fk_bill_attempts_bill_id_bills")
        ),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_bill_attempts_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_attempts")),
        sa.UniqueConstraint("bill_id", "number", name="uq_bill_attempts_number"),
    )
    op.create_index(
        op.f("ix_bill_attempts_business_id"), "bill_attempts", ["business_id"], unique=False
    )
    op.create_index(op.f("ix_bill_attempts_run_id"), "bill_attempts", ["run_id"], unique=False)
    op.create_table(
        "bill_lines",
        sa.Column("bill_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bills.id"], name=op.f("fk_bill_lines_bill_id_bills")
        ),
        sa.PrimaryKeyConstraint("bill_id", "position", name=op.f("pk_bill_lines")),
    )
    op.create_table(
        "payment_run_items",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("bill_id", sa.String(length=40), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "paid",
                "failed",
                "skipped",
                name="itemstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("decline_code", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("updated_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bills.id"], name=op.f("fk_payment_run_items_bill_id_bills")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["payment_runs.id"], name=op.f("fk_payment_run_items_run_id_payment_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "bill_id", name=op.f("pk_payment_run_items")),
    )
    op.create_index("ix_run_items_bill", "payment_run_items", ["bill_id"], unique=False)
    op.create_index(
        "ix_run_items_chunk", "payment_run_items", ["run_id", "chunk", "status"], unique=False
    )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pay_with", sa.String(length=16), server_default="card", nullable=False)
        )
        batch_op.add_column(sa.Column("autopay_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("autopay_days")
        batch_op.drop_column("pay_with")
    op.drop_index("ix_run_items_chunk", table_name="payment_run_items")
    op.drop_index("ix_run_items_bill", table_name="payment_run_items")
    op.drop_table("payment_run_items")
    op.drop_table("bill_lines")
    op.drop_index(op.f("ix_bill_attempts_run_id"), table_name="bill_attempts")
    op.drop_index(op.f("ix_bill_attempts_business_id"), table_name="bill_attempts")
    op.drop_table("bill_attempts")
    op.drop_index("ix_bills_client", table_name="bills")
    op.drop_index("ix_bills_business_status_due", table_name="bills")
    op.drop_index("ix_bills_business_created", table_name="bills")
    op.drop_table("bills")
    op.drop_index(op.f("ix_run_definitions_business_id"), table_name="run_definitions")
    op.drop_table("run_definitions")
    op.drop_index("ix_payment_runs_business_created", table_name="payment_runs")
    op.drop_table("payment_runs")
    op.drop_table("billing_settings")
