"""the client's chat page: a room's away message, offline messages (leads) left when no
agent is available, the name a visitor typed, clients found by email

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fareroom.kit.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_rooms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("away_message", sa.Text(), nullable=True))
    with op.batch_alter_table("chat_visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.create_index("ix_clients_business_email", ["business_id", "email"])
    op.create_table(
        "chat_leads",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_chat_leads_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["chat_rooms.id"], name=op.f("fk_chat_leads_room_id_chat_rooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_leads")),
    )
    with op.batch_alter_table("chat_leads", schema=None) as batch_op:
        batch_op.create_index("ix_chat_leads_room", ["room_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chat_leads", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_leads_room")
    op.drop_table("chat_leads")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index("ix_clients_business_email")
    with op.batch_alter_table("chat_visits", schema=None) as batch_op:
        batch_op.drop_column("name")
    with op.batch_alter_table("chat_rooms", schema=None) as batch_op:
        batch_op.drop_column("away_message")
