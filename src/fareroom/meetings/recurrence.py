"""A room's recurrence as people choose it (none, daily, weekly on some days, monthly; ending
after a number of meetings or on a day) and as RFC 5545 writes it (an RRULE).

A room's times are meant in its time zone, so its RRULE is read with a floating start (the
wall-clock time there). An end day is written as ``UNTIL`` in UTC, as RFC 5545 requires
beside a start with a time zone (the calendar files carry one): the end of that day in the
room's zone. ``floating`` turns such an ``UNTIL`` back into the zone's wall-clock time for
the reader of floating starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
FREQUENCIES = {"daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY"}
_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z")
_STAMP = "%Y%m%dT%H%M%S"


@dataclass(frozen=True)
class Recurrence:
    """``repeat``: none | daily | weekly | monthly | custom (``rule`` as it was written)."""

    repeat: str = "none"
    days: tuple[str, ...] = field(default_factory=tuple)
    count: int | None = None
    until: date | None = None
    rule: str = ""


def rule_of(recurrence: Recurrence, time_zone: ZoneInfo) -> str | None:
    """The RRULE of a recurrence (None for none). The caller checked the days' names."""
    if recurrence.repeat == "none":
        return None
    if recurrence.repeat == "custom":
        return recurrence.rule.strip().removeprefix("RRULE:") or None
    parts = [f"FREQ={FREQUENCIES[recurrence.repeat]}"]
    if recurrence.repeat == "weekly" and recurrence.days:
        parts.append("BYDAY=" + ",".join(d for d in DAYS if d in recurrence.days))
    if recurrence.count is not None:
        parts.append(f"COUNT={recurrence.count}")
    elif recurrence.until is not None:
        end = datetime.combine(recurrence.until, time(23, 59, 59), tzinfo=time_zone)
        parts.append(f"UNTIL={end.astimezone(UTC):{_STAMP}}Z")
    return ";".join(parts)


def recurrence_of(rule: str | None, time_zone: ZoneInfo) -> Recurrence:
    """A stored RRULE as the form's choices; a rule they cannot say is ``custom``."""
    if not rule:
        return Recurrence()
    text = rule.removeprefix("RRULE:")
    parts = dict(p.partition("=")[::2] for p in text.split(";"))
    freq = {v: k for k, v in FREQUENCIES.items()}.get(parts.pop("FREQ", ""))
    days = tuple(parts.pop("BYDAY", "").split(",")) if "BYDAY" in parts else ()
    count, until = parts.pop("COUNT", None), parts.pop("UNTIL", None)
    found = _UNTIL_UTC.fullmatch(f"UNTIL={until}") if until else None
    plain = (freq is not None and not parts and (not days or freq == "weekly")
             and all(d in DAYS for d in days) and (count is None or count.isdigit())
             and (until is None or found is not None))  # fmt: skip
    if not plain or freq is None:
        return Recurrence(repeat="custom", rule=text)
    end = None
    if found is not None:
        at = datetime.strptime(found.group(1), _STAMP).replace(tzinfo=UTC)
        end = at.astimezone(time_zone).date()
    return Recurrence(repeat=freq, days=days, count=int(count) if count else None, until=end)


def floating(rule: str, time_zone: ZoneInfo) -> str:
    """``rule`` with a UTC ``UNTIL`` as the zone's wall-clock time (see the docstring)."""
    found = _UNTIL_UTC.search(rule)
    if found is None:
        return rule
    at = datetime.strptime(found.group(1), _STAMP).replace(tzinfo=UTC)
    local = at.astimezone(time_zone).replace(tzinfo=None)
    return f"{rule[: found.start(1)]}{local:{_STAMP}}{rule[found.end() :]}"
