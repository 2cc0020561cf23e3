from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from fareroom.kit.db import Keyset, after_keyset
from fareroom.kit.repository import Repository, for_update
from fareroom.models.metering import (
    SETTLED,
    ChatSession,
    Collection,
    CollectionStatus,
    MeterEventRow,
    SessionStatus,
    TariffRow,
)

# What the meter's tick reads of every open session: the checkpoint and the tariff, no events.
_OPEN = (
    select(ChatSession.id, ChatSession.business_id, ChatSession.meter_seconds,
           ChatSession.meter_origin, ChatSession.meter_state, ChatSession.collected,
           TariffRow.currency, TariffRow.free_minutes, TariffRow.block_minutes,
           TariffRow.block_price, TariffRow.increment_seconds, TariffRow.split_threshold,
           TariffRow.preauth_amount)
    .join(TariffRow, TariffRow.id == ChatSession.tariff_id)
    .where(ChatSession.status == SessionStatus.OPEN)
)  # fmt: skip
_PENDING = Collection.status == CollectionStatus.PENDING


class MeteringRepository(Repository):
    async def tariff(self, tariff_id: str) -> TariffRow | None:
        return await self.session.get(TariffRow, tariff_id)

    async def status(self, session_id: str, *, lock: bool = False) -> SessionStatus | None:
        stmt = select(ChatSession.status).where(ChatSession.id == session_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar()

    async def chat_session(
        self, business_id: str | None, session_id: str, *, lock: bool = False
    ) -> ChatSession | None:
        stmt = select(ChatSession).where(ChatSession.id == session_id)
        if business_id is not None:
            stmt = stmt.where(ChatSession.business_id == business_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar()

    async def chat_sessions(self, business_id: str, *, limit: int,
                            status: SessionStatus | None = None
                            ) -> Sequence[ChatSession]:  # fmt: skip
        stmt = select(ChatSession).where(ChatSession.business_id == business_id)
        if status:
            stmt = stmt.where(ChatSession.status == status)
        return (await self.session.execute(
            stmt.order_by(ChatSession.id.desc()).limit(limit))).scalars().all()  # fmt: skip

    async def events(self, session_id: str) -> Sequence[MeterEventRow]:
        stmt = (select(MeterEventRow).where(MeterEventRow.session_id == session_id)
                .order_by(MeterEventRow.id))  # fmt: skip
        return (await self.session.execute(stmt)).scalars().all()

    async def collections(self, session_id: str) -> Sequence[Collection]:
        stmt = (select(Collection).where(Collection.session_id == session_id)
                .order_by(Collection.created_at, Collection.id))  # fmt: skip
        return (await self.session.execute(stmt)).scalars().all()

    async def collection(self, collection_id: str, *, lock: bool = False) -> Collection | None:
        """``lock``: the row as it is once its lock is held (read again, not the session's
        copy: two executions of one collection meet here, and the second must see the
        first's outcome)."""
        stmt = select(Collection).where(Collection.id == collection_id)
        if lock:
            await self.session.flush()  # nothing of ours is overwritten by the read
            stmt = for_update(stmt)
        return (await self.session.execute(stmt)).scalar()

    async def pending_collection(self, session_id: str) -> tuple[str, str] | None:
        """(id, business id) of the session's oldest pending collection."""
        stmt = (select(Collection.id, Collection.business_id)
                .where(Collection.session_id == session_id, _PENDING)
                .order_by(Collection.created_at, Collection.id).limit(1))  # fmt: skip
        row = (await self.session.execute(stmt)).first()
        return (row[0], row[1]) if row else None

    async def stale_collections(self, before: datetime, *, limit: int,
                                after: Keyset | None = None) -> Sequence[Any]:  # fmt: skip
        """A page of (created, id, session id) of the collections pending since before
        ``before``, in (created, id) order after ``after``."""
        stmt = (select(Collection.created_at, Collection.id, Collection.session_id)
                .where(_PENDING, Collection.created_at <= before,
                       after_keyset(Collection.created_at, Collection.id, after))
                .order_by(Collection.created_at, Collection.id).limit(limit))  # fmt: skip
        return (await self.session.execute(stmt)).all()

    async def timed_out(self, now: datetime, *, limit: int, after: Keyset | None = None
                        ) -> Sequence[Any]:  # fmt: skip
        """A page of (timeout, id) of the sessions a party has been offline from for too
        long (read through the index), in that order after ``after``."""
        stmt = (select(ChatSession.timeout_at, ChatSession.id)
                .where(ChatSession.timeout_at < now,
                       after_keyset(ChatSession.timeout_at, ChatSession.id, after))
                .order_by(ChatSession.timeout_at, ChatSession.id).limit(limit))  # fmt: skip
        return (await self.session.execute(stmt)).all()

    async def busy_agents(self, user_ids: Sequence[str]) -> set[str]:
        """Agents among ``user_ids`` with an open session."""
        stmt = select(ChatSession.agent_id).where(
            ChatSession.agent_id.in_(user_ids), ChatSession.status == SessionStatus.OPEN
        )
        return set((await self.session.execute(stmt)).scalars().all())

    async def last_ended(self, user_ids: Sequence[str]) -> dict[str, datetime]:
        """When each agent's latest session ended."""
        stmt = (
            select(ChatSession.agent_id, func.max(ChatSession.ended_at))
            .where(ChatSession.agent_id.in_(user_ids), ChatSession.ended_at.is_not(None))
            .group_by(ChatSession.agent_id)
        )
        return {a: t for a, t in (await self.session.execute(stmt)).all() if t is not None}

    async def agent_sessions(self, business_id: str, agent_id: str, *, limit: int
                             ) -> Sequence[ChatSession]:  # fmt: skip
        """The agent's sessions that still need them (open, collecting, failed) first,
        then the latest others."""
        stmt = (
            select(ChatSession)
            .where(ChatSession.business_id == business_id, ChatSession.agent_id == agent_id)
            .order_by(ChatSession.status.in_(SETTLED), ChatSession.id.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def open_sessions(self, *, after: str = "", limit: int = 5000) -> Sequence[Any]:
        stmt = _OPEN.where(ChatSession.id > after).order_by(ChatSession.id).limit(limit)
        return (await self.session.execute(stmt)).all()

    async def open_ids(self) -> Sequence[str]:
        stmt = select(ChatSession.id).where(ChatSession.status == SessionStatus.OPEN)
        return (await self.session.execute(stmt)).scalars().all()
