"""All of the meetings domain's SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update

from fareroom.kit.repository import Repository
from fareroom.models.business import User
from fareroom.models.client import Client
from fareroom.models.meeting import (
    DialIn,
    MeetingAudit,
    MeetingBan,
    MeetingGroup,
    MeetingGroupMember,
    MeetingInvitee,
    MeetingMessage,
    MeetingParticipant,
    MeetingRoom,
    MeetingTicket,
    RoomKind,
)

HISTORY = 200  # the chat messages a page gets when it comes in


class MeetingsRepository(Repository):
    # ------------------------------------------------------------------ rooms

    async def room(self, business_id: str, room_id: str, *, lock: bool = False
                   ) -> MeetingRoom | None:  # fmt: skip
        return await self.of_business(MeetingRoom, business_id, room_id, lock=lock)

    async def room_by_code(self, code: str, *, lock: bool = False) -> MeetingRoom | None:
        stmt = select(MeetingRoom).where(MeetingRoom.code == code)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def room_by_id(self, room_id: str, *, lock: bool = False) -> MeetingRoom | None:
        stmt = select(MeetingRoom).where(MeetingRoom.id == room_id)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def rooms(self, business_id: str, *, limit: int, starting_after: str | None,
                    host_id: str | None = None) -> Sequence[MeetingRoom]:  # fmt: skip
        where = [MeetingRoom.host_id == host_id] if host_id else []
        return await self.newest_first(MeetingRoom, business_id, *where, limit=limit,
                                       starting_after=starting_after)  # fmt: skip

    async def personal_room(self, host_id: str) -> MeetingRoom | None:
        stmt = select(MeetingRoom).where(MeetingRoom.host_id == host_id,
                                         MeetingRoom.kind == RoomKind.PERSONAL)  # fmt: skip
        return await self.session.scalar(stmt.order_by(MeetingRoom.id).limit(1))

    async def code_taken(self, code: str) -> bool:
        stmt = select(func.count()).select_from(MeetingRoom).where(MeetingRoom.code == code)
        return bool(await self.session.scalar(stmt))

    async def invitees(self, room_id: str) -> Sequence[MeetingInvitee]:
        stmt = select(MeetingInvitee).where(MeetingInvitee.room_id == room_id)
        return (await self.session.scalars(stmt.order_by(MeetingInvitee.kind,
                                                         MeetingInvitee.ref_id))).all()  # fmt: skip

    async def set_invitees(self, room_id: str, invitees: Sequence[tuple[str, str]]) -> None:
        await self.session.execute(delete(MeetingInvitee).where(MeetingInvitee.room_id == room_id))
        await self.add(*(MeetingInvitee(room_id=room_id, kind=k, ref_id=r) for k, r in invitees))

    # ------------------------------------------------------------------ people

    async def users(self, business_id: str, ids: Sequence[str]) -> Sequence[User]:
        if not ids:
            return []
        stmt = select(User).where(User.business_id == business_id, User.id.in_(ids))
        return (await self.session.scalars(stmt)).all()

    async def user(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def contacts(self, business_id: str, ids: Sequence[str]) -> Sequence[Client]:
        if not ids:
            return []
        stmt = select(Client).where(Client.business_id == business_id, Client.id.in_(ids))
        return (await self.session.scalars(stmt)).all()

    # ------------------------------------------------------------------ groups

    async def group(self, business_id: str, group_id: str) -> MeetingGroup | None:
        return await self.of_business(MeetingGroup, business_id, group_id)

    async def groups(self, business_id: str, ids: Sequence[str] | None = None
                     ) -> Sequence[MeetingGroup]:  # fmt: skip
        stmt = select(MeetingGroup).where(MeetingGroup.business_id == business_id)
        if ids is not None:
            stmt = stmt.where(MeetingGroup.id.in_(ids))
        return (await self.session.scalars(stmt.order_by(MeetingGroup.id))).all()

    async def members(self, group_ids: Sequence[str]) -> Sequence[MeetingGroupMember]:
        if not group_ids:
            return []
        stmt = select(MeetingGroupMember).where(MeetingGroupMember.group_id.in_(group_ids))
        stmt = stmt.order_by(MeetingGroupMember.group_id, MeetingGroupMember.kind,
                             MeetingGroupMember.ref_id)  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def set_members(self, group_id: str, members: Sequence[tuple[str, str]]) -> None:
        await self.session.execute(
            delete(MeetingGroupMember).where(MeetingGroupMember.group_id == group_id)
        )
        await self.add(*(MeetingGroupMember(group_id=group_id, kind=k, ref_id=r)
                         for k, r in members))  # fmt: skip

    async def delete_group(self, group_id: str) -> None:
        await self.session.execute(
            delete(MeetingGroupMember).where(MeetingGroupMember.group_id == group_id)
        )
        await self.session.execute(
            delete(MeetingInvitee).where(
                MeetingInvitee.kind == "group", MeetingInvitee.ref_id == group_id
            )  # fmt: skip
        )
        await self.session.execute(delete(MeetingGroup).where(MeetingGroup.id == group_id))

    # ------------------------------------------------------------------ dial-in numbers

    async def dial_ins(self, business_id: str) -> Sequence[DialIn]:
        stmt = select(DialIn).where(DialIn.business_id == business_id).order_by(DialIn.position)
        return (await self.session.scalars(stmt)).all()

    async def set_dial_ins(self, business_id: str, rows: Sequence[DialIn]) -> None:
        await self.session.execute(delete(DialIn).where(DialIn.business_id == business_id))
        await self.add(*rows)

    # ------------------------------------------------------------------ tickets and bans

    async def ticket(self, token_hash: str, *, lock: bool = False) -> MeetingTicket | None:
        stmt = select(MeetingTicket).where(MeetingTicket.token_hash == token_hash)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def forget_tickets(self, before: datetime) -> None:
        await self.session.execute(delete(MeetingTicket).where(MeetingTicket.expires_at < before))

    async def banned(self, room_id: str, identity: str, device: str) -> bool:
        stmt = (
            select(func.count())
            .select_from(MeetingBan)
            .where(
                MeetingBan.room_id == room_id,
                or_(MeetingBan.identity == identity, MeetingBan.device == device),
            )
        )
        return bool(await self.session.scalar(stmt))

    async def bans(self, room_id: str) -> Sequence[MeetingBan]:
        stmt = select(MeetingBan).where(MeetingBan.room_id == room_id)
        return (await self.session.scalars(stmt.order_by(MeetingBan.id.desc()))).all()

    async def lift_ban(self, room_id: str, ban_id: str) -> bool:
        done = await self.session.execute(
            delete(MeetingBan).where(MeetingBan.room_id == room_id, MeetingBan.id == ban_id)
        )
        return bool(getattr(done, "rowcount", 0))

    # ------------------------------------------------------------------ participants

    async def participant(self, room_id: str, participant_id: str, *, lock: bool = False
                          ) -> MeetingParticipant | None:  # fmt: skip
        stmt = select(MeetingParticipant).where(MeetingParticipant.id == participant_id,
                                                MeetingParticipant.room_id == room_id)  # fmt: skip
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def present(self, room_id: str) -> Sequence[MeetingParticipant]:
        """Everyone in the meeting or its lobby now, first come first."""
        stmt = select(MeetingParticipant).where(MeetingParticipant.room_id == room_id,
                                                MeetingParticipant.left_at.is_(None))  # fmt: skip
        return (await self.session.scalars(stmt.order_by(MeetingParticipant.joined_at,
                                                         MeetingParticipant.id))).all()  # fmt: skip

    async def leave_all(self, room_id: str, at: datetime, reason: str) -> None:
        await self.session.execute(
            update(MeetingParticipant)
            .where(MeetingParticipant.room_id == room_id, MeetingParticipant.left_at.is_(None))
            .values(left_at=at, left_reason=reason)
        )

    # ------------------------------------------------------------------ chat and audit

    async def history(self, room_id: str, participant_id: str, since: datetime
                      ) -> Sequence[MeetingMessage]:  # fmt: skip
        """The meeting's chat since it started, as one participant may read it: messages to
        everyone, and private ones they sent or were sent."""
        stmt = (
            select(MeetingMessage)
            .where(
                MeetingMessage.room_id == room_id,
                MeetingMessage.created_at >= since,
                or_(
                    MeetingMessage.to_id.is_(None),
                    MeetingMessage.to_id == participant_id,
                    MeetingMessage.sender_id == participant_id,
                ),
            )  # fmt: skip
            .order_by(MeetingMessage.id.desc())
            .limit(HISTORY)
        )
        return list(reversed((await self.session.scalars(stmt)).all()))

    async def audit(self, room_id: str, *, limit: int, starting_after: str | None
                    ) -> Sequence[MeetingAudit]:  # fmt: skip
        stmt = select(MeetingAudit).where(MeetingAudit.room_id == room_id)
        if starting_after:
            stmt = stmt.where(MeetingAudit.id < starting_after)
        return (await self.session.scalars(stmt.order_by(MeetingAudit.id.desc()).limit(limit))
                ).all()  # fmt: skip
