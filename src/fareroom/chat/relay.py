"""What follows a change in a chat, whoever made it (a page, the API, the worker):
carry out the collections it planned and tell both parties (``MeterJobs.announce``), and
give freed agents waiting clients.

``Relay`` is given what it needs (built by ``bootstrap``): a unit of work, the hub, the
clock, the meter's jobs and the presence timings. It reads no settings.

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
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from fareroom.accounts.service import AccountsService
from fareroom.chat.live import Connected, LiveService, agent_key, visit_key
from fareroom.chat.schemas import PaymentRequestOut
from fareroom.chat.service import ChatService
from fareroom.clients.service import ClientsService
from fareroom.gateway.base import GatewayError
from fareroom.kit.clock import Clock
from fareroom.kit.db import Keyset
from fareroom.kit.errors import FareroomError, ValidationFailed
from fareroom.metering.schemas import SessionOut, session_out
from fareroom.metering.service import MeteringService
from fareroom.metering.tasks import MeterJobs, session_topic
from fareroom.models.chat import (
    BEFORE_CONNECTED,
    Availability,
    ChatMessage,
    ChatVisit,
    PaymentRequest,
    VisitStatus,
)
from fareroom.models.metering import ChatSession, SessionStatus
from fareroom.realtime.hub import Hub

log = logging.getLogger("fareroom.chat")


class ChatUnit(Protocol):
    """What a unit of work gives the chat's relay and pages."""

    accounts: AccountsService
    clients: ClientsService
    chat: ChatService
    metering: MeteringService
    live: LiveService


class UnitOfWork(Protocol):
    def __call__(self, business_id: str | None = None) -> AbstractAsyncContextManager[ChatUnit]: ...


def message_out(m: ChatMessage) -> dict[str, Any]:
    return {"id": m.id, "party": m.party, "text": m.body, "at": m.created_at.isoformat()}


def request_out(r: PaymentRequest) -> dict[str, Any]:
    return PaymentRequestOut.model_validate(r).model_dump(mode="json")


async def visit_view(s: ChatUnit, visit: ChatVisit) -> dict[str, Any]:
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


def _nobody(s: ChatUnit, visit: ChatVisit) -> dict[str, Any]:
    release = s.live.release_at(visit)
    return {"agents_online": visit.nobody_since is None,
            "release_at": release.isoformat() if release else None}  # fmt: skip


@dataclass(frozen=True)
class Relay:
    unit_of_work: UnitOfWork
    hub: Hub
    clock: Clock
    meters: MeterJobs
    offline_after: float  # seconds: a page not heard this long is offline
    presence_timeout: float  # seconds: a visit's page gone this long is left

    def connected(self) -> Connected:
        """Which presence keys were heard within the offline window."""

        async def live(keys: Sequence[str]) -> set[str]:
            seen = await self.hub.last_seen(keys)
            since = self.clock.now().timestamp() - self.offline_after
            return {k for k, t in seen.items() if t >= since}

        return live

    async def announce(self, business_id: str | None, session_id: str) -> SessionOut:
        """Carry out what the session's last change planned, then publish its state; an
        ended session frees its agent for the next waiting client."""
        state = await self.meters.announce(business_id, session_id)
        if state.session.status != SessionStatus.OPEN and state.session.live:
            await self.route_agent(state.session.agent_id)
        return session_out(state)

    async def say(self, message: ChatMessage, *, ref: str | None = None) -> None:
        """Both parties get the message; ``ref`` (the sender's own name for it) lets the
        sending page tell that it arrived."""
        out = {"type": "message", "session_id": message.session_id, **message_out(message)}
        await self.hub.publish(session_topic(message.session_id),
                               {**out, "ref": ref} if ref else out)  # fmt: skip

    async def call(self, session: ChatSession, party: str, data: dict[str, Any]) -> None:
        """A call's frame (a signal of the two pages' WebRTC connection, or ring, answer,
        decline, end) to both pages of an open session; each ignores its own. The meter
        neither knows nor cares: the chat's presence rules go on as they were."""
        if session.status is not SessionStatus.OPEN:
            raise ValidationFailed("A call is made during the chat only.", code="chat_not_open")
        await self.hub.publish(session_topic(session.id), {
            "type": "call", "session_id": session.id, "from": party, "data": data})  # fmt: skip

    async def request_changed(self, request: PaymentRequest) -> None:
        if request.session_id:
            await self.hub.publish(
                session_topic(request.session_id),
                {"type": "payment_request", "request": request_out(request)},
            )

    async def route(self, room_id: str, *, queue_changed: bool = False) -> int:
        """Give the room's waiting clients idle agents; tell everyone concerned when the
        queue changed (someone was connected, or ``queue_changed``: someone joined or
        left): the clients still waiting get their new places, and every agent of the
        room, busy or not, the number waiting."""
        try:
            async with self.unit_of_work() as s:
                routed = await s.live.route(room_id, self.connected())
                done = routed.assigned
                tell = bool(done) or bool(routed.lapsed) or queue_changed
                queue = ([(v.id, _nobody(s, v)) for v in await s.live.queue(room_id)]
                         if tell else [])  # fmt: skip
                agents = await s.chat.room_agent_ids(room_id) if tell else []
                lapsed = [await visit_view(s, v) for v in routed.lapsed]
        except FareroomError:
            log.exception("routing room %s failed", room_id)
            return 0
        hub = self.hub
        # A client whose hold lapsed is asked for a card again (the page shows the card step).
        await hub.publish_many((visit_key(view["id"]), {"type": "visit", "visit": view})
                               for view in lapsed)  # fmt: skip
        for a in done:
            sid, agent = a.state.session.id, a.state.session.agent_id
            await hub.publish(visit_key(a.visit.id), {"type": "connected", "session_id": sid})
            await hub.publish(agent_key(agent), {"type": "assigned", "session_id": sid})
            await self.announce(a.state.session.business_id, sid)
        await hub.publish_many((visit_key(v), {"type": "queue", "position": n, **nobody})
                               for n, (v, nobody) in enumerate(queue, 1))  # fmt: skip
        waiting = {"type": "queues", "queues": {room_id: len(queue)}}
        await hub.publish_many((agent_key(a), waiting) for a in agents)
        return len(done)

    async def visit_back(self, visit: ChatVisit) -> None:
        """A client's page said hello again: while it waits, the room may have an agent
        for it now."""
        if visit.status == VisitStatus.WAITING:
            await self.route(visit.room_id)

    async def availability_changed(self, agent_id: str, status: str) -> None:
        """The agent's consoles hear it; an agent back online may get a waiting client."""
        await self.hub.publish(agent_key(agent_id), {"type": "availability", "status": status})
        if status == Availability.ONLINE:
            await self.route_agent(agent_id)

    async def route_agent(self, agent_id: str) -> int:
        """Route the agent's rooms where someone waits (routing one where nobody does would
        do nothing: a session's end reads one query, not one transaction per room)."""
        async with self.unit_of_work() as s:
            rooms = await s.live.rooms_of_agent(agent_id, waiting=True)
        return sum([await self.route(room) for room in rooms])

    async def route_all(self) -> int:
        """Every room with someone waiting (the worker's safety net: an agent freed or a
        client back in a process that could not route at once)."""
        async with self.unit_of_work() as s:
            rooms = await s.live.rooms_with_waiting()
        return sum([await self.route(room) for room in rooms])

    async def sweep_timeouts(self) -> int:
        """End the timed-out sessions and tell their parties (the worker's round)."""
        return await self.meters.sweep_timeouts(then=lambda sid: self.announce(None, sid))

    async def watch_queues(self) -> int:
        """The worker's look at every queue while none of its room's agents is online: its
        clients are told so (and when an agent is back), and those who waited the setting's
        time with nobody online are made to leave, their holds released, and shown the away
        step (``visit`` with ``reason``). Returns how many visits it released."""
        async with self.unit_of_work() as s:
            rooms = await s.live.rooms_with_waiting()
        released = 0
        for room_id in rooms:
            try:
                async with self.unit_of_work() as s:
                    watch = await s.live.watch_queue(room_id, self.connected())
                    views = [await visit_view(s, v) for v in watch.released]
            except (FareroomError, GatewayError):  # the next round tries again
                log.exception("watching the queue of room %s failed", room_id)
                continue
            released += len(views)
            await self.hub.publish_many(
                (visit_key(view["id"]),
                 {"type": "visit", "visit": view, "reason": "no_agent_online"})
                for view in views
            )  # fmt: skip
            if watch.changed or watch.released:
                await self.route(room_id, queue_changed=True)
        return released

    async def sweep_presence(self) -> int:
        """The safety net for pages whose process died (their own process reports them):
        a party of a live session not heard within the offline window is recorded offline
        from when it was last heard (or, if the hub never heard it, from when the hub
        started); a visit not yet connected whose page has been gone for the presence
        timeout is left, and its hold released. Returns how many it changed."""
        now = self.clock.now()
        hub = self.hub
        async with self.unit_of_work() as s:
            sessions = await s.live.live_sessions()
        parties = [
            (sid, biz, party, key)
            for sid, biz, agent, visit in sessions
            for party, key in (("client", visit_key(visit)), ("agent", agent_key(agent)))
        ]
        seen = await hub.last_seen([p[3] for p in parties])
        offline_since = now.timestamp() - self.offline_after
        changed = 0
        for sid, biz, party, key in parties:
            last = seen.get(key, hub.started_at)
            if last >= offline_since:
                continue
            try:
                async with self.unit_of_work(biz) as s:
                    # Heard since the look above (a page that came back while the sweep
                    # ran, e.g. after a restart)? Then it is not offline.
                    last = (await hub.last_seen([key])).get(key, last)
                    if last >= offline_since:
                        continue
                    at = datetime.fromtimestamp(last, UTC)
                    if not await s.metering.presence(biz, sid, party, online=False, at=at):
                        continue
            except FareroomError as exc:
                log.info("presence of %s in %s not recorded: %s", party, sid, exc.code)
                continue
            changed += 1
            await self.announce(biz, sid)
        return changed + await self._release_gone_visits(now)

    async def _release_gone_visits(self, now: datetime, *, batch: int = 100) -> int:
        """Leave the visits not yet connected whose page has been gone for the presence
        timeout, releasing their holds. All such visits are read, a page at a time in
        (started, id) order: visits whose pages are still heard (however many) are passed
        over, never read again and again in place of the others."""
        gone_before = now.timestamp() - self.presence_timeout
        after: Keyset | None = None
        changed = 0
        while True:
            async with self.unit_of_work() as s:
                started_before = now - timedelta(seconds=self.presence_timeout)
                visits = await s.live.stale_visits(started_before, after=after, limit=batch)
            seen = await self.hub.last_seen([visit_key(v.id) for v in visits])
            for visit in visits:
                if seen.get(visit_key(visit.id), self.hub.started_at) >= gone_before:
                    continue
                async with self.unit_of_work(visit.business_id) as s:
                    found = await s.live.lock_visit(visit.id)
                    if found is None or found.status not in BEFORE_CONNECTED:
                        continue
                    await s.live.leave(found)
                changed += 1
                await self.route(visit.room_id, queue_changed=True)
            if len(visits) < batch:
                return changed
            after = (visits[-1].created_at, visits[-1].id)
