"""The simulator's one door into chat and metering: opening a metered session, its meter's
events, a card changed or a debt abandoned, payment requests, and the jobs that collect.

Each write is one unit of work, then "settle, then publish" as the endpoints do
(``ctx.relay.announce``). Only this module knows how chat and metering are reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fareroom.bootstrap import Context, Services
from fareroom.metering.repository import MeteringRepository
from fareroom.models.chat import PaymentRequest
from fareroom.models.metering import ChatSession

_NEVER = datetime(9999, 1, 1, tzinfo=UTC)


async def open_session(ctx: Context, business_id: str, *, room_id: str, agent_id: str,
                       client_id: str, session_id: str) -> None:  # fmt: skip
    async with ctx.unit_of_work(business_id) as s:
        biz = await s.payments.business(business_id)
        await s.chat.open_session(
            biz,
            room_id=room_id,
            agent_id=agent_id,
            client_id=client_id,
            card_id=None,
            accepted_terms=True,
            session_id=session_id,
        )


async def record(ctx: Context, business_id: str, session_id: str, kind: str,
                 party: str | None = None) -> None:  # fmt: skip
    async with ctx.unit_of_work(business_id) as s:
        await s.metering.record(business_id, session_id, kind, party=party)
    await settle(ctx, business_id, session_id)


async def change_card(ctx: Context, business_id: str, session_id: str, card_id: str) -> None:
    async with ctx.unit_of_work(business_id) as s:
        biz = await s.payments.business(business_id)
        await s.metering.change_card(biz, session_id, card_id)
    await settle(ctx, business_id, session_id)


async def abandon(ctx: Context, business_id: str, session_id: str) -> None:
    async with ctx.unit_of_work(business_id) as s:
        await s.metering.abandon(await s.payments.business(business_id), session_id)


async def settle(ctx: Context, business_id: str, session_id: str) -> None:
    """Carry out what the session's last change planned, and publish it."""
    await ctx.relay.announce(business_id, session_id)


async def tick(ctx: Context) -> None:
    """The meter's tick: live meters published, split bills collected."""
    await ctx.meters.tick()


async def sessions(ctx: Context, business_id: str) -> Sequence[ChatSession]:
    """The business's sessions, oldest first (their rows: the simulator asks often, and
    their live states would cost a read of tariff and events each)."""
    async with ctx.unit_of_work() as s:
        return await _sessions(s, business_id)


async def _sessions(s: Services, business_id: str) -> Sequence[ChatSession]:
    found = await MeteringRepository(s.session).chat_sessions(business_id, limit=500)
    return sorted(found, key=lambda x: x.id)


@dataclass(frozen=True)
class Records:
    """What the checks read of a business's chats: its sessions, those of them with a
    collection left pending, and its payment requests."""

    sessions: Sequence[ChatSession]
    pending: set[str]
    requests: Sequence[PaymentRequest]


async def records(s: Services, business_id: str) -> Records:
    """The business's chat records, read in the caller's unit of work."""
    found = await _sessions(s, business_id)
    # Every collection still pending (none is planned after the year 9999), in one query.
    pending = await MeteringRepository(s.session).stale_collections(_NEVER, limit=10_000)
    ids = {x.id for x in found}
    return Records(found, {row.session_id for row in pending if row.session_id in ids},
                   list(await s.chat.requests(business_id, limit=500)))  # fmt: skip


async def request(ctx: Context, business_id: str, *, room_id: str, agent_id: str,
                  client_id: str, session_id: str | None, total: int, category: str,
                  request_id: str) -> None:  # fmt: skip
    """An agent's payment request (in a chat when ``session_id`` is given)."""
    async with ctx.unit_of_work(business_id) as s:
        await s.chat.create_request(
            await s.payments.business(business_id), room_id=room_id, agent_id=agent_id,
            client_id=client_id, category=category, session_id=session_id,
            items=[{"description": "Advice", "quantity": 1, "unit_price": total}],
            request_id=request_id)  # fmt: skip


async def pay_request(ctx: Context, business_id: str, request_id: str) -> None:
    async with ctx.unit_of_work(business_id) as s:
        await s.chat.pay_request(await s.payments.business(business_id), request_id,
                                 card_id=None)  # fmt: skip
