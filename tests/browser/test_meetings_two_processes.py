"""Two ``fareroom serve`` processes sharing the database and a real Redis: one participant's
page is served by each, and they see and hear each other (getStats), chat, and the host's
word on one process reaches the page on the other."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import Tenant
from tests.support.servers import FareroomServer


@pytest.fixture(scope="module")
def servers(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[FareroomServer, FareroomServer]]:  # fmt: skip
    tmp: Path = tmp_path_factory.mktemp("meet-two")
    env = {
        "FAREROOM_DATABASE_URL": database_url,
        "FAREROOM_REDIS_URL": redis_url,
        "FAREROOM_SECRET_KEY": "test-secret",
        "FAREROOM_MAIL_DIR": str(tmp / "mail"),
    }
    one, two = FareroomServer(env), FareroomServer(env, "--no-worker")
    yield one, two
    for server in (one, two):
        err = server.stop()
        assert "Traceback" not in err, err


async def _guest(browser: Browser, link: str, name: str, viewport: dict[str, int]) -> Page:
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    page = await context.new_page()
    await page.goto(link)
    await page.fill("#join-name", name)
    await page.click("#join-button")
    await expect(page.locator("#meeting")).to_be_visible()
    return page


async def _frames(page: Page) -> list[float]:
    stats: dict[str, Any] = await page.evaluate("() => window.fareroomMeeting.stats()")
    return [(s["video"].get("camera") or {}).get("framesDecoded", 0) for s in stats.values()]


async def test_participants_served_by_different_processes_see_and_hear_each_other(
    tenant: Tenant, media_browser: Browser, servers: tuple[FareroomServer, FareroomServer],
) -> None:  # fmt: skip
    one, two = servers
    r = await tenant.api.post(
        "/api/v1/meeting-rooms",
        json={"host_id": tenant.owner_id, "topic": "Across processes", "join_before_host": True},
    )
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    ada = await _guest(media_browser, f"http://{one.url}/m/{code}", "Ada", DESKTOP)
    bob = await _guest(media_browser, f"http://{two.url}/m/{code}", "Bob", PHONE)

    async def both_decode() -> bool:
        frames = await _frames(ada) + await _frames(bob)
        return len(frames) == 2 and min(frames) > 10

    async with asyncio.timeout(25):
        while not await both_decode():  # noqa: ASYNC110 (polling the browsers' stats)
            await asyncio.sleep(0.3)
    stats = await bob.evaluate("() => window.fareroomMeeting.stats()")
    [heard] = stats.values()
    assert (heard["audio"] or {}).get("bytesReceived", 0) > 0

    await bob.click("#panel-chat")
    await bob.fill("#chat-text", "hello from process two")
    await bob.press("#chat-text", "Enter")
    await ada.click("#panel-chat")
    await expect(ada.locator("#chat-log")).to_contain_text("hello from process two")
    await bob.click("#leave")
    await expect(ada.locator(".tile")).to_have_count(1)
    for page in (ada, bob):
        await page.context.close()
