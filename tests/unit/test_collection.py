"""How a collection is divided between the hold and an off-session charge (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fareroom.kit.money import MIN_CHARGE_MINOR
from fareroom.pricing.collection import Plan, plan, split_amount

amounts = st.one_of(st.just(0), st.integers(MIN_CHARGE_MINOR, 10**7))
holds = st.one_of(st.just(0), st.integers(MIN_CHARGE_MINOR, 10**6))


@given(amounts, holds)
def test_the_parts_add_up_and_none_is_below_the_smallest_charge(amount: int, hold: int) -> None:
    parts = plan(amount, hold)
    assert parts.total == amount
    assert 0 <= parts.capture <= hold
    for part in (parts.capture, parts.charge):
        assert part == 0 or part >= MIN_CHARGE_MINOR
    # the hold is used as far as it can be
    if amount <= hold:
        assert parts == Plan(amount, 0)


@given(st.integers(0, 10**7), st.one_of(st.none(), st.integers(2 * MIN_CHARGE_MINOR, 10**6)))
def test_a_split_keeps_back_the_smallest_charge_for_the_final_collection(
    due: int, threshold: int | None
) -> None:
    taken = split_amount(due, threshold)
    if threshold is None or due < threshold:
        assert taken == 0
    else:
        assert taken == due - MIN_CHARGE_MINOR and taken >= MIN_CHARGE_MINOR
        assert due - taken == MIN_CHARGE_MINOR  # the final collection can always be charged


def test_worked_examples() -> None:
    assert plan(2950, 2000) == Plan(2000, 950)
    assert plan(2020, 2000) == Plan(1970, 50)  # 0.20 alone could not be charged
    assert plan(80, 60) == Plan(0, 80)  # neither 0.30 nor 0.20 could be charged
    assert plan(0, 2000) == Plan(0, 0)  # nothing due: the hold is released
    with pytest.raises(ValueError):
        plan(20, 2000)
