"""chat visits: an index for the hold sweep's pages, in (status, started, id) order

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_visits", schema=None) as batch_op:
        batch_op.create_index("ix_chat_visits_stale", ["status", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chat_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_visits_stale")
