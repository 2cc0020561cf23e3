"""The fault simulator in the suite: ``FAREROOM_FAULT_SCHEDULES`` schedules (default 200)
from ``FAREROOM_FAULT_FIRST_SEED`` (default 0); ``make fault`` runs ten thousand."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fareroom.kit import ids
from tests.fault.__main__ import describe, summary
from tests.fault.runner import make_template, run, run_many
from tests.fault.schedule import generate


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    made = make_template()
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_schedules_leave_money_where_the_gateway_says(template: Path) -> None:
    count = int(os.environ.get("FAREROOM_FAULT_SCHEDULES", "200"))
    first = int(os.environ.get("FAREROOM_FAULT_FIRST_SEED", "0"))
    totals = run_many(template, range(first, first + count), workers=min(2, os.cpu_count() or 1))
    print(summary(totals))
    assert totals.schedules == count and sum(totals.faults.values()) > 0
    assert not totals.failed, "\n".join(describe(o) for o in totals.failed[:5])


def test_a_seed_replays_its_schedule_and_outcome(template: Path) -> None:
    assert generate(7) == generate(7) != generate(8)
    first, again = run(template, 7), run(template, 7)
    assert (first.operations, first.faults, first.restarts, first.violations) == (
        again.operations, again.faults, again.restarts, again.violations)  # fmt: skip
    # The suite's later tests get the product's own ids again (time-ordered, random).
    assert (ids.time, ids.os) == (time, os)
