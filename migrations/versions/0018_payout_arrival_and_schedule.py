"""payouts' expected arrival and whether the schedule made them; each business's automatic
payout schedule

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("billing_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "payout_schedule", sa.String(length=8), server_default="manual", nullable=False
            )
        )
        batch_op.add_column(sa.Column("payout_weekday", sa.Integer(), nullable=True))

    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("arrives_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("automatic", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_column("automatic")
        batch_op.drop_column("arrives_on")

    with op.batch_alter_table("billing_settings", schema=None) as batch_op:
        batch_op.drop_column("payout_weekday")
        batch_op.drop_column("payout_schedule")
