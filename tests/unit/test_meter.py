"""The meter: chargeable seconds from a session's events (docs/design.md §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from fareroom.pricing.meter import Controls, Kind, MeterEvent, read_meter, refusal

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
FREE_RUN = Controls()
START = Controls(agent_may_start=True)
PAUSE = Controls(agent_may_pause=True)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(kind: Kind, seconds: float, party: str | None = None) -> MeterEvent:
    return MeterEvent(kind, at(seconds), party)


def test_with_neither_control_the_meter_runs_from_connection_to_hang_up() -> None:
    events = [ev(Kind.HUNG_UP, 400)]
    reading = read_meter(T0, events, FREE_RUN, at=at(1_000))
    assert (reading.seconds, reading.state, reading.end_reason) == (400, "ended", "hangup")
    assert read_meter(T0, [], FREE_RUN, at=at(125.9)).seconds == 125  # a part-second is free


def test_with_start_allowed_the_meter_waits_for_the_agent() -> None:
    assert read_meter(T0, [], START, at=at(60)).state == "waiting"
    events = [ev(Kind.STARTED, 60), ev(Kind.HUNG_UP, 360)]
    assert read_meter(T0, events, START, at=at(400)).seconds == 300


def test_with_pause_allowed_paused_time_is_not_charged() -> None:
    events = [ev(Kind.PAUSED, 100), ev(Kind.RESUMED, 250), ev(Kind.HUNG_UP, 400)]
    assert read_meter(T0, events, PAUSE, at=at(400)).seconds == 250
    assert read_meter(T0, events[:1], PAUSE, at=at(200)).state == "paused"


def test_a_forty_second_disconnection_is_not_charged() -> None:
    events = [ev(Kind.WENT_OFFLINE, 100, "client"), ev(Kind.CAME_ONLINE, 140, "client"),
              ev(Kind.HUNG_UP, 300)]  # fmt: skip
    assert read_meter(T0, events, FREE_RUN, at=at(300)).seconds == 260
    assert read_meter(T0, events[:1], FREE_RUN, at=at(120)).state == "offline"


def test_the_meter_waits_until_both_parties_are_back() -> None:
    events = [ev(Kind.WENT_OFFLINE, 10, "client"), ev(Kind.WENT_OFFLINE, 20, "agent"),
              ev(Kind.CAME_ONLINE, 30, "client"), ev(Kind.CAME_ONLINE, 50, "agent")]  # fmt: skip
    assert read_meter(T0, events, FREE_RUN, at=at(100)).seconds == 10 + 50


def test_an_offline_noticed_late_counts_from_when_it_happened() -> None:
    # The last heartbeat was at 100 s; the offline is recorded at 130 s, dated 100 s.
    events = [ev(Kind.HUNG_UP, 150), ev(Kind.WENT_OFFLINE, 100, "client")]
    assert read_meter(T0, events, FREE_RUN, at=at(200)).seconds == 100


def test_nothing_counts_after_the_end() -> None:
    events = [ev(Kind.TIMED_OUT, 200), ev(Kind.RESUMED, 300)]
    reading = read_meter(T0, events, PAUSE, at=at(500))
    assert (reading.seconds, reading.end_reason) == (200, "timeout")


def test_events_that_break_the_rules_are_refused() -> None:
    def why(events: list[MeterEvent], event: MeterEvent, controls: Controls,
            now: float = 1_000) -> str | None:  # fmt: skip
        reading = read_meter(T0, events, controls, at=at(now))
        found = refusal(reading, event, controls, opened_at=T0, now=at(now))
        return found[0] if found else None

    assert why([], ev(Kind.PAUSED, 10), FREE_RUN) == "pause_not_allowed"
    assert why([], ev(Kind.STARTED, 10), FREE_RUN) == "start_not_allowed"
    assert why([ev(Kind.STARTED, 5)], ev(Kind.STARTED, 10), START) == "meter_already_started"
    assert why([], ev(Kind.RESUMED, 10), PAUSE) == "meter_not_paused"
    assert why([ev(Kind.PAUSED, 5)], ev(Kind.PAUSED, 10), PAUSE) == "meter_already_paused"
    assert why([ev(Kind.HUNG_UP, 5)], ev(Kind.HUNG_UP, 10), FREE_RUN) == "session_ended"
    assert why([ev(Kind.PAUSED, 50)], ev(Kind.RESUMED, 40), PAUSE) == "event_out_of_order"
    assert why([], ev(Kind.HUNG_UP, 2_000), FREE_RUN) == "event_in_future"
    assert why([], ev(Kind.HUNG_UP, -1), FREE_RUN) == "event_before_session"
    assert why([], ev(Kind.WENT_OFFLINE, 10, "someone"), FREE_RUN) == "invalid_party"
    assert why([ev(Kind.PAUSED, 50)], ev(Kind.WENT_OFFLINE, 40, "agent"), PAUSE) is None
    assert why([ev(Kind.PAUSED, 50)], ev(Kind.RESUMED, 60), PAUSE) is None


kinds = st.sampled_from(list(Kind))
events = st.lists(
    st.builds(
        ev, kinds, st.floats(0, 3_600, allow_nan=False), st.sampled_from(["client", "agent"])
    ),  # fmt: skip
    max_size=25,
)
controls = st.builds(Controls, st.booleans(), st.booleans())


def _blocked_spans(evs: list[MeterEvent], c: Controls) -> list[tuple[float, float]]:
    """Spans during which the meter must not run, from the events alone."""
    spans, ordered = [], sorted(evs, key=lambda e: e.at)
    for i, e in enumerate(ordered):
        if e.kind == Kind.PAUSED:
            nxt = next((x for x in ordered[i + 1:] if x.kind == Kind.RESUMED), None)  # fmt: skip
            spans.append((e.at, nxt.at if nxt else at(10**6)))
        if e.kind == Kind.WENT_OFFLINE:
            nxt = next((x for x in ordered[i + 1:]
                        if x.kind == Kind.CAME_ONLINE and x.party == e.party), None)  # fmt: skip
            spans.append((e.at, nxt.at if nxt else at(10**6)))
    return [((a - T0).total_seconds(), (b - T0).total_seconds()) for a, b in spans]


@given(events, controls, st.floats(0, 4_000, allow_nan=False))
def test_chargeable_time_never_exceeds_wall_time_nor_counts_a_blocked_span(
    evs: list[MeterEvent], c: Controls, now: float
) -> None:
    reading = read_meter(T0, evs, c, at=at(now))
    now = (at(now) - T0).total_seconds()  # the wall time, as a datetime holds it (µs)
    assert 0 <= reading.seconds <= now
    # Whatever blocks the meter, the time it blocks is never charged: chargeable time is
    # at most the wall time less the union of blocked spans before ``now``.
    blocked = sorted((max(0.0, a), min(now, b)) for a, b in _blocked_spans(evs, c) if a < now)
    union, end = 0.0, 0.0
    for a, b in blocked:
        if b > end:
            union += b - max(a, end)
            end = b
    assert reading.seconds <= now - union + 1e-6
    # Reading later never lowers the chargeable time.
    assert read_meter(T0, evs, c, at=at(now + 60)).seconds >= reading.seconds
