"""The taxi meter: chargeable time as a pure function of a session's events (docs/design.md §5).

A session opens when the client is connected. The meter runs while it has been started
(at once, unless the room lets the agent start it), is not paused, both parties are
online, and the session has not ended (hang-up or timeout). Events carry ``at``, when they
happened, which may lie before when they were recorded: an offline noticed 30 s after the
last heartbeat is dated at the heartbeat and counts from then.

``read_meter`` replays the events in the order they happened; ``refusal`` says why an
event may not be recorded now (the service turns it into a 4xx and records nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

PARTIES = ("client", "agent")


class Kind(StrEnum):
    STARTED = "start"
    PAUSED = "pause"
    RESUMED = "resume"
    WENT_OFFLINE = "offline"
    CAME_ONLINE = "online"
    HUNG_UP = "hangup"
    TIMED_OUT = "timeout"


ENDINGS = (Kind.HUNG_UP, Kind.TIMED_OUT)


@dataclass(frozen=True)
class Controls:
    """The chat room's meter settings: neither → the meter runs from connection to end."""

    agent_may_start: bool = False
    agent_may_pause: bool = False


@dataclass(frozen=True)
class MeterEvent:
    kind: Kind
    at: datetime
    party: str | None = None  # for presence events: "client" or "agent"


@dataclass(frozen=True)
class Reading:
    """The meter at one moment."""

    seconds: int  # chargeable, whole seconds (a part-second is not charged)
    state: str  # waiting | running | paused | offline | ended
    started: bool = False
    paused: bool = False
    offline: frozenset[str] = field(default_factory=frozenset)
    ended_at: datetime | None = None
    end_reason: str | None = None
    last_at: datetime | None = None  # the latest ``at`` of the events read
    # While running: the moment from which the chargeable time counts without a break, so
    # ``seconds_at`` is exact later without replaying the events.
    origin: datetime | None = None
    offline_since: datetime | None = None  # since when a party (the first one) is offline


def seconds_at(seconds: int, origin: datetime | None, t: datetime) -> int:
    """Chargeable seconds at ``t`` from a reading's ``seconds`` and ``origin`` (its
    checkpoint), if nothing happened since; never fewer than at the checkpoint."""
    return seconds if origin is None else max(seconds, int((t - origin).total_seconds()))


def _state(started: bool, paused: bool, offline: frozenset[str], ended: bool) -> str:
    if ended:
        return "ended"
    if not started:
        return "waiting"
    if paused:
        return "paused"
    return "offline" if offline else "running"


def read_meter(
    opened_at: datetime, events: Iterable[MeterEvent], controls: Controls, *, at: datetime
) -> Reading:
    """The meter as it stands at ``at`` (events after ``at`` are not yet known to it)."""
    ordered = sorted((e for e in events if e.at <= at), key=lambda e: e.at)  # stable
    started, paused, ended = not controls.agent_may_start, False, False
    offline: dict[str, datetime] = {}
    ended_at, reason, last = None, None, None
    running_since: datetime | None = opened_at if started else None
    total = timedelta(0)
    for event in ordered:
        moment = max(event.at, opened_at)
        last = event.at if last is None else max(last, event.at)
        if ended:
            continue
        if event.kind == Kind.STARTED:
            started = True
        elif event.kind == Kind.PAUSED:
            paused = True
        elif event.kind == Kind.RESUMED:
            paused = False
        elif event.kind == Kind.WENT_OFFLINE and event.party:
            offline.setdefault(event.party, moment)
        elif event.kind == Kind.CAME_ONLINE and event.party:
            offline.pop(event.party, None)
        elif event.kind in ENDINGS:
            ended, ended_at, reason = True, moment, event.kind.value
        runs = started and not paused and not offline and not ended
        if running_since is not None and not runs:
            total += moment - running_since
            running_since = None
        elif running_since is None and runs:
            running_since = moment
    origin = None
    if running_since is not None:
        total += max(at - running_since, timedelta(0))
        origin = at - total
    return Reading(
        seconds=int(total.total_seconds()),
        state=_state(started, paused, frozenset(offline), ended),
        started=started, paused=paused, offline=frozenset(offline),
        ended_at=ended_at, end_reason=reason, last_at=last, origin=origin,
        offline_since=min(offline.values()) if offline and not ended else None,
    )  # fmt: skip


def refusal(
    reading: Reading, event: MeterEvent, controls: Controls, *, opened_at: datetime,
    now: datetime,
) -> tuple[str, str] | None:  # fmt: skip
    """Why ``event`` may not be recorded on a meter that reads ``reading`` now: (code,
    sentence), or None when it may. Presence that changes nothing is not refused here; the
    service simply records nothing."""
    if reading.state == "ended":
        return "session_ended", "The session has ended; nothing more can happen on its meter."
    if event.at > now:
        return "event_in_future", "An event cannot be dated in the future."
    if event.at < opened_at:
        return "event_before_session", "An event cannot be dated before the session opened."
    backdated = reading.last_at is not None and event.at < reading.last_at
    if backdated and event.kind != Kind.WENT_OFFLINE:
        # Only an offline is noticed late; everything else is recorded as it happens.
        return "event_out_of_order", "This event is dated before the session's last event."
    return _control_refusal(reading, event, controls)


def _control_refusal(
    reading: Reading, event: MeterEvent, controls: Controls
) -> tuple[str, str] | None:
    kind = event.kind
    if kind in (Kind.WENT_OFFLINE, Kind.CAME_ONLINE) and event.party not in PARTIES:
        return "invalid_party", "Presence is reported for the 'client' or the 'agent'."
    if kind == Kind.STARTED:
        if not controls.agent_may_start:
            return "start_not_allowed", "In this room the meter runs from the connection."
        if reading.started:
            return "meter_already_started", "The meter has been started already."
    if kind in (Kind.PAUSED, Kind.RESUMED) and not controls.agent_may_pause:
        return "pause_not_allowed", "In this room the agent may not pause the meter."
    if kind == Kind.PAUSED:
        if not reading.started:
            return "meter_not_started", "The meter has not been started yet."
        if reading.paused:
            return "meter_already_paused", "The meter is paused already."
    if kind == Kind.RESUMED and not reading.paused:
        return "meter_not_paused", "The meter is not paused."
    return None
