"""meetings: rooms, groups, dial-in numbers, tickets, participants, bans, chat, audit;
a business's company name and a user's "encrypt my meetings"

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fareroom.kit.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "business_dial_ins",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("pin_format", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_business_dial_ins_business_id_businesses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_dial_ins")),
    )
    with op.batch_alter_table("business_dial_ins", schema=None) as batch_op:
        batch_op.create_index(
            "ix_business_dial_ins_business", ["business_id", "position"], unique=False
        )

    op.create_table(
        "meeting_groups",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_meeting_groups_business_id_businesses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_groups")),
    )
    with op.batch_alter_table("meeting_groups", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_groups_business", ["business_id", "id"], unique=False)

    op.create_table(
        "meeting_group_members",
        sa.Column("group_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("ref_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["meeting_groups.id"],
            name=op.f("fk_meeting_group_members_group_id_meeting_groups"),
        ),
        sa.PrimaryKeyConstraint(
            "group_id", "kind", "ref_id", name=op.f("pk_meeting_group_members")
        ),
    )
    op.create_table(
        "meeting_rooms",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("host_id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "personal", "scheduled", "persistent", name="roomkind", native_enum=False, length=12
            ),
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column(
            "start_type",
            sa.Enum("video", "screen", name="starttype", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("join_before_host", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("allow_unmute", sa.Boolean(), nullable=False),
        sa.Column(
            "recording",
            sa.Enum("ask", "everyone", "no_one", name="recordingpolicy", native_enum=False),
            nullable=False,
        ),
        sa.Column("starts_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("rrule", sa.String(length=500), nullable=True),
        sa.Column(
            "status",
            sa.Enum("idle", "live", "ended", name="meetingstatus", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_meeting_rooms_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["users.id"], name=op.f("fk_meeting_rooms_host_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_rooms")),
        sa.UniqueConstraint("code", name=op.f("uq_meeting_rooms_code")),
    )
    with op.batch_alter_table("meeting_rooms", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_rooms_business", ["business_id", "id"], unique=False)
        batch_op.create_index("ix_meeting_rooms_personal", ["host_id", "kind"], unique=False)

    op.create_table(
        "meeting_audit",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("actor_id", sa.String(length=40), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=True),
        sa.Column("actor_identity", sa.String(length=60), nullable=True),
        sa.Column("subject_id", sa.String(length=40), nullable=True),
        sa.Column("subject_name", sa.String(length=100), nullable=True),
        sa.Column("subject_identity", sa.String(length=60), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_meeting_audit_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["meeting_rooms.id"], name=op.f("fk_meeting_audit_room_id_meeting_rooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_audit")),
    )
    with op.batch_alter_table("meeting_audit", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_audit_room", ["room_id", "id"], unique=False)

    op.create_table(
        "meeting_bans",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("identity", sa.String(length=60), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("by_participant_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["meeting_rooms.id"], name=op.f("fk_meeting_bans_room_id_meeting_rooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_bans")),
    )
    with op.batch_alter_table("meeting_bans", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_bans_room", ["room_id"], unique=False)

    op.create_table(
        "meeting_invitees",
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("ref_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["meeting_rooms.id"],
            name=op.f("fk_meeting_invitees_room_id_meeting_rooms"),
        ),
        sa.PrimaryKeyConstraint("room_id", "kind", "ref_id", name=op.f("pk_meeting_invitees")),
    )
    op.create_table(
        "meeting_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("sender_id", sa.String(length=40), nullable=False),
        sa.Column("sender_name", sa.String(length=100), nullable=False),
        sa.Column("to_id", sa.String(length=40), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("cipher", sa.Text(), nullable=True),
        sa.Column("iv", sa.String(length=32), nullable=True),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("created_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["meeting_rooms.id"],
            name=op.f("fk_meeting_messages_room_id_meeting_rooms"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_messages")),
    )
    with op.batch_alter_table("meeting_messages", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_messages_room", ["room_id", "id"], unique=False)

    op.create_table(
        "meeting_participants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("business_id", sa.String(length=40), nullable=False),
        sa.Column("identity", sa.String(length=60), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("host", sa.Boolean(), nullable=False),
        sa.Column("admitted", sa.Boolean(), nullable=False),
        sa.Column("audio", sa.Boolean(), nullable=False),
        sa.Column("video", sa.Boolean(), nullable=False),
        sa.Column("host_muted_audio", sa.Boolean(), nullable=False),
        sa.Column("host_muted_video", sa.Boolean(), nullable=False),
        sa.Column(
            "sharing",
            sa.Enum("off", "on", "paused", name="sharing", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("share_paused_by_host", sa.Boolean(), nullable=False),
        sa.Column("may_record", sa.Boolean(), nullable=False),
        sa.Column("recording", sa.Boolean(), nullable=False),
        sa.Column("joined_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("left_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_reason", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_meeting_participants_business_id_businesses"),
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["meeting_rooms.id"],
            name=op.f("fk_meeting_participants_room_id_meeting_rooms"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_participants")),
    )
    with op.batch_alter_table("meeting_participants", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_participants_room", ["room_id", "left_at"], unique=False)

    op.create_table(
        "meeting_tickets",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("identity", sa.String(length=60), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("host", sa.Boolean(), nullable=False),
        sa.Column("participant_id", sa.String(length=40), nullable=True),
        sa.Column("expires_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", fareroom.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_id"], ["meeting_rooms.id"], name=op.f("fk_meeting_tickets_room_id_meeting_rooms")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_meeting_tickets")),
    )
    with op.batch_alter_table("meeting_tickets", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_tickets_expiry", ["expires_at"], unique=False)

    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("calendar", sa.Text(), nullable=True))

    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("company_name", sa.String(length=200), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("meetings_e2ee", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_column("calendar")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("meetings_e2ee")

    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("calendar", sa.Text(), nullable=True))

    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.drop_column("company_name")

    with op.batch_alter_table("meeting_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_tickets_expiry")

    op.drop_table("meeting_tickets")
    with op.batch_alter_table("meeting_participants", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_participants_room")

    op.drop_table("meeting_participants")
    with op.batch_alter_table("meeting_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_messages_room")

    op.drop_table("meeting_messages")
    op.drop_table("meeting_invitees")
    with op.batch_alter_table("meeting_bans", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_bans_room")

    op.drop_table("meeting_bans")
    with op.batch_alter_table("meeting_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_audit_room")

    op.drop_table("meeting_audit")
    with op.batch_alter_table("meeting_rooms", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_rooms_personal")
        batch_op.drop_index("ix_meeting_rooms_business")

    op.drop_table("meeting_rooms")
    op.drop_table("meeting_group_members")
    with op.batch_alter_table("meeting_groups", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_groups_business")

    op.drop_table("meeting_groups")
    with op.batch_alter_table("business_dial_ins", schema=None) as batch_op:
        batch_op.drop_index("ix_business_dial_ins_business")

    op.drop_table("business_dial_ins")
