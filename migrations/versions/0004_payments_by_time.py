"""payments listed newest first: an index on (business_id, created_at, id)

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_payments_business_created", "payments", ["business_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_payments_business_created", table_name="payments")
