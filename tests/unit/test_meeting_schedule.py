"""A room's recurrence keeps its wall-clock time in its time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fareroom.meetings.errors import InvalidSchedule
from fareroom.meetings.service import MeetingsService, display_code, normal_code

occurrences = MeetingsService.occurrences


def test_a_weekly_meeting_stays_at_nine_in_berlin_across_summer_time() -> None:
    start = datetime(2027, 3, 15, 8, 0, tzinfo=UTC)  # 9:00 CET
    found = occurrences(start, "Europe/Berlin", "FREQ=WEEKLY;BYDAY=MO", count=3)
    assert found == [datetime(2027, 3, 15, 8, 0, tzinfo=UTC),
                     datetime(2027, 3, 22, 8, 0, tzinfo=UTC),
                     datetime(2027, 3, 29, 7, 0, tzinfo=UTC)]  # 9:00 CEST  # fmt: skip


def test_occurrences_after_a_moment_skip_the_past_and_a_count_ends_the_series() -> None:
    start = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    rule = "RRULE:FREQ=DAILY;COUNT=3"
    after = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
    assert occurrences(start, "UTC", rule, count=10, after=after) == [
        datetime(2027, 1, 6, 8, 0, tzinfo=UTC)
    ]
    assert occurrences(start, "UTC", None, count=10, after=after) == []


def test_a_rule_that_is_not_an_rrule_is_refused_with_a_sentence() -> None:
    with pytest.raises(InvalidSchedule) as raised:
        occurrences(datetime(2027, 1, 4, tzinfo=UTC), "UTC", "FREQ=FORTNIGHTLY", count=1)
    assert raised.value.code == "invalid_rrule"


def test_codes_are_read_as_people_type_them() -> None:
    assert display_code("abcdefghjk") == "abc-defg-hjk"
    assert normal_code(" ABC-defg hjk ") == "abcdefghjk"
