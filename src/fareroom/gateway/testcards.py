"""Stripe's test card numbers and what each one does, for the sandbox gateway.

Any number not listed is refused, so a real card typed by mistake is never processed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Behaviour = Literal["ok", "decline_on_attach", "fail_on_charge", "needs_authentication"]


@dataclass(frozen=True)
class TestCard:
    brand: str
    behaviour: Behaviour
    decline_code: str = ""


TEST_CARDS: dict[str, TestCard] = {
    "4242424242424242": TestCard("visa", "ok"),
    "4000056655665556": TestCard("visa", "ok"),  # debit
    "5555555555554444": TestCard("mastercard", "ok"),
    "378282246310005": TestCard("amex", "ok"),
    "4000000000000002": TestCard("visa", "decline_on_attach", "generic_decline"),
    "4000000000009995": TestCard("visa", "decline_on_attach", "insufficient_funds"),
    "4000000000000341": TestCard("visa", "fail_on_charge", "generic_decline"),
    "4000002500003155": TestCard("visa", "needs_authentication", "authentication_required"),
    "4000002760003184": TestCard("visa", "needs_authentication", "authentication_required"),
}


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number]
    odd = digits[-1::-2]
    even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
    return (sum(odd) + sum(even)) % 10 == 0
