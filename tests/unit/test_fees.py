from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fareroom.gateway.sandbox import ProcessingFee
from fareroom.pricing.fees import FeePolicy, parse_rate

POLICY = FeePolicy(Decimal("0.10"), Decimal("0.04"))


def test_platform_fee_is_ten_percent_for_services_and_four_for_goods() -> None:
    assert POLICY.platform_fee(10_000, "service") == 1_000
    assert POLICY.platform_fee(10_000, "goods") == 400


def test_platform_fee_rounds_once_half_up() -> None:
    assert POLICY.platform_fee(1_005, "service") == 101  # 100.5 → 101
    assert POLICY.platform_fee(1_004, "service") == 100  # 100.4 → 100
    assert POLICY.platform_fee(1_234, "goods") == 49  # 49.36 → 49


def test_sandbox_processing_fee_is_2_9_percent_plus_30() -> None:
    fee = ProcessingFee(Fraction(29, 1000), 30)
    assert fee.of(10_000) == 320
    assert fee.of(8_000) == 262
    assert fee.of(1_050) == 60  # 30.45 + 30 = 60.45 → 60
    assert fee.of(0) == 0


def test_net_depends_on_who_bears_the_processing_fee() -> None:
    assert POLICY.business_net(10_000, "service", 320) == 8_680
    platform_bears = FeePolicy(Decimal("0.10"), Decimal("0.04"), "platform")
    assert platform_bears.business_net(10_000, "service", 320) == 9_000


@given(st.integers(0, 99_999_999), st.sampled_from(["service", "goods"]))
def test_fee_never_exceeds_the_amount_and_is_never_negative(amount: int, category: str) -> None:
    assert 0 <= POLICY.platform_fee(amount, category) <= amount


def test_rates_outside_zero_to_one_are_refused() -> None:
    assert parse_rate("0.12") == Decimal("0.12")
    for bad in ("1", "-0.1", "NaN"):
        with pytest.raises(ValueError):
            parse_rate(bad)
