"""Sign-in is limited on failures, per account (5 in 15 minutes) and per address (20 in 15
minutes): past them even the right password is refused, with ``Retry-After``, until the
window has passed."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from fareroom.kit.clock import FrozenClock
from tests.conftest import Tenant
from tests.support.pages import sign_in

Client = Callable[[str], httpx.AsyncClient]


async def test_the_sixth_wrong_password_is_refused_and_then_the_right_one_until_the_window_passes(
    shop: Tenant, from_address: Client, clock: FrozenClock
) -> None:
    page = from_address("198.51.100.1")
    for _ in range(5):
        assert (await sign_in(page, shop.owner_email, "wrong password")).status_code == 401
    sixth = await sign_in(page, shop.owner_email, "wrong password")
    assert sixth.status_code == 429 and sixth.headers["Retry-After"] == "900"
    assert "Too many failed sign-ins. Please try again in 15 minutes." in sixth.text
    other_address = from_address("198.51.100.2")  # the account is locked, wherever from
    for client in (page, other_address):
        right = await sign_in(client, shop.owner_email, shop.password)
        assert right.status_code == 429 and "fareroom_session" not in right.cookies
    clock.advance(seconds=899)
    assert (await sign_in(page, shop.owner_email, shop.password)).status_code == 429
    clock.advance(seconds=1)
    signed_in = await sign_in(page, shop.owner_email, shop.password)
    assert signed_in.status_code == 303 and "fareroom_session" in signed_in.cookies


async def test_failures_from_one_address_across_accounts_lock_that_address_only(
    shop: Tenant, from_address: Client
) -> None:
    guesser = from_address("198.51.100.3")
    for n in range(20):  # four accounts, five guesses each: no account is locked
        r = await sign_in(guesser, f"user{n % 4}-{shop.id}@example.com", "guess")
        assert r.status_code == 401
    refused = await sign_in(guesser, shop.owner_email, shop.password)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) == 900
    elsewhere = await sign_in(from_address("198.51.100.4"), shop.owner_email, shop.password)
    assert elsewhere.status_code == 303


async def test_a_success_clears_the_accounts_failures_but_not_the_addresss(
    shop: Tenant, from_address: Client
) -> None:
    page = from_address("198.51.100.5")
    for _ in range(4):
        assert (await sign_in(page, shop.owner_email, "typo")).status_code == 401
    assert (await sign_in(page, shop.owner_email, shop.password)).status_code == 303
    for _ in range(4):  # the account's count started again
        assert (await sign_in(page, shop.owner_email, "typo")).status_code == 401
    assert (await sign_in(page, shop.owner_email, shop.password)).status_code == 303
    for n in range(12):  # 8 + 12 = 20 failures from this address
        r = await sign_in(page, f"someone{n}-{shop.id}@example.com", "guess")
        assert r.status_code == 401
    assert (await sign_in(page, shop.owner_email, shop.password)).status_code == 429
