"""chat rooms: the sites allowed to embed the client's chat page

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_rooms") as batch_op:
        batch_op.add_column(
            sa.Column("embed_origins", sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_rooms") as batch_op:
        batch_op.drop_column("embed_origins")
