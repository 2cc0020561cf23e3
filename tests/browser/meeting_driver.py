"""Driving the meeting pages in real Chromium against a running ``fareroom serve``, for
tests/browser/test_meetings*.py: hosts signed in, participants as guests (on phones and
desktops), each in a browser context of its own with a fake camera and mic. Media is read from
RTCPeerConnection.getStats() through the page's mesh (``window.fareroomMeeting.stats()``,
static/meeting-stats.js), never from what the page shows.

The fixture ``room`` is imported by the test modules (as
``room_fixture``; ``media_browser`` is conftest's)."""

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

# A canvas with a moving square, given to the page as its "screen" instead of
# getDisplayMedia (meeting.js's toggleShare asks for window.fareroomScreenSource first).
SCREEN_SOURCE = """() => {
  window.fareroomScreenSource = () => {
    const c = Object.assign(document.createElement("canvas"), { width: 640, height: 360 });
    const g = c.getContext("2d");
    let n = 0;
    setInterval(() => {
      n += 1;
      g.fillStyle = "#234"; g.fillRect(0, 0, 640, 360);
      g.fillStyle = "#fc3"; g.fillRect((n * 7) % 600, 140, 40, 40);
      g.fillStyle = "#fff"; g.font = "28px sans-serif"; g.fillText(`slide ${n}`, 20, 40);
    }, 50);
    return c.captureStream(15);
  };
}"""


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 (polling the browser's stats)
            await asyncio.sleep(0.3)


Figures = Callable[[], Awaitable[dict[str, float]]]


async def change(figures: Figures, seconds: float) -> dict[str, float]:
    """How much each figure grew in ``seconds``."""
    before = await figures()
    await asyncio.sleep(seconds)
    after = await figures()
    return {k: after.get(k, 0) - v for k, v in before.items()}


async def growing(figures: Figures, within: float = 20.0, least: float = 1) -> dict[str, float]:
    """Until every figure grows (by ``least``) over a second; the last growth seen."""
    seen: dict[str, float] = {}

    async def grew() -> bool:
        nonlocal seen
        seen = await change(figures, 1.0)
        return bool(seen) and min(seen.values()) >= least

    try:
        await eventually(grew, within)
    except TimeoutError:
        raise AssertionError(f"not every figure grew: {seen}") from None
    return seen


class Room:
    """One meeting's pages, by name; what each requested, sent on its sockets, and threw."""

    def __init__(self, tenant: Tenant, ctx: Context, browser: Browser, server: FareroomServer,
                 shots: Any) -> None:  # fmt: skip
        self.t, self.ctx, self.browser = tenant, ctx, browser
        self.base = f"http://{server.url}"
        self.shots, self.n = shots, 0
        self.pages: dict[str, Page] = {}
        self.contexts: dict[str, BrowserContext] = {}
        self.requests: dict[str, list[str]] = {}
        self.bodies: dict[str, list[tuple[str, str, int]]] = {}  # method, url, body size
        self.frames_sent: dict[str, list[int]] = {}  # sizes of the socket frames sent
        self.errors: list[str] = []
        self.users: dict[str, str] = {}
        self._contexts: list[BrowserContext] = []

    async def shot(self, who: str, step: str) -> None:
        """``who``'s page at this step, at phone and at desktop width (the page resized, then
        put back as it was)."""
        self.n += 1
        page = self.pages[who]
        was = page.viewport_size or DESKTOP
        for size in (PHONE, DESKTOP) if was["width"] <= PHONE["width"] else (DESKTOP, PHONE):
            if size != was:
                await page.set_viewport_size(size)  # type: ignore[arg-type]
            path = self.shots / f"{self.n:02d}-{who}-{step}-{size['width']}px.png"
            await page.screenshot(path=str(path), full_page=True)
        await page.set_viewport_size(was)

    async def shots_of(self, step: str, *who: str) -> None:
        for w in who or tuple(self.pages):
            await self.shot(w, step)

    async def page(self, who: str, viewport: dict[str, int]) -> Page:
        context = await self.browser.new_context(viewport=viewport,  # type: ignore[arg-type]
                                                 accept_downloads=True)  # fmt: skip
        context.set_default_timeout(15_000)
        self._contexts.append(context)
        self.contexts[who] = context
        page = await context.new_page()
        seen = self.requests.setdefault(who, [])
        bodies = self.bodies.setdefault(who, [])
        sent = self.frames_sent.setdefault(who, [])
        page.on("request", lambda r: (seen.append(r.url), bodies.append(
            (r.method, r.url, len(r.post_data_buffer or b"")))))  # fmt: skip
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framesent", lambda f: sent.append(len(f) if isinstance(f, str | bytes) else 0)
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(f"{who}: {e}"))
        page.on("console", lambda m: self.errors.append(f"{who}: {m.text}")
                if "Content Security Policy" in m.text else None)  # fmt: skip
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        self.pages[who] = page
        return page

    async def user(self, name: str, viewport: dict[str, int] = DESKTOP) -> Page:
        """A user of the business (an admin: a host of every meeting), signed in."""
        email = f"{name.lower()}-{self.t.id}@example.com"
        async with self.ctx.unit_of_work() as s:
            user = await s.accounts.add_user(self.t.id, email=email, password=PASSWORD,
                                             role="admin", name=name)  # fmt: skip
        self.users[name] = user.id
        page = await self.page(name, viewport)
        await page.goto(f"{self.base}/login")
        await page.fill("input[name=email]", email)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("form button")
        await expect(page).to_have_url(re.compile(r"/dashboard$"))
        return page

    async def host(self, name: str = "Hana") -> Page:
        """A host signs in and starts their personal room: "Join meeting room" on the
        dashboard, then "Start meeting"."""
        page = await self.user(name)
        await page.click("#join-meeting-room")
        await expect(page.locator("#room-link")).to_contain_text("/m/")
        await self.shot(name, "personal-room")
        await page.click("#start-meeting")
        await expect(page.locator("#meeting")).to_be_visible()
        return page

    async def make_room(self, host: str, **fields: Any) -> dict[str, Any]:
        """A room hosted by the user ``host`` (made through the API), with ``link``: its
        start page's URL on this server."""
        r = await self.t.api.post("/api/v1/meeting-rooms", json={
            "host_id": self.users[host], "topic": "Quarterly review", **fields})  # fmt: skip
        assert r.status_code == 201, r.text
        return {**r.json(), "link": f"{self.base}/m/{r.json()['code']}"}

    async def start(self, host: str, link: str) -> Page:
        """A signed-in host opens the room's start page and joins."""
        page = self.pages[host]
        await page.goto(link)
        await page.click("#join-button")
        await expect(page.locator("#meeting")).to_be_visible()
        return page

    async def guest(self, name: str, link: str, viewport: dict[str, int] = DESKTOP,
                    password: str | None = None) -> Page:  # fmt: skip
        page = await self.page(name, viewport)
        await page.goto(link)
        await self.ask_to_join(name, password)
        return page

    async def ask_to_join(self, name: str, password: str | None = None) -> None:
        page = self.pages[name]
        await page.fill("#join-name", name)
        if password is not None:
            await page.fill("#join-password", password)
        await page.click("#join-button")

    async def stats(self, who: str) -> dict[str, Any]:
        return dict(await self.pages[who].evaluate("() => window.fareroomMeeting.stats()"))

    async def id(self, who: str) -> str:
        found = await self.pages[who].wait_for_function(
            "() => window.fareroomMeeting?.state.me?.id")  # fmt: skip
        return str(await found.json_value())

    async def ids(self, *who: str) -> dict[str, str]:
        return {w: await self.id(w) for w in who or tuple(self.pages)}

    async def video_in(self, who: str, frm: str, source: str = "camera") -> dict[str, float]:
        """What ``who`` received of ``frm``'s camera or screen (zeros when nothing came)."""
        peer = (await self.stats(who)).get(await self.id(frm)) or {"video": {}}
        return dict(peer["video"].get(source) or {"bytesReceived": 0, "framesDecoded": 0})

    async def frames(self, who: tuple[str, ...], source: str = "camera",
                     what: str = "framesDecoded") -> dict[str, float]:  # fmt: skip
        """Every page of ``who``'s frames decoded from every other one's camera (or screen)."""
        ids = await self.ids(*who)
        names = {v: k for k, v in ids.items()}
        found = {}
        for w in who:
            stats = await self.stats(w)
            for other in who:
                if other != w:
                    s = stats.get(ids[other]) or {"video": {}}
                    found[f"{w}<{names[ids[other]]}"] = (s["video"].get(source) or {}).get(what, 0)
        return found

    async def mic(self, who: str) -> float:
        """``who``'s own microphone's total energy, as their page sends it (media-source)."""
        return max([s["micEnergy"] or 0 for s in (await self.stats(who)).values()], default=0)

    async def heard(self, who: str, frm: str) -> float:
        """The total energy of the audio ``who`` received from ``frm``."""
        peer = (await self.stats(who)).get(await self.id(frm)) or {}
        return float((peer.get("audio") or {}).get("totalAudioEnergy", 0))

    def foreign_requests(self) -> dict[str, list[str]]:
        return {who: [u for u in urls if not u.startswith((self.base, "blob:", "data:"))]
                for who, urls in self.requests.items()}  # fmt: skip

    async def close(self) -> None:
        for c in self._contexts:
            await c.close()


@pytest.fixture(name="room")
async def room_fixture(tenant: Tenant, ctx: Context, media_browser: Browser, server: FareroomServer,
               request: pytest.FixtureRequest) -> AsyncIterator[Room]:  # fmt: skip
    expect.set_options(timeout=15_000)  # a loaded machine: joining takes a while
    shots = SHOTS / request.node.name
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    r = Room(tenant, ctx, media_browser, server, shots)
    yield r
    await r.close()
    assert r.errors == [], "a page threw or broke its CSP"
    assert all(not f for f in r.foreign_requests().values()), r.foreign_requests()
