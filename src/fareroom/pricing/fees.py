"""Platform and processing fees (docs/design.md §3).

- platform fee: a rate of what the client pays, by category (service 10 %, goods 4 % by
  default; per-business overrides), rounded once, half up;
- processing fee: what the gateway keeps; the sandbox's is 2.9 % + 0.30 per successful
  charge (Stripe's real fee comes from its balance transaction);
- who bears the processing fee: the business by default, or the platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from fareroom.kit.money import round_half_up

Category = Literal["service", "goods"]
CATEGORIES: tuple[str, ...] = ("service", "goods")


@dataclass(frozen=True)
class FeePolicy:
    service_rate: Decimal
    goods_rate: Decimal
    processing_bearer: Literal["business", "platform"] = "business"

    def rate(self, category: str) -> Decimal:
        return self.service_rate if category == "service" else self.goods_rate

    def platform_fee(self, amount: int, category: str) -> int:
        return round_half_up(Fraction(amount) * Fraction(self.rate(category)))

    def business_net(self, amount: int, category: str, processing_fee: int) -> int:
        """What the business is credited for a captured amount."""
        borne = processing_fee if self.processing_bearer == "business" else 0
        return amount - self.platform_fee(amount, category) - borne


def parse_rate(text: str | Decimal) -> Decimal:
    """A fee rate from its decimal text; must lie in [0, 1)."""
    rate = Decimal(str(text))
    if not rate.is_finite() or not (Decimal(0) <= rate < Decimal(1)):
        raise ValueError("a fee rate lies between 0 and 1, e.g. 0.10 for 10 %")
    return rate
