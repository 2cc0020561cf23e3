"""The meetings' worker job: participants whose pages nobody has heard for the offline
window (their server process died, or restarted and they did not come back) leave their
meetings, and the others are told. A page's own process notices its silent sockets itself
(``Registry.watch``); this is for the pages no process is watching any more."""

from __future__ import annotations

import logging
from datetime import timedelta

from fareroom.kit.clock import Clock
from fareroom.meetings.realtime import UnitOfWork, presence_key, room_topic
from fareroom.realtime.hub import Hub

log = logging.getLogger("fareroom.meetings")


class MeetingJobs:
    def __init__(self, unit_of_work: UnitOfWork, hub: Hub, clock: Clock, *,
                 offline_after: float) -> None:  # fmt: skip
        self._uow, self._hub, self._clock = unit_of_work, hub, clock
        self._offline_after = offline_after

    async def sweep(self) -> int:
        """Leave the lapsed participants; returns how many left."""
        now = self._clock.now()
        before = now - timedelta(seconds=self._offline_after)
        async with self._uow() as s:
            present = await s.meeting_live.present_since(before)
        if not present:
            return 0
        seen = await self._hub.last_seen([presence_key(p.id) for p in present])
        limit = before.timestamp()
        lapsed = [p for p in present if seen.get(presence_key(p.id), 0.0) < limit]
        for p in lapsed:
            async with self._uow() as s:
                gone = await s.meeting_live.leave(p.room_id, p.id, "offline")
            if gone is not None and gone.admitted:
                await self._hub.publish(room_topic(p.room_id), {
                    "type": "left", "participant": gone.id, "reason": "offline"})  # fmt: skip
        if lapsed:
            log.info("%d meeting participants left: nobody heard their pages", len(lapsed))
        return len(lapsed)
