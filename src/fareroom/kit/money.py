"""Money: integer minor units plus an ISO 4217 currency.

Invariants:
- an amount is always an ``int`` of minor units; floats never hold money;
- amounts of different currencies never add (``CurrencyMismatch``);
- a computed amount is rounded once, half up, at the end (``round_half_up``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from fareroom.kit.errors import ValidationFailed

# Minor-unit exponent per supported currency (Stripe's list, abridged to what we accept).
CURRENCY_EXPONENTS: dict[str, int] = {
    "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2,
    "HKD": 2, "HUF": 2, "INR": 2, "JPY": 0, "KRW": 0, "MXN": 2, "NOK": 2, "NZD": 2,
    "PLN": 2, "SEK": 2, "SGD": 2, "USD": 2, "ZAR": 2,
}  # fmt: skip

# Stripe refuses a single charge above 99,999,999 minor units for most currencies; so do we,
# which also keeps every sum of a few amounts far inside a 64-bit column.
MAX_CHARGE_MINOR = 99_999_999
# Stripe's smallest charge is 0.50 in most currencies (¥50); smaller ones would cost more in
# fees than they bring.
MIN_CHARGE_MINOR = 50


class CurrencyMismatch(ValidationFailed):
    code = "currency_mismatch"


def normalise_currency(currency: str) -> str:
    """Upper-case ISO code, or ``ValidationFailed`` if we do not support it."""
    code = (currency or "").strip().upper()
    if code not in CURRENCY_EXPONENTS:
        raise ValidationFailed(
            f"Currency '{currency}' is not supported; use an ISO 4217 code such as EUR or USD.",
            code="unsupported_currency",
        )
    return code


def round_half_up(value: Fraction | Decimal | int) -> int:
    """Round an exact value to the nearest integer, halves away from zero."""
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def rate_of(amount: int, rate: Fraction | Decimal) -> Fraction:
    """Exact ``amount × rate`` with no rounding (callers round once at the end)."""
    return Fraction(amount) * Fraction(rate)


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")
        if self.currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"unsupported currency {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"Cannot combine {self.currency} with {other.currency}.",
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def format(self) -> str:
        """Human form for templates and emails, e.g. ``12.50 EUR``."""
        exp = CURRENCY_EXPONENTS[self.currency]
        value = Decimal(self.amount).scaleb(-exp)
        return f"{value:,.{exp}f} {self.currency}"


def parse_major(text: str, currency: str) -> int:
    """``"12.50"`` EUR → 1250. Exact (Decimal); more decimals than the currency has are refused."""
    exp = CURRENCY_EXPONENTS[currency]
    try:
        value = Decimal(text.strip().replace(",", "."))
    except ArithmeticError:
        raise ValidationFailed(
            "Write the amount as a number, e.g. 12.50.", code="invalid_amount"
        ) from None
    if not value.is_finite() or abs(value) > MAX_CHARGE_MINOR:
        raise ValidationFailed("The amount is too large.", code="amount_too_large")
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise ValidationFailed(f"{currency} has {exp} decimal places.", code="invalid_amount")
    return int(minor)
