"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium; DEVELOPERS.md)
against a real ``fareroom serve`` on 127.0.0.1 with short heartbeats and timeouts, so that
presence and the 90-s rule play out in seconds. The suite's own Context shares its database
(to make agents and rooms quickly); the server runs on the real clock.

Screenshots of every key step go to ``var/screenshots/<test>/`` (override with
``FAREROOM_SCREENSHOTS``). Without Chromium the tests are skipped, unless
``FAREROOM_REQUIRE_BROWSER=1`` (set by .ci/run), which makes a missing browser a failure.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from fareroom.bootstrap import Context
from tests.conftest import Tenant
from tests.support.servers import FareroomServer
from tests.support.smtp import SmtpInbox

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
# The fake devices stand in for a camera and a mic (a moving picture, a beep each second);
# the fake UI grants getUserMedia; a page may play sound without a click first.
MEDIA_FLAGS = [*FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
               "--autoplay-policy=no-user-gesture-required"]  # fmt: skip
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 800}
PASSWORD = "agent password 1"
TIMINGS = {"FAREROOM_HEARTBEAT_SECONDS": "1", "FAREROOM_OFFLINE_AFTER_SECONDS": "3",
           "FAREROOM_PRESENCE_TIMEOUT_SECONDS": "6",
           "FAREROOM_METER_TICK_SECONDS": "2"}  # fmt: skip
SHOTS = Path(os.environ.get("FAREROOM_SCREENSHOTS", "var/screenshots"))


async def _chromium(flags: list[str]) -> AsyncIterator[Browser]:
    if not await asyncio.to_thread(CHROMIUM.exists):
        reason = "Debian's chromium is not installed: apt-get install -y chromium"
        if os.environ.get("FAREROOM_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    async with async_playwright() as pw:
        found = await pw.chromium.launch(executable_path=str(CHROMIUM), args=flags)
        yield found
        await found.close()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async for found in _chromium(FLAGS):
        yield found


@pytest.fixture(scope="module")
async def media_browser() -> AsyncIterator[Browser]:
    """Chromium with a fake camera and mic (meetings, calls)."""
    async for found in _chromium(MEDIA_FLAGS):
        yield found


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpInbox]:
    inbox = SmtpInbox()
    inbox.start()
    yield inbox
    inbox.stop()


@pytest.fixture(scope="module")
def server(database_url: str, smtp: SmtpInbox) -> Iterator[FareroomServer]:
    running = FareroomServer({"FAREROOM_DATABASE_URL": database_url,
                              "FAREROOM_SECRET_KEY": "test-secret",
                              "FAREROOM_SMTP_HOST": "127.0.0.1",
                              "FAREROOM_SMTP_PORT": str(smtp.port), **TIMINGS})  # fmt: skip
    yield running
    err = running.stop()
    assert "Traceback" not in err, err


class Pages:
    """A business (the suite's tenant) seen through the browser: its owner's dashboard,
    its agents' consoles and its clients' chat pages, each in a context of its own."""

    def __init__(self, tenant: Tenant, ctx: Context, browser: Browser, server: FareroomServer,
                 shots: Path) -> None:  # fmt: skip
        self.t, self.ctx, self.browser, self.server = tenant, ctx, browser, server
        self.base = f"http://{server.url}"
        self.shots = shots
        self._contexts: list[BrowserContext] = []
        self._n = self._shots = 0
        # What Chromium reported refusing under our Content-Security-Policy: a page that
        # needs an inline script or a foreign source would log it here.
        self.csp_violations: list[str] = []

    async def shot(self, page: Page, step: str, *, full_page: bool = True) -> Path:
        """A screenshot of ``page`` at a key step, named by order, step and width: the
        whole page, or (``full_page=False``) what its window shows."""
        self._shots += 1
        width = page.viewport_size["width"] if page.viewport_size else 0
        path = self.shots / f"{self._shots:02d}-{step}-{width}px.png"
        await page.screenshot(path=str(path), full_page=full_page)
        return path

    async def context(self, viewport: dict[str, int] = DESKTOP) -> BrowserContext:
        made = await self.browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        made.set_default_timeout(10_000)
        made.on("console", self._on_console)
        self._contexts.append(made)
        return made

    def _on_console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(f"{message.page.url if message.page else '?'}: "
                                       f"{message.text}")  # fmt: skip

    async def user(self, role: str = "agent", name: str = "Sam") -> dict[str, str]:
        self._n += 1
        email = f"{name.lower()}{self._n}-{self.t.id}@example.com"
        async with self.ctx.unit_of_work() as s:
            user = await s.accounts.add_user(self.t.id, email=email, password=PASSWORD,
                                             role=role, name=name)  # fmt: skip
        return {"id": user.id, "email": email}

    async def sign_in(self, email: str, password: str = PASSWORD,
                      viewport: dict[str, int] = DESKTOP) -> Page:  # fmt: skip
        page = await (await self.context(viewport)).new_page()
        await page.goto(f"{self.base}/login")
        await page.fill("input[name=email]", email)
        await page.fill("input[name=password]", password)
        await page.click("form button")
        await page.wait_for_load_state()
        return page

    async def console(self, agent: dict[str, str], viewport: dict[str, int] = DESKTOP) -> Page:
        """The agent signed in (sent to the console), and online."""
        page = await self.sign_in(agent["email"], viewport=viewport)
        await expect(page).to_have_url(re.compile(r"/console$"))
        await expect(page.locator("#link")).to_contain_text("Signed in as")
        await page.click("button[data-status=online]")
        await expect(page.locator("button[data-status=online]")).to_have_attribute(
            "aria-pressed", "true")  # fmt: skip
        return page

    async def room(self, agents: list[dict[str, str]], **settings: Any) -> dict[str, Any]:
        tariff = settings.pop("tariff", {"block_minutes": 5, "block_price": 1000,
                                         "preauth_amount": 2000})  # fmt: skip
        r = await self.t.api.post("/api/v1/chat-rooms", json={
            "name": "Advice", "terms": "You pay per minute as shown.", "tariff": tariff,
            "agent_ids": [a["id"] for a in agents], **settings})  # fmt: skip
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def client_page(self, room_id: str, viewport: dict[str, int] = PHONE) -> Page:
        page = await (await self.context(viewport)).new_page()
        await page.goto(f"{self.base}/chat/{room_id}")
        return page

    async def contact(self, page: Page, name: str = "Ada", email: str = "ada@example.com"
                      ) -> None:  # fmt: skip
        await page.fill("#contact input[name=name]", name)
        await page.fill("#contact input[name=email]", email)
        await page.fill("#contact textarea[name=question]", "Can you look at my tax return?")
        await page.click("#contact button")
        await expect(page.locator("#step-terms")).to_be_visible()

    async def card(self, page: Page, number: str, form: str = "#card-form") -> None:
        await page.fill(f"{form} input[name=number]", number)
        await page.fill(f"{form} input[name=exp]", "12/35")
        await page.fill(f"{form} input[name=cvc]", "123")
        await page.click(f"{form} button")

    async def connected_client(self, room_id: str, viewport: dict[str, int] = PHONE) -> Page:
        """A client through contact, terms and card, in the chat."""
        page = await self.client_page(room_id, viewport)
        await self.contact(page)
        await page.click("#accept")
        await self.card(page, "4242424242424242")
        await expect(page.locator("#step-chat")).to_be_visible()
        return page

    async def client_token(self, page: Page, room_id: str) -> str:
        """The resume token the client's page holds now (the browser's localStorage)."""
        return str(await page.evaluate(f"localStorage.getItem('fareroom.visit.{room_id}')"))

    async def hang_up(self, page: Page) -> None:
        """The client's hang-up, confirmed."""
        await page.click("#hangup")
        await page.click("#hangup-yes")

    async def visit_call(self, page: Page, room_id: str, path: str, body: dict[str, Any]
                         ) -> httpx.Response:  # fmt: skip
        """A call of the client's page's HTTP API with the page's own token."""
        token = await self.client_token(page, room_id)
        async with httpx.AsyncClient(base_url=self.base) as http:
            return await http.post(path, json=body, headers={"X-Visit-Token": token})

    async def close(self) -> None:
        for made in self._contexts:
            await made.close()


@pytest.fixture
async def pages(tenant: Tenant, ctx: Context, browser: Browser, server: FareroomServer,
                request: pytest.FixtureRequest) -> AsyncIterator[Pages]:  # fmt: skip
    shots = SHOTS / request.node.name
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    driver = Pages(tenant, ctx, browser, server, shots)
    yield driver
    await driver.close()
    assert driver.csp_violations == [], "the pages broke their own CSP"


class Shop:
    """The business's website: one page, served on another loopback port (another origin)."""

    def __init__(self) -> None:
        self.html = b""
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(shop.html)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def shop() -> Iterator[Shop]:
    made = Shop()
    yield made
    made.server.shutdown()
