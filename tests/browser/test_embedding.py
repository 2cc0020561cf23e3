"""A room's client page inside a frame on the business's own site, in a real browser: the
sites the room lists may show it; a room that lists none is refused by the browser."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from tests.browser.conftest import PHONE, Pages, Shop


async def test_a_site_the_room_lists_shows_the_chat_in_a_frame_and_another_room_refuses(
    pages: Pages, shop: Shop
) -> None:
    agent = await pages.user()
    listed = await pages.room([agent], embed_origins=[shop.origin])
    unlisted = await pages.room([agent])
    await pages.console(agent)  # an agent online: the chat page offers its contact form
    shop.html = (f'<html><body><h1>The shop</h1><iframe id="listed" src="{pages.base}/chat/'
                 f'{listed["id"]}" width="370" height="520"></iframe><iframe id="unlisted" '
                 f'src="{pages.base}/chat/{unlisted["id"]}" width="370" height="120"></iframe>'
                 "</body></html>").encode()  # fmt: skip
    page = await (await pages.context(PHONE)).new_page()
    await page.goto(f"{shop.origin}/")
    chat = page.frame_locator("#listed")
    await expect(chat.locator("#step-contact")).to_be_visible()
    await chat.locator("#step-contact input[name=name]").fill("Ada")
    async with asyncio.timeout(10):  # Chromium reports the refused frame on its console
        while not any("frame-ancestors 'none'" in v for v in pages.csp_violations):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    await expect(page.frame_locator("#unlisted").locator("#step-contact")).to_have_count(0)
    await pages.shot(page, "shop-with-chat-frame")
    refused = [v for v in pages.csp_violations if "frame-ancestors 'none'" in v]
    pages.csp_violations = [v for v in pages.csp_violations if v not in refused]
