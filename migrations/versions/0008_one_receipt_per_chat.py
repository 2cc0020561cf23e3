"""mail: one receipt per chat (a unique key per mail) sent in the business's name

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("unique_key", sa.String(length=120), nullable=True))
        batch_op.create_index("ix_mail_outbox_unique_key", ["unique_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_outbox_unique_key")
        batch_op.drop_column("unique_key")
        batch_op.drop_column("sender_name")
