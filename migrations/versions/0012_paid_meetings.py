"""paid meetings: settings, occurrences, registrations, codes, notifications

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fareroom.kit.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=1000), nullable=False),
        sa.Column("ref_id", sa.String(length=40), nullable=True),
        sa.Column("read_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_notifications_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_user", ["user_id", "read_at", "id"], unique=False)

    op.create_table(
        "paid_meetings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "pricing",
            sa.Enum(
                "single",
                "per_occurrence",
                "per_series",
                name="pricing",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("closes_minutes", sa.Integer(), nullable=False),
        sa.Column(
            "refund_rule",
            sa.Enum("always", "never", "window", name="refundrule", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("refund_window_minutes", sa.Integer(), nullable=False),
        sa.Column("refund_percent", sa.Integer(), nullable=False),
        sa.Column("no_show_hold", sa.Boolean(), nullable=False),
        sa.Column("notify_email", sa.Boolean(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_paid_meetings_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["meeting_rooms.id"], name=op.f("fk_paid_meetings_room_id_meeting_rooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paid_meetings")),
        sa.UniqueConstraint("code", name=op.f("uq_paid_meetings_code")),
        sa.UniqueConstraint("room_id", name=op.f("uq_paid_meetings_room_id")),
    )
    with op.batch_alter_table("paid_meetings", schema=None) as batch_op:
        batch_op.create_index("ix_paid_meetings_business", ["business_id", "id"], unique=False)

    op.create_table(
        "meeting_occurrences",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("paid_meeting_id", sa.String(length=40), nullable=False),
        sa.Column("starts_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seats_taken", sa.Integer(), nullable=False),
        sa.Column("cancelled_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["paid_meeting_id"],
            ["paid_meetings.id"],
            name=op.f("fk_meeting_occurrences_paid_meeting_id_paid_meetings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_occurrences")),
        sa.UniqueConstraint(
            "paid_meeting_id", "starts_at", name=op.f("uq_meeting_occurrences_paid_meeting_id")
        ),
    )
    op.create_table(
        "meeting_registrations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("paid_meeting_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "paid",
                "held",
                "attended",
                "no_show",
                "partly_refunded",
                "refunded",
                "cancelled",
                "expired",
                name="registrationstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seats_held", sa.Boolean(), nullable=False),
        sa.Column("attempt_card_id", sa.String(length=40), nullable=True),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("failure", sa.String(length=300), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_meeting_registrations_business_id_businesses"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_meeting_registrations_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["paid_meeting_id"],
            ["paid_meetings.id"],
            name=op.f("fk_meeting_registrations_paid_meeting_id_paid_meetings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_registrations")),
        sa.UniqueConstraint(
            "paid_meeting_id", "request_hash", name=op.f("uq_meeting_registrations_paid_meeting_id")
        ),
    )
    with op.batch_alter_table("meeting_registrations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meeting_registrations_business", ["business_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_meeting_registrations_expiry", ["status", "expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_meeting_registrations_meeting", ["paid_meeting_id", "id"], unique=False
        )

    op.create_table(
        "meeting_codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("registration_id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("occurrence_id", sa.String(length=40), nullable=True),
        sa.Column("revoked_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            ["meeting_occurrences.id"],
            name=op.f("fk_meeting_codes_occurrence_id_meeting_occurrences"),
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["meeting_registrations.id"],
            name=op.f("fk_meeting_codes_registration_id_meeting_registrations"),
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["meeting_rooms.id"], name=op.f("fk_meeting_codes_room_id_meeting_rooms")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_meeting_codes")),
    )
    with op.batch_alter_table("meeting_codes", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_codes_registration", ["registration_id"], unique=False)

    op.create_table(
        "meeting_registration_items",
        sa.Column("registration_id", sa.String(length=40), nullable=False),
        sa.Column("occurrence_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            ["meeting_occurrences.id"],
            name=op.f("fk_meeting_registration_items_occurrence_id_meeting_occurrences"),
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["meeting_registrations.id"],
            name=op.f("fk_meeting_registration_items_registration_id_meeting_registrations"),
        ),
        sa.PrimaryKeyConstraint(
            "registration_id", "occurrence_id", name=op.f("pk_meeting_registration_items")
        ),
    )


def downgrade() -> None:
    op.drop_table("meeting_registration_items")
    with op.batch_alter_table("meeting_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_codes_registration")

    op.drop_table("meeting_codes")
    with op.batch_alter_table("meeting_registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_registrations_meeting")
        batch_op.drop_index("ix_meeting_registrations_expiry")
        batch_op.drop_index("ix_meeting_registrations_business")

    op.drop_table("meeting_registrations")
    op.drop_table("meeting_occurrences")
    with op.batch_alter_table("paid_meetings", schema=None) as batch_op:
        batch_op.drop_index("ix_paid_meetings_business")

    op.drop_table("paid_meetings")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user")

    op.drop_table("notifications")
