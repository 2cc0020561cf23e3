"""Tariffs of the taxi meter and the price of chargeable time (docs/design.md §5). Pure.

Price of ``t`` chargeable seconds, with free minutes F, block minutes N, block price P and
increment I seconds:

- ``t <= 60·F`` → 0;
- otherwise ``b = t − 60·F``; ``b <= 60·N`` → P (the minimum charge);
- otherwise ``P + round_half_up(ceil((b − 60·N) / I) · I · P / (60·N))``: every increment
  begun is charged at the block's rate, and the total is rounded once, never per increment.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import ceil

from fareroom.kit.errors import ValidationFailed
from fareroom.kit.money import (
    MAX_CHARGE_MINOR,
    MIN_CHARGE_MINOR,
    Money,
    normalise_currency,
    round_half_up,
)

MAX_MINUTES = 24 * 60
MAX_INCREMENT_SECONDS = 3600
# A collection whose processing fee takes more than this share is not worth making.
MAX_FEE_SHARE = Fraction(1, 10)


@dataclass(frozen=True, kw_only=True)
class Tariff:
    currency: str
    block_minutes: int
    block_price: int  # minor units: the minimum charge, for the first N minutes
    preauth_amount: int  # the hold placed before the client is connected
    free_minutes: int = 0
    increment_seconds: int = 30
    split_threshold: int | None = None  # collect whenever this much is due

    def price(self, seconds: int) -> int:
        """The price of ``seconds`` of chargeable time, in minor units."""
        beyond = self._beyond_block(seconds)
        if beyond is None:
            return 0
        # round_half_up(k · I·P / 60N) in integers (the meter's tick prices every session)
        charged = self._increments(beyond) * self.increment_seconds * self.block_price
        block = 60 * self.block_minutes
        return self.block_price + (2 * charged + block) // (2 * block)

    def seconds_until_change(self, seconds: int) -> int | None:
        """How many more chargeable seconds until the price rises (None: it never does)."""
        if self.block_price == 0:
            return None
        beyond = self._beyond_block(seconds)
        if beyond is None:  # free time: the first block is charged one second after it
            return 60 * self.free_minutes + 1 - seconds
        k = self._increments(beyond)  # 0 inside the first block
        charged = round_half_up(k * self._per_increment)
        # round_half_up(x) exceeds ``charged`` from x = charged + ½ on (an increment may be
        # worth less than half a cent, so that can take several); the increment that gets
        # there begins one second after the one before it ends.
        k_next = max(k + 1, ceil((charged + Fraction(1, 2)) / self._per_increment))
        block_ends = 60 * (self.free_minutes + self.block_minutes)
        return block_ends + (k_next - 1) * self.increment_seconds + 1 - seconds

    def describe(self) -> str:
        """The tariff in words, for the terms a client accepts."""

        def m(amount: int | Fraction) -> str:
            return Money(round_half_up(amount), self.currency).format()

        step = self._per_increment
        about = "" if step.denominator == 1 else "about "
        free = f"The first {self.free_minutes} min are free; then " if self.free_minutes else ""
        return (
            f"{free}{m(self.block_price)} for the first {self.block_minutes} min, then "
            f"{about}{m(step)} for every {self.increment_seconds} s begun. The meter stops "
            f"while you or the agent are offline. A hold of {m(self.preauth_amount)} is "
            "placed on your card before you are connected."
        )

    def _beyond_block(self, seconds: int) -> int | None:
        """Seconds past the free minutes and the first block (0 inside the block); None
        while the time is free."""
        b = seconds - 60 * self.free_minutes
        if seconds <= 0 or b <= 0:
            return None
        return max(0, b - 60 * self.block_minutes)

    def _increments(self, beyond: int) -> int:
        return -(-beyond // self.increment_seconds)

    @property
    def _per_increment(self) -> Fraction:
        return Fraction(self.increment_seconds * self.block_price, 60 * self.block_minutes)


@dataclass(frozen=True)
class TariffWarning:
    code: str
    message: str


def _whole(value: object, field: str, *, low: int, high: int, unit: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed(f"'{field}' is a whole number of {unit}.", code="invalid_tariff",
                               field=field)  # fmt: skip
    if not low <= value <= high:
        raise ValidationFailed(
            f"'{field}' must be between {low} and {high} {unit}.",
            code="invalid_tariff", field=field, minimum=low, maximum=high,
        )  # fmt: skip
    return value


def make_tariff(
    *, currency: str, block_minutes: object, block_price: object, preauth_amount: object,
    free_minutes: object = 0, increment_seconds: object = 30,
    split_threshold: object | None = None,
) -> Tariff:  # fmt: skip
    """A checked tariff, or ``ValidationFailed`` naming the field and the reason."""
    threshold = None
    block_price = _whole(block_price, "block_price", low=MIN_CHARGE_MINOR,
                         high=MAX_CHARGE_MINOR, unit="minor units")  # fmt: skip
    if split_threshold is not None:
        threshold = _whole(split_threshold, "split_threshold", low=1, high=MAX_CHARGE_MINOR,
                           unit="minor units")  # fmt: skip
        if threshold < block_price:
            raise ValidationFailed(
                "The split threshold is below the minimum charge: every minute would be "
                "collected on its own.",
                code="split_threshold_below_minimum", field="split_threshold",
                minimum=block_price,
            )  # fmt: skip
    return Tariff(
        currency=normalise_currency(currency),
        free_minutes=_whole(free_minutes, "free_minutes", low=0, high=MAX_MINUTES,
                            unit="minutes"),
        block_minutes=_whole(block_minutes, "block_minutes", low=1, high=MAX_MINUTES,
                             unit="minutes"),
        block_price=block_price,
        increment_seconds=_whole(increment_seconds, "increment_seconds", low=1,
                                 high=MAX_INCREMENT_SECONDS, unit="seconds"),
        preauth_amount=_whole(preauth_amount, "preauth_amount", low=MIN_CHARGE_MINOR,
                              high=MAX_CHARGE_MINOR, unit="minor units"),
        split_threshold=threshold,
    )  # fmt: skip


def tariff_warnings(tariff: Tariff, *, fee_rate: Fraction, fee_fixed: int) -> list[TariffWarning]:
    """What an owner should reconsider, though the tariff works: ``fee_rate`` and
    ``fee_fixed`` are the gateway's processing fee per charge."""
    warnings = []
    if tariff.split_threshold is not None:
        fee = fee_rate * tariff.split_threshold + fee_fixed
        if fee > MAX_FEE_SHARE * tariff.split_threshold:
            share = round(100 * fee / tariff.split_threshold)
            warnings.append(TariffWarning(
                "split_threshold_fee_heavy",
                f"Processing fees would take about {share} % of each collection of the "
                f"split threshold; a higher threshold loses less to fees.",
            ))  # fmt: skip
        if tariff.split_threshold > tariff.preauth_amount:
            warnings.append(TariffWarning(
                "split_threshold_above_hold",
                "The split threshold is above the pre-authorisation: what is due beyond the "
                "hold is charged without one, and may fail.",
            ))  # fmt: skip
    if tariff.preauth_amount < tariff.block_price:
        warnings.append(TariffWarning(
            "hold_below_minimum_charge",
            "The pre-authorisation is below the minimum charge: even the first block is "
            "partly charged without a hold.",
        ))  # fmt: skip
    return warnings
