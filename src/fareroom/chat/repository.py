from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.models.business import User
from fareroom.models.chat import AgentTariff, ChatRoom, PaymentRequest, RoomAgent, TariffRow


class ChatRepository:
    """Every query is scoped to one business."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *objs: object) -> None:
        self.session.add_all(objs)
        await self.session.flush()

    async def room(self, business_id: str, room_id: str) -> ChatRoom | None:
        stmt = select(ChatRoom).where(ChatRoom.id == room_id, ChatRoom.business_id == business_id)
        return (await self.session.execute(stmt)).scalar()

    async def rooms(self, business_id: str) -> Sequence[ChatRoom]:
        stmt = select(ChatRoom).where(ChatRoom.business_id == business_id).order_by(ChatRoom.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def tariff(self, tariff_id: str) -> TariffRow | None:
        return await self.session.get(TariffRow, tariff_id)

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

    async def requests(self, business_id: str, *, limit: int) -> Sequence[PaymentRequest]:
        stmt = (
            select(PaymentRequest)
            .where(PaymentRequest.business_id == business_id)
            .order_by(PaymentRequest.id.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()
