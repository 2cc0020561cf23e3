import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fareroom.kit.errors import ValidationFailed
from fareroom.kit.money import (
    CURRENCY_EXPONENTS,
    MAX_CHARGE_MINOR,
    CurrencyMismatch,
    Money,
    format_major,
    normalise_currency,
    parse_major,
    parse_whole,
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


CASES = json.loads((Path(__file__).parent / "amount_cases.json").read_text())["cases"]


@pytest.mark.parametrize(("text", "currency", "expected"), CASES)
def test_typed_amounts_are_read_as_the_app_prints_them_and_nothing_is_guessed(
    text: str, currency: str, expected: int | str
) -> None:
    if isinstance(expected, int):
        assert parse_major(text, currency) == expected
        return
    with pytest.raises(ValidationFailed) as refused:
        parse_major(text, currency)
    assert refused.value.message == expected
    assert refused.value.code in ("invalid_amount", "amount_too_large")
    assert refused.value.status == 422


@given(st.integers(0, MAX_CHARGE_MINOR), st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_every_amount_reads_back_as_it_was_printed(amount: int, currency: str) -> None:
    assert parse_major(format_major(amount, currency), currency) == amount
    assert parse_major(format_major(amount, currency).replace(",", ""), currency) == amount
    assert Money(amount, currency).format() == f"{format_major(amount, currency)} {currency}"


@pytest.mark.parametrize("text", ["\u00b2", "\u0661", "-1", "1.5", "1e3", " ", "9" * 40])
def test_whole_numbers_take_the_digits_0_to_9_only_and_name_the_field(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_whole(text, label="Free minutes", unit="minutes")
    assert refused.value.message.startswith("Free minutes: ")
    assert parse_whole(" 15 ", label="Free minutes", unit="minutes") == 15
