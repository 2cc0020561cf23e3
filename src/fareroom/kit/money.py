"""Money: integer minor units plus an ISO 4217 currency.

Invariants:
- an amount is always an ``int`` of minor units; floats never hold money;
- amounts of different currencies never add (``CurrencyMismatch``);
- a computed amount is rounded once, half up, at the end (``round_half_up``).
"""

from __future__ import annotations

import re
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


def format_major(amount: int, currency: str) -> str:
    """The number as the app prints it, without the currency: ``123456`` EUR → ``1,234.56``."""
    exp = CURRENCY_EXPONENTS[currency]
    return f"{Decimal(amount).scaleb(-exp):,.{exp}f}"


class InvalidAmount(ValidationFailed):
    code = "invalid_amount"


class AmountTooSmall(InvalidAmount):
    code = "amount_too_small"

    def __init__(self, message: str, *, minimum: int) -> None:
        super().__init__(message, minimum=minimum)


class AmountTooLarge(InvalidAmount):
    code = "amount_too_large"

    def __init__(self, message: str) -> None:
        super().__init__(message, maximum=MAX_CHARGE_MINOR)


class InvalidNumber(ValidationFailed):
    """A whole number a person typed that is none (``parse_whole``)."""

    code = "invalid_number"


# What people type: digits 0-9 with commas between groups of three, a dot before the
# decimals. Nothing else is guessed at (a comma as the decimal separator, spaces, exponents,
# signs, other scripts' digits are refused with a sentence saying how to write it).
_AMOUNT = re.compile(r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<frac>[0-9]+))?", re.ASCII)
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]{1,2}|[0-9]{1,3}(?:\.[0-9]{3})*,[0-9]+", re.ASCII)
_EXPONENT = re.compile(r"[0-9.,]+[eE][+-]?[0-9]*", re.ASCII)
_ASCII_SPACE = " \t\r\n"
_MAX_WHOLE_DIGITS = 15  # beyond any amount we accept; int() of a huge text would be slow


def _example(currency: str) -> str:
    return format_major(123_456 * 10 ** CURRENCY_EXPONENTS[currency] // 100, currency)


def _why_not(text: str, currency: str) -> str:
    """The sentence for a text that is not an amount as the app writes it."""
    example = _example(currency)
    if any(not ch.isascii() for ch in text):
        if any(ch.isspace() for ch in text):
            return "Remove the spaces from the amount."
        return "Write the amount with the digits 0-9 only."
    if any(ch in _ASCII_SPACE for ch in text):
        return "Remove the spaces from the amount."
    if text[0] in "+-":
        return "Write the amount without a sign."
    if _EXPONENT.fullmatch(text):
        return f"Write the amount in plain digits, e.g. {example}."
    if _DECIMAL_COMMA.fullmatch(text):
        return "Use a dot for decimals, e.g. 1.00 (a comma only separates thousands)."
    if "," in text:
        return f"Commas go between groups of three digits, e.g. {example}."
    return f"Write the amount as a number, e.g. {example}."


def parse_major(text: str, currency: str) -> int:
    """An amount a person typed in major units → minor units: ``"1,234.56"`` EUR → 123456.

    Accepts what ``Money.format`` prints (``1,234.56``) and the plain forms ``1234.56``,
    ``1234``, ``1,234``, ``0.5`` (→ 0.50 for a currency with two decimals). Refuses with
    ``InvalidAmount`` (code ``invalid_amount``) and a sentence anything else: an empty text,
    a decimal comma (``1,00``, ``1.000,00``), misplaced commas, more decimals than the
    currency has, exponents, signs, spaces inside, digits of other scripts, and amounts above
    the largest charge. Exact: integers only, never a float or a Decimal of unbounded size.
    """
    exp = CURRENCY_EXPONENTS[currency]
    text = (text or "").strip(_ASCII_SPACE)
    if not text:
        raise InvalidAmount("Fill in the amount.")
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise InvalidAmount(_why_not(text[:40], currency))
    whole, frac = match["whole"].replace(",", "").lstrip("0"), match["frac"] or ""
    if len(frac) > exp:
        places = f"{exp} decimal places" if exp else "no decimals"
        raise InvalidAmount(f"{currency} amounts have {places}, e.g. {_example(currency)}.")
    too_long = len(whole) > _MAX_WHOLE_DIGITS  # over the bound whatever it says
    minor = 0 if too_long else int(whole or "0") * 10**exp + int(frac.ljust(exp, "0") or "0")
    if too_long or minor > MAX_CHARGE_MINOR:
        raise AmountTooLarge(
            f"The amount may be at most {Money(MAX_CHARGE_MINOR, currency).format()}."
        )
    return minor


def parse_whole(text: str, *, label: str, unit: str) -> int:
    """A whole number a person typed (minutes, seconds): ASCII digits only, so ``²`` or
    ``١`` are refused instead of being read as 2 or 1; ``label`` is the field as the form
    names it."""
    text = (text or "").strip(_ASCII_SPACE)
    if not text:
        raise InvalidNumber(f"{label}: Fill this in.")
    if len(text) > 9 or not (text.isascii() and text.isdigit()):
        raise InvalidNumber(f"{label}: Write a whole number of {unit} with the digits 0-9.")
    return int(text)
