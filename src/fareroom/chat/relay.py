"""What follows a change in a chat, whoever made it (a page, the API, the worker):
carry out the collections it planned, tell both parties, and give freed agents waiting
clients.

Hub messages (the pages' side of docs/realtime.md):

- ``session:<id>``: ``session`` (the whole state after a change), ``meter`` (the tick),
  ``message``, ``payment_request``;
- ``visit:<id>``: ``queue`` (position, whether an agent is online, when the hold is
  released if none comes), ``connected`` (a session was opened), ``visit`` (the visit was
  made to leave: nobody came online);
- ``agent:<id>``: ``assigned`` (a client was given to the agent), ``availability``,
  ``queues`` (the clients waiting in a room of the agent's, whenever that changes).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fareroom.chat.live import BEFORE_CONNECTED, Connected, agent_key, visit_key
from fareroom.chat.schemas import PaymentRequestOut, SessionOut, session_out
from fareroom.gateway.base import GatewayError
from fareroom.kit.db import Keyset
from fareroom.kit.errors import FareroomError
from fareroom.metering.tasks import settle
from fareroom.models.chat import ChatMessage, ChatVisit, PaymentRequest

if TYPE_CHECKING:
    from fareroom.bootstrap import Context, Services

log = logging.getLogger("fareroom.chat")


def session_topic(session_id: str) -> str:
    return f"session:{session_id}"


def message_out(m: ChatMessage) -> dict[str, Any]:
    return {"id": m.id, "party": m.party, "text": m.body, "at": m.created_at.isoformat()}


def request_out(r: PaymentRequest) -> dict[str, Any]:
    return PaymentRequestOut.model_validate(r).model_dump(mode="json")


async def visit_view(s: Services, visit: ChatVisit) -> dict[str, Any]:
    """What a client's page shows of its visit (before the session's own state): the name
    typed in its contact form, never the name of the client record it was matched to;
    while waiting, whether an agent is online and, if none is, when the hold is released."""
    room = await s.chat.room(visit.business_id, visit.room_id)
    name = visit.name or (await s.clients.get(visit.business_id, visit.client_id)).name
    view: dict[str, Any] = {
        "id": visit.id, "status": visit.status, "room": room.name, "name": name,
        "position": await s.live.position(visit), "session_id": visit.session_id,
        "terms": visit.terms or await s.live.terms(visit), **_nobody(s, visit),
    }  # fmt: skip
    return view


def _nobody(s: Services, visit: ChatVisit) -> dict[str, Any]:
    release = s.live.release_at(visit)
    return {"agents_online": visit.nobody_since is None,
            "release_at": release.isoformat() if release else None}  # fmt: skip


def connected(ctx: Context) -> Connected:
    """Which presence keys were heard within the offline window."""

    async def live(keys: Sequence[str]) -> set[str]:
        seen = await ctx.hub.last_seen(keys)
        since = ctx.clock.now().timestamp() - ctx.settings.offline_after_seconds
        return {k for k, t in seen.items() if t >= since}

    return live


async def announce(ctx: Context, business_id: str | None, session_id: str) -> SessionOut:
    """Carry out what the session's last change planned, then publish its state; an
    ended session frees its agent for the next waiting client."""
    await settle(ctx, session_id)
    async with ctx.unit_of_work() as s:
        state = await s.metering.state(business_id, session_id)
    out = session_out(state)
    await ctx.hub.publish(session_topic(session_id),
                          {"type": "session", "session": out.model_dump(mode="json")})  # fmt: skip
    if state.session.status != "open" and state.session.live:
        await route_agent(ctx, state.session.agent_id)
    return out


async def say(ctx: Context, message: ChatMessage, *, ref: str | None = None) -> None:
    """Both parties get the message; ``ref`` (the sender's own name for it) lets the
    sending page tell that it arrived."""
    out = {"type": "message", "session_id": message.session_id, **message_out(message)}
    await ctx.hub.publish(session_topic(message.session_id),
                          {**out, "ref": ref} if ref else out)  # fmt: skip


async def request_changed(ctx: Context, request: PaymentRequest) -> None:
    if request.session_id:
        await ctx.hub.publish(
            session_topic(request.session_id),
            {"type": "payment_request", "request": request_out(request)},
        )


async def route(ctx: Context, room_id: str, *, queue_changed: bool = False) -> int:
    """Give the room's waiting clients idle agents; tell everyone concerned when the queue
    changed (someone was connected, or ``queue_changed``: someone joined or left): the
    clients still waiting get their new places, and every agent of the room, busy or
    not, the number waiting."""
    try:
        async with ctx.unit_of_work() as s:
            routed = await s.live.route(room_id, connected(ctx))
            done = routed.assigned
            tell = bool(done) or bool(routed.lapsed) or queue_changed
            queue = [(v.id, _nobody(s, v)) for v in await s.live.queue(room_id)] if tell else []
            agents = await s.chat.room_agent_ids(room_id) if tell else []
            lapsed = [await visit_view(s, v) for v in routed.lapsed]
    except FareroomError:
        log.exception("routing room %s failed", room_id)
        return 0
    # A client whose hold lapsed is asked for a card again (the page shows the card step).
    await ctx.hub.publish_many((visit_key(view["id"]), {"type": "visit", "visit": view})
                               for view in lapsed)  # fmt: skip
    for a in done:
        sid, agent = a.state.session.id, a.state.session.agent_id
        await ctx.hub.publish(visit_key(a.visit.id), {"type": "connected", "session_id": sid})
        await ctx.hub.publish(agent_key(agent), {"type": "assigned", "session_id": sid})
        await announce(ctx, a.state.session.business_id, sid)
    await ctx.hub.publish_many((visit_key(v), {"type": "queue", "position": n, **nobody})
                               for n, (v, nobody) in enumerate(queue, 1))  # fmt: skip
    waiting = {"type": "queues", "queues": {room_id: len(queue)}}
    await ctx.hub.publish_many((agent_key(a), waiting) for a in agents)
    return len(done)


async def route_agent(ctx: Context, agent_id: str) -> int:
    async with ctx.unit_of_work() as s:
        rooms = await s.live.rooms_of_agent(agent_id)
    return sum([await route(ctx, room) for room in rooms])


async def route_all(ctx: Context) -> int:
    """Every room with someone waiting (the worker's safety net: an agent freed or a
    client back in a process that could not route at once)."""
    async with ctx.unit_of_work() as s:
        rooms = await s.live.rooms_with_waiting()
    return sum([await route(ctx, room) for room in rooms])


async def watch_queues(ctx: Context) -> int:
    """The worker's look at every queue while none of its room's agents is online: its
    clients are told so (and when an agent is back), and those who waited the setting's
    time with nobody online are made to leave, their holds released, and shown the away
    step (``visit`` with ``reason``). Returns how many visits it released."""
    async with ctx.unit_of_work() as s:
        rooms = await s.live.rooms_with_waiting()
    released = 0
    for room_id in rooms:
        try:
            async with ctx.unit_of_work() as s:
                watch = await s.live.watch_queue(room_id, connected(ctx))
                views = [await visit_view(s, v) for v in watch.released]
        except (FareroomError, GatewayError):  # the next round tries again
            log.exception("watching the queue of room %s failed", room_id)
            continue
        released += len(views)
        await ctx.hub.publish_many(
            (visit_key(view["id"]), {"type": "visit", "visit": view, "reason": "no_agent_online"})
            for view in views
        )
        if watch.changed or watch.released:
            await route(ctx, room_id, queue_changed=True)
    return released


async def sweep_presence(ctx: Context) -> int:
    """The safety net for pages whose process died (their own process reports them):
    a party of a live session not heard within the offline window is recorded offline from
    when it was last heard (or, if the hub never heard it, from when the hub started); a
    visit not yet connected whose page has been gone for the presence timeout is left,
    and its hold released. Returns how many it changed."""
    now = ctx.clock.now()
    hub = ctx.hub
    async with ctx.unit_of_work() as s:
        sessions = await s.live.live_sessions()
    parties = [
        (sid, biz, party, key)
        for sid, biz, agent, visit in sessions
        for party, key in (("client", visit_key(visit)), ("agent", agent_key(agent)))
    ]
    seen = await hub.last_seen([p[3] for p in parties])
    offline_since = now.timestamp() - ctx.settings.offline_after_seconds
    changed = 0
    for sid, biz, party, key in parties:
        last = seen.get(key, hub.started_at)
        if last >= offline_since:
            continue
        try:
            async with ctx.unit_of_work(biz) as s:
                before = await s.metering.state(biz, sid)
                if party in before.offline:
                    continue
                # Heard since the look above (a page that came back while the sweep ran,
                # e.g. after a restart)? Then it is not offline.
                last = (await hub.last_seen([key])).get(key, last)
                if last >= offline_since:
                    continue
                at = max(datetime.fromtimestamp(last, UTC), before.session.opened_at)
                await s.metering.record(biz, sid, "offline", party=party, at=at)
        except FareroomError as exc:
            log.info("presence of %s in %s not recorded: %s", party, sid, exc.code)
            continue
        changed += 1
        await announce(ctx, biz, sid)
    return changed + await _release_gone_visits(ctx, now)


async def _release_gone_visits(ctx: Context, now: datetime, *, batch: int = 100) -> int:
    """Leave the visits not yet connected whose page has been gone for the presence
    timeout, releasing their holds. All such visits are read, a page at a time in
    (started, id) order: visits whose pages are still heard (however many) are passed
    over, never read again and again in place of the others."""
    timeout = ctx.settings.presence_timeout_seconds
    gone_before = now.timestamp() - timeout
    after: Keyset | None = None
    changed = 0
    while True:
        async with ctx.unit_of_work() as s:
            visits = await s.live.stale_visits(now - timedelta(seconds=timeout), after=after,
                                               limit=batch)  # fmt: skip
        seen = await ctx.hub.last_seen([visit_key(v.id) for v in visits])
        for visit in visits:
            if seen.get(visit_key(visit.id), ctx.hub.started_at) >= gone_before:
                continue
            async with ctx.unit_of_work(visit.business_id) as s:
                found = await s.live.lock_visit(visit.id)
                if found is None or found.status not in BEFORE_CONNECTED:
                    continue
                await s.live.leave(found)
            changed += 1
            await route(ctx, visit.room_id, queue_changed=True)
        if len(visits) < batch:
            return changed
        after = (visits[-1].created_at, visits[-1].id)
