"""How to collect an amount from a session's hold and card (docs/design.md §5, split bills). Pure.

No part of a collection may be below the smallest charge (``MIN_CHARGE_MINOR``): the
processing fee would exceed it. So:

- a split collection, taken while the session runs, keeps back the smallest charge
  (``split_amount``); the final collection is then 0 or at least the smallest charge;
- ``plan`` divides an amount between capturing the hold and charging the card off-session
  so that each part is 0 or at least the smallest charge, and the parts add up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from fareroom.kit.money import MIN_CHARGE_MINOR


@dataclass(frozen=True)
class Plan:
    capture: int  # captured from the hold (0: the hold is cancelled, if there is one)
    charge: int  # charged to the card off-session

    @property
    def total(self) -> int:
        return self.capture + self.charge


def split_amount(due: int, threshold: int | None) -> int:
    """What a running session collects now: 0 below the threshold, else all but the
    smallest charge (kept for the final collection)."""
    if threshold is None or due < threshold:
        return 0
    amount = due - MIN_CHARGE_MINOR
    return amount if amount >= MIN_CHARGE_MINOR else 0


def plan(amount: int, hold: int) -> Plan:
    """Divide ``amount`` (0 or ≥ the smallest charge) between a hold of ``hold`` (0: none)
    and an off-session charge."""
    if amount < 0 or 0 < amount < MIN_CHARGE_MINOR:
        raise ValueError(f"cannot collect {amount}: below the smallest charge")
    if amount <= hold:
        return Plan(amount, 0)
    if amount - hold >= MIN_CHARGE_MINOR:
        return Plan(hold, amount - hold)
    if hold and amount - MIN_CHARGE_MINOR >= MIN_CHARGE_MINOR:
        return Plan(amount - MIN_CHARGE_MINOR, MIN_CHARGE_MINOR)
    return Plan(0, amount)
