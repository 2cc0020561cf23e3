"""The price of chargeable time: docs/design.md §5's worked examples and properties."""

from __future__ import annotations

from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fareroom.kit.errors import ValidationFailed
from fareroom.pricing.tariff import Tariff, make_tariff, tariff_warnings


def tariff(price: int, block: int, free: int = 0, inc: int = 30) -> Tariff:
    return make_tariff(currency="EUR", block_minutes=block, block_price=price,
                       free_minutes=free, increment_seconds=inc, preauth_amount=5_000)  # fmt: skip


@pytest.mark.parametrize(
    ("t", "price"),
    [(0, 0), (1, 1_000), (300, 1_000), (301, 1_100), (330, 1_100), (331, 1_200),
     (3_600, 12_000)],
)  # fmt: skip
def test_ten_euros_per_five_minutes(t: int, price: int) -> None:
    assert tariff(1_000, 5).price(t) == price


@pytest.mark.parametrize(("t", "price"), [(120, 0), (121, 500), (721, 525)])
def test_two_free_minutes_then_five_dollars_per_ten_minutes(t: int, price: int) -> None:
    assert tariff(500, 10, free=2).price(t) == price


@pytest.mark.parametrize(("t", "price"), [(421, 1_070), (451, 1_142)])
def test_the_total_is_rounded_once_not_per_increment(t: int, price: int) -> None:
    assert tariff(999, 7).price(t) == price


def test_rounding_per_increment_would_lose_a_cent() -> None:
    # 9.99 per 7 minutes: an increment is 71.357… cents. Two increments rounded one by one
    # make 11.41; the total rounded once makes 11.42.
    per_increment = round(Fraction(30 * 999, 420))
    assert 999 + 2 * per_increment == 1_141
    assert tariff(999, 7).price(451) == 1_142


def reference(t: int, p: int, n: int, f: int, inc: int) -> int:
    """docs/design.md §5 written again with Fractions, independently of the implementation."""
    if t <= 60 * f:
        return 0
    b = t - 60 * f
    if b <= 60 * n:
        return p
    extra = Fraction(ceil(Fraction(b - 60 * n, inc)) * inc * p, 60 * n)
    whole = int(extra)
    return p + whole + (1 if extra - whole >= Fraction(1, 2) else 0)


tariffs = st.builds(
    tariff,
    price=st.integers(50, 100_000),
    block=st.integers(1, 120),
    free=st.integers(0, 30),
    inc=st.integers(1, 600),
)


@given(tariffs, st.integers(0, 50_000), st.integers(0, 5_000))
def test_the_price_never_decreases_and_agrees_with_the_reference(
    t: Tariff, seconds: int, more: int
) -> None:
    price = t.price(seconds)
    assert price == reference(seconds, t.block_price, t.block_minutes, t.free_minutes,
                              t.increment_seconds)  # fmt: skip
    assert t.price(seconds + more) >= price
    if seconds <= 60 * t.free_minutes:
        assert price == 0
    elif seconds <= 60 * (t.free_minutes + t.block_minutes):
        assert price == t.block_price


@given(tariffs, st.integers(0, 20_000))
def test_the_price_changes_exactly_when_announced(t: Tariff, seconds: int) -> None:
    wait = t.seconds_until_change(seconds)
    assert wait is not None and wait >= 1
    price = t.price(seconds)
    assert t.price(seconds + wait - 1) == price
    assert t.price(seconds + wait) > price


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("block_minutes", 0, "invalid_tariff"),
        ("block_minutes", -5, "invalid_tariff"),
        ("block_minutes", 2.5, "invalid_tariff"),
        ("block_price", 10, "invalid_tariff"),
        ("block_price", True, "invalid_tariff"),
        ("free_minutes", -1, "invalid_tariff"),
        ("increment_seconds", 0, "invalid_tariff"),
        ("preauth_amount", 10**12, "invalid_tariff"),
        ("split_threshold", 500, "split_threshold_below_minimum"),
        ("currency", "XYZ", "unsupported_currency"),
    ],
)
def test_nonsense_tariffs_are_refused_with_the_reason(field: str, value: object,
                                                      code: str) -> None:  # fmt: skip
    values: dict = {"currency": "EUR", "block_minutes": 5, "block_price": 1_000,
                    "preauth_amount": 5_000, field: value}  # fmt: skip
    with pytest.raises(ValidationFailed) as err:
        make_tariff(**values)
    assert err.value.code == code
    assert err.value.message


def test_a_low_split_threshold_is_warned_about() -> None:
    fee = {"fee_rate": Fraction(29, 1000), "fee_fixed": 30}
    low = make_tariff(currency="EUR", block_minutes=5, block_price=100, preauth_amount=5_000,
                      split_threshold=200)  # fmt: skip
    codes = [w.code for w in tariff_warnings(low, **fee)]
    assert codes == ["split_threshold_fee_heavy"]
    fine = make_tariff(currency="EUR", block_minutes=5, block_price=1_000,
                       preauth_amount=5_000, split_threshold=3_000)  # fmt: skip
    assert tariff_warnings(fine, **fee) == []
