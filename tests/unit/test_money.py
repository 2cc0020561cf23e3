from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fareroom.kit.errors import ValidationFailed
from fareroom.kit.money import (
    CurrencyMismatch,
    Money,
    normalise_currency,
    parse_major,
    round_half_up,
)


@pytest.mark.parametrize(("value", "expected"), [
    (Fraction(5, 2), 3), (Fraction(-5, 2), -3), (Fraction(249, 100), 2), (Decimal("0.5"), 1),
    (Decimal("1.4999"), 1), (Fraction(7, 1), 7), (0, 0),
])  # fmt: skip
def test_round_half_up_rounds_halves_away_from_zero(value: Fraction, expected: int) -> None:
    assert round_half_up(value) == expected


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_round_half_up_is_within_half_of_the_exact_value(n: int, d: int) -> None:
    exact = Fraction(n, d)
    assert abs(round_half_up(exact) - exact) <= Fraction(1, 2)


def test_amounts_of_different_currencies_never_add() -> None:
    with pytest.raises(CurrencyMismatch):
        _ = Money(100, "EUR") + Money(100, "USD")
    assert Money(100, "EUR") + Money(250, "EUR") == Money(350, "EUR")


def test_money_refuses_floats() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "EUR")  # type: ignore[arg-type]


def test_money_formats_with_the_currency_exponent() -> None:
    assert Money(123456, "EUR").format() == "1,234.56 EUR"
    assert Money(500, "JPY").format() == "500 JPY"


def test_unknown_currency_is_a_validation_error() -> None:
    assert normalise_currency(" eur ") == "EUR"
    with pytest.raises(ValidationFailed) as err:
        normalise_currency("XXX")
    assert err.value.code == "unsupported_currency"


def test_parse_major_is_exact_and_refuses_extra_decimals() -> None:
    assert parse_major("12.50", "EUR") == 1250
    assert parse_major("0,1", "EUR") == 10
    assert parse_major("500", "JPY") == 500
    for bad in ("12.505", "abc", "1e400000"):
        with pytest.raises(ValidationFailed):
            parse_major(bad, "EUR")
