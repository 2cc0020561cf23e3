"""chat: a message's ref (a resend is not stored twice) and since when a waiting visit has
had no agent online

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fareroom.kit.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ref", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_chat_messages_ref", ["session_id", "party", "ref"],
                              unique=True)  # fmt: skip
    with op.batch_alter_table("chat_visits", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("nobody_since", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_visits", schema=None) as batch_op:
        batch_op.drop_column("nobody_since")
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_messages_ref")
        batch_op.drop_column("ref")
