from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError

from fareroom.kit.db import Keyset, after_keyset
from fareroom.kit.repository import Repository
from fareroom.models.business import User
from fareroom.models.chat import (
    AgentPresence,
    AgentTariff,
    ChatLead,
    ChatMessage,
    ChatRoom,
    ChatVisit,
    PaymentRequest,
    RoomAgent,
    VisitStatus,
)
from fareroom.models.metering import ChatSession, SessionStatus


class ChatRepository(Repository):
    """Every query is scoped to one business."""

    async def delete(self, obj: object) -> None:
        await self.session.delete(obj)

    async def room(self, business_id: str, room_id: str) -> ChatRoom | None:
        stmt = select(ChatRoom).where(ChatRoom.id == room_id, ChatRoom.business_id == business_id)
        return (await self.session.execute(stmt)).scalar()

    async def rooms(self, business_id: str) -> Sequence[ChatRoom]:
        stmt = select(ChatRoom).where(ChatRoom.business_id == business_id).order_by(ChatRoom.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def room_agents(self, room_id: str) -> list[str]:
        stmt = select(RoomAgent.user_id).where(RoomAgent.room_id == room_id)
        return sorted((await self.session.execute(stmt)).scalars().all())

    async def set_room_agents(self, room_id: str, user_ids: Sequence[str]) -> None:
        await self.session.execute(delete(RoomAgent).where(RoomAgent.room_id == room_id))
        self.session.add_all(RoomAgent(room_id=room_id, user_id=u) for u in user_ids)
        await self.session.flush()

    async def users(self, business_id: str, user_ids: Sequence[str]) -> Sequence[User]:
        stmt = select(User).where(User.business_id == business_id, User.id.in_(user_ids))
        return (await self.session.execute(stmt)).scalars().all()

    async def agent_tariff(self, business_id: str, user_id: str) -> AgentTariff | None:
        found = await self.session.get(AgentTariff, user_id)
        return found if found is not None and found.business_id == business_id else None

    async def request(
        self, business_id: str, request_id: str, *, lock: bool = False
    ) -> PaymentRequest | None:
        stmt = select(PaymentRequest).where(
            PaymentRequest.id == request_id, PaymentRequest.business_id == business_id
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar()

    async def requests(self, business_id: str, *, limit: int, session_id: str | None = None
                       ) -> Sequence[PaymentRequest]:  # fmt: skip
        stmt = (
            select(PaymentRequest)
            .where(PaymentRequest.business_id == business_id)
            .order_by(PaymentRequest.id.desc())
            .limit(limit)
        )
        if session_id is not None:
            stmt = stmt.where(PaymentRequest.session_id == session_id)
        return (await self.session.execute(stmt)).scalars().all()


class LiveRepository(Repository):
    """Visits, the queue, agents' availability and chat messages."""

    async def room(self, room_id: str, *, lock: bool = False) -> ChatRoom | None:
        """A room by id alone: the client's pages find the business through it."""
        stmt = select(ChatRoom).where(ChatRoom.id == room_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar()

    async def visit(self, visit_id: str, *, lock: bool = False) -> ChatVisit | None:
        stmt = select(ChatVisit).where(ChatVisit.id == visit_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar()

    async def visit_of_session(self, session_id: str) -> ChatVisit | None:
        stmt = select(ChatVisit).where(ChatVisit.session_id == session_id)
        return (await self.session.execute(stmt)).scalar()

    async def waiting(self, room_id: str, *, limit: int = 500, fresh: bool = False
                      ) -> Sequence[ChatVisit]:  # fmt: skip
        """The room's queue, oldest first; ``fresh``: as the database has it now (read
        again after a lock), not as this transaction first read it."""
        stmt = (
            select(ChatVisit)
            .where(ChatVisit.room_id == room_id, ChatVisit.status == VisitStatus.WAITING)
            .order_by(ChatVisit.queued_at, ChatVisit.id)
            .limit(limit)
        )
        if fresh:
            stmt = stmt.execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalars().all()

    async def rooms_with_waiting(self) -> Sequence[str]:
        stmt = select(ChatVisit.room_id).where(ChatVisit.status == VisitStatus.WAITING).distinct()
        return (await self.session.execute(stmt)).scalars().all()

    async def started_before(self, before: datetime, statuses: Sequence[str], *, limit: int,
                             after: Keyset | None = None) -> Sequence[ChatVisit]:  # fmt: skip
        """A page of the visits in ``statuses`` started before ``before``, in (started,
        id) order after ``after``."""
        stmt = (
            select(ChatVisit)
            .where(ChatVisit.status.in_(statuses), ChatVisit.created_at < before,
                   after_keyset(ChatVisit.created_at, ChatVisit.id, after))
            .order_by(ChatVisit.created_at, ChatVisit.id)
            .limit(limit)
        )  # fmt: skip
        return (await self.session.execute(stmt)).scalars().all()

    async def presence(self, user_ids: Sequence[str], *, lock: bool = False
                       ) -> dict[str, AgentPresence]:  # fmt: skip
        stmt = select(AgentPresence).where(AgentPresence.user_id.in_(user_ids))
        if lock:
            stmt = stmt.with_for_update()
        return {p.user_id: p for p in (await self.session.execute(stmt)).scalars().all()}

    async def rooms_of_agent(self, user_id: str, *, waiting: bool = False) -> Sequence[str]:
        """The agent's rooms; ``waiting``: only those where a client waits."""
        stmt = select(RoomAgent.room_id).where(RoomAgent.user_id == user_id)
        if waiting:
            stmt = stmt.where(exists().where(ChatVisit.room_id == RoomAgent.room_id,
                                             ChatVisit.status == VisitStatus.WAITING))  # fmt: skip
        return (await self.session.execute(stmt)).scalars().all()

    async def leads(self, business_id: str, room_id: str, *, limit: int) -> Sequence[ChatLead]:
        stmt = (
            select(ChatLead)
            .where(ChatLead.business_id == business_id, ChatLead.room_id == room_id)
            .order_by(ChatLead.id.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def message_by_ref(self, session_id: str, party: str, ref: str) -> ChatMessage | None:
        stmt = select(ChatMessage).where(
            ChatMessage.session_id == session_id, ChatMessage.party == party,
            ChatMessage.ref == ref)  # fmt: skip
        return (await self.session.execute(stmt)).scalar()

    async def add_message(self, message: ChatMessage) -> ChatMessage:
        """Store a message; one with the ref of a stored one of the same party and session
        (stored meanwhile by another socket of the page) is that one."""
        if message.ref is None:
            await self.add(message)
            return message
        try:
            async with self.session.begin_nested():
                self.session.add(message)
        except IntegrityError:
            found = await self.message_by_ref(message.session_id, message.party, message.ref)
            if found is None:
                raise
            return found
        return message

    async def messages(self, session_id: str, *, limit: int) -> Sequence[ChatMessage]:
        stmt = (
            select(ChatMessage)
            .where(ChatMessage.session_id == session_id)
            .order_by(ChatMessage.id.desc())
            .limit(limit)
        )
        return list(reversed((await self.session.execute(stmt)).scalars().all()))

    async def live_sessions(self) -> list[tuple[str, str, str, str]]:
        """(session, business, agent, visit) of every open session whose parties are
        connected through pages."""
        stmt = (
            select(ChatSession.id, ChatSession.business_id, ChatSession.agent_id, ChatVisit.id)
            .join(ChatVisit, ChatVisit.session_id == ChatSession.id)
            .where(ChatSession.status == SessionStatus.OPEN, ChatSession.live.is_(True))
        )
        return [(r[0], r[1], r[2], r[3]) for r in (await self.session.execute(stmt)).all()]
