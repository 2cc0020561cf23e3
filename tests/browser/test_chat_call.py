"""A voice and video call inside a live chat, in real Chromium with fake devices: the client
(phone) calls, the agent (desktop console) answers, media flows both ways (getStats through
``window.fareroomCall.stats()``), and the meter runs on as in any chat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from fareroom.bootstrap import Context
from tests.browser.conftest import SHOTS, Pages
from tests.conftest import Tenant
from tests.support.servers import FareroomServer


@pytest.fixture
async def media_pages(tenant: Tenant, ctx: Context, media_browser: Browser,
                      server: FareroomServer, request: pytest.FixtureRequest
                      ) -> AsyncIterator[Pages]:  # fmt: skip
    shots = SHOTS / request.node.name
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    driver = Pages(tenant, ctx, media_browser, server, shots)
    yield driver
    await driver.close()
    assert driver.csp_violations == [], "the pages broke their own CSP"


async def _received(page: Page) -> dict[str, float]:
    stats: dict[str, Any] = await page.evaluate("() => window.fareroomCall.stats()")
    [peer] = stats.values() or [{"video": {}, "audio": None}]
    video = peer["video"].get("camera") or {}
    return {"frames": video.get("framesDecoded", 0),
            "audio bytes": (peer["audio"] or {}).get("bytesReceived", 0)}  # fmt: skip


async def test_a_client_calls_the_agent_in_the_chat_and_they_see_and_hear_each_other(
    media_pages: Pages,
) -> None:
    pages = media_pages
    agent = await pages.user(name="Sam")
    room = await pages.room([agent])
    console = await pages.console(agent)
    client = await pages.connected_client(room["id"])
    await client.click("#call-start")
    await expect(console.locator("#call-ring")).to_be_visible()
    await pages.shot(console, "ringing")
    await console.click("#call-answer")
    await expect(client.locator("#call-status")).to_contain_text("In a call", timeout=20_000)

    async def flowing() -> bool:
        a, b = await _received(client), await _received(console)
        return min(a["frames"], b["frames"]) > 10 and min(a["audio bytes"], b["audio bytes"]) > 0

    async with asyncio.timeout(20):
        while not await flowing():  # noqa: ASYNC110 (polling the browsers' stats)
            await asyncio.sleep(0.3)
    before = await _received(client), await _received(console)
    await asyncio.sleep(2)
    after = await _received(client), await _received(console)
    for b, a in zip(before, after, strict=True):
        assert a["frames"] > b["frames"] and a["audio bytes"] > b["audio bytes"], (before, after)
    await pages.shot(client, "in-call")
    await pages.shot(console, "in-call")
    # the meter runs as in any chat
    await expect(client.locator("#meter-state")).to_have_attribute("data-state", "running")

    await console.click("#call-end")
    await expect(client.locator("#call-status")).to_contain_text("ended the call")
    await expect(client.locator("#call-start")).to_be_visible()
    await expect(client.locator("#step-chat")).to_be_visible()
