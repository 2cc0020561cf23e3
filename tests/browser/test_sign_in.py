"""The sign-in page in a real browser once an account has had too many failed sign-ins."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Pages


async def test_a_locked_account_is_told_when_to_try_again_even_with_the_right_password(
    pages: Pages,
) -> None:
    email = (await pages.user(role="agent", name="Kim"))["email"]
    for _ in range(5):
        page = await pages.sign_in(email, "not my password", viewport=PHONE)
        await expect(page.locator("p.error")).to_have_text("The email or password is wrong.")
    await pages.shot(page, "wrong-password")
    locked = "Too many failed sign-ins. Please try again in 15 minutes."
    for viewport in (PHONE, DESKTOP):
        page = await pages.sign_in(email, viewport=viewport)  # the right password
        await expect(page.locator("p.error")).to_have_text(locked)
        await expect(page.locator("input[name=email]")).to_have_value(email)
        await pages.shot(page, "locked")
