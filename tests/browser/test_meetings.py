"""Meetings in real Chromium against a running ``fareroom serve``: the host signed in at
desktop width, participants as guests (one on a phone), each in a browser context of its own
with a fake camera and mic. Media is read from RTCPeerConnection.getStats() through the
page's mesh (``window.fareroomMeeting.stats()``, static/meeting-stats.js), never from what
the page shows."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from fareroom.bootstrap import Context
from tests.browser.conftest import DESKTOP, PASSWORD, PHONE, SHOTS
from tests.conftest import Tenant
from tests.support.servers import FareroomServer


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 (polling the browser's stats)
            await asyncio.sleep(0.3)


class Room:
    """One meeting's pages."""

    def __init__(self, tenant: Tenant, ctx: Context, browser: Browser, server: FareroomServer,
                 shots: Any) -> None:  # fmt: skip
        self.t, self.ctx, self.browser = tenant, ctx, browser
        self.base = f"http://{server.url}"
        self.shots, self.n = shots, 0
        self.pages: dict[str, Page] = {}
        self.requests: dict[str, list[str]] = {}
        self.errors: list[str] = []
        self._contexts: list[BrowserContext] = []

    async def shot(self, who: str, step: str) -> None:
        self.n += 1
        page = self.pages[who]
        width = page.viewport_size["width"] if page.viewport_size else 0
        await page.screenshot(path=str(self.shots / f"{self.n:02d}-{who}-{step}-{width}px.png"),
                              full_page=True)  # fmt: skip

    async def page(self, who: str, viewport: dict[str, int]) -> Page:
        context = await self.browser.new_context(viewport=viewport,  # type: ignore[arg-type]
                                                 accept_downloads=True)  # fmt: skip
        context.set_default_timeout(15_000)
        self._contexts.append(context)
        page = await context.new_page()
        seen = self.requests.setdefault(who, [])
        page.on("request", lambda r: seen.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(f"{who}: {e}"))
        page.on("console", lambda m: self.errors.append(f"{who}: {m.text}")
                if "Content Security Policy" in m.text else None)  # fmt: skip
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        self.pages[who] = page
        return page

    async def host(self, name: str = "Hana") -> Page:
        """A host signs in and starts their personal room: "Join meeting room" on the
        dashboard, then "Start meeting"."""
        email = f"{name.lower()}-{self.t.id}@example.com"
        async with self.ctx.unit_of_work() as s:
            await s.accounts.add_user(self.t.id, email=email, password=PASSWORD, role="admin",
                                      name=name)  # fmt: skip
        page = await self.page(name, DESKTOP)
        await page.goto(f"{self.base}/login")
        await page.fill("input[name=email]", email)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("form button")
        await expect(page).to_have_url(re.compile(r"/dashboard$"))
        await page.click("#join-meeting-room")
        await expect(page.locator("#room-link")).to_contain_text("/m/")
        await self.shot(name, "personal-room")
        await page.click("#start-meeting")
        await expect(page.locator("#meeting")).to_be_visible()
        return page

    async def guest(self, name: str, link: str, viewport: dict[str, int] = DESKTOP) -> Page:
        page = await self.page(name, viewport)
        await page.goto(link)
        await page.fill("#join-name", name)
        await page.click("#join-button")
        return page

    async def stats(self, who: str) -> dict[str, Any]:
        return dict(await self.pages[who].evaluate("() => window.fareroomMeeting.stats()"))

    async def ids(self) -> dict[str, str]:
        return {who: await p.evaluate("() => window.fareroomMeeting.state.me.id")
                for who, p in self.pages.items()}  # fmt: skip

    async def frames(self) -> dict[str, float]:
        """Every page's frames decoded from every other page's camera."""
        ids = await self.ids()
        names = {v: k for k, v in ids.items()}
        found = {}
        for who in self.pages:
            for peer, s in (await self.stats(who)).items():
                found[f"{who}<{names.get(peer, peer)}"] = (s["video"].get("camera") or {}).get(
                    "framesDecoded", 0
                )
        return found

    async def close(self) -> None:
        for c in self._contexts:
            await c.close()


@pytest.fixture
async def room(tenant: Tenant, ctx: Context, media_browser: Browser, server: FareroomServer,
               request: pytest.FixtureRequest) -> AsyncIterator[Room]:  # fmt: skip
    shots = SHOTS / request.node.name
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    r = Room(tenant, ctx, media_browser, server, shots)
    yield r
    await r.close()
    assert r.errors == [], "a page threw or broke its CSP"


async def test_a_host_starts_the_personal_room_in_two_clicks_and_two_guests_see_and_hear(
    room: Room,
) -> None:
    host = await room.host()
    link = (await host.evaluate("location.href")).split("?")[0]
    await room.shot("Hana", "alone")
    ada = await room.guest("Ada", link, PHONE)
    bob = await room.guest("Bob", link)
    for page in (ada, bob):
        await expect(page.locator("#meeting")).to_be_visible()

    async def all_decoding() -> bool:
        frames = await room.frames()
        return len(frames) == 6 and all(v > 10 for v in frames.values())

    await eventually(all_decoding)
    before = await room.frames()
    await asyncio.sleep(2)
    after = await room.frames()
    assert all(after[k] > before[k] for k in before), (before, after)
    for who in ("Hana", "Ada", "Bob"):
        await room.shot(who, "in-meeting")

    # a private message reaches only its target (and the sender)
    ids = await room.ids()
    await host.click("#panel-chat")
    await host.select_option("#chat-to", ids["Ada"])
    await host.fill("#chat-text", "Only for you, Ada")
    await host.press("#chat-text", "Enter")
    await ada.click("#panel-chat")
    await expect(ada.locator("#chat-log")).to_contain_text("Only for you, Ada")
    await expect(host.locator("#chat-log")).to_contain_text("Only for you, Ada")
    await bob.click("#panel-chat")
    await host.select_option("#chat-to", "")
    await host.fill("#chat-text", "Hello everyone")
    await host.press("#chat-text", "Enter")
    await expect(bob.locator("#chat-log")).to_contain_text("Hello everyone")
    assert "Only for you" not in await bob.locator("#chat-log").inner_text()
    await room.shot("Ada", "private-chat")

    # the host ends the meeting for all
    await host.click("#panel-people")
    await host.click("#end")
    for page in (ada, bob):
        await expect(page.locator("#gone")).to_have_attribute("data-reason", "ended")
    await room.shot("Ada", "ended")
    for who, urls in room.requests.items():
        foreign = [u for u in urls if not u.startswith(room.base)
                   and not u.startswith(("blob:", "data:"))]  # fmt: skip
        assert foreign == [], (who, foreign)
