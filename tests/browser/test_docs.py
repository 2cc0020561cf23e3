"""The API's documentation pages in a real browser: they render, and break no rule of
their Content-Security-Policy (the ``pages`` fixture fails the test on a violation)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Pages


async def test_swagger_ui_and_redoc_render_without_a_csp_violation(pages: Pages) -> None:
    page = await (await pages.context()).new_page()
    await page.goto(f"{pages.base}/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Fareroom")
    await pages.shot(page, "swagger-ui")
    await page.goto(f"{pages.base}/redoc")
    await expect(page.locator("text=API docs by Redocly")).to_be_visible()
    await page.wait_for_timeout(500)  # the logo is loaded once the menu has mounted
    # ReDoc's page is the whole API (tens of thousands of pixels): its window is the shot.
    await pages.shot(page, "redoc", full_page=False)
