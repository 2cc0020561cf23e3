"""Driving the media harness with Playwright, for the tests and bench/meeting_media.py:
Chromium with a fake camera and microphone, pages of one meeting each in a browser context
of its own, and their getStats() figures (meeting-stats.js) read back."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright

from tests.browser.conftest import CHROMIUM, MEDIA_FLAGS


async def launch(pw: Playwright, *, fake_device: str = "") -> Browser:
    """Chromium with the fake devices; ``fake_device`` sets their options (``fps=30``: the
    fake camera's own rate, 20 by default, which a page's constraints cannot raise)."""
    flags = [f"{f}={fake_device}" if fake_device and f.startswith("--use-fake-device") else f
             for f in MEDIA_FLAGS]  # fmt: skip
    return await pw.chromium.launch(executable_path=str(CHROMIUM), args=flags)


@dataclass
class Meeting:
    """Pages in one room of the harness, each in its own context; ``requests`` lists every
    URL each page asked for (the tests check none left for another site)."""

    browser: Browser
    base: str
    room: str
    pages: dict[str, Page] = field(default_factory=dict)
    requests: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    debug: bool = False
    log: list[str] = field(default_factory=list)
    _contexts: list[BrowserContext] = field(default_factory=list)

    async def join(self, who: str, *, key: str | None = None, nokey: bool = False,
                   viewport: dict[str, int] | None = None, camera: str = "") -> Page:  # fmt: skip
        context = await self.browser.new_context(
            viewport=viewport or {"width": 1280, "height": 860},  # type: ignore[arg-type]
            accept_downloads=True)  # fmt: skip
        context.set_default_timeout(15_000)
        self._contexts.append(context)
        page = await context.new_page()
        seen = self.requests.setdefault(who, [])
        page.on("request", lambda r: seen.append(r.url))
        page.on("console", lambda m: self._console(who, m.type, m.text))
        page.on("pageerror", lambda e: self.errors.append(f"{who}: {e}"))
        url = f"{self.base}/?room={self.room}&id={who}" + ("&nokey=1" if nokey else "")
        url += ("&debug=1" if self.debug else "") + (f"&{camera}" if camera else "")
        # not "load": a <video> playing an empty MediaStream (a page with no camera and no
        # mic) delays the load event for ever
        await page.goto(url + (f"#key={key}" if key else ""), wait_until="domcontentloaded")
        await page.evaluate("window.harness.started")
        self.pages[who] = page
        return page

    def _console(self, who: str, kind: str, text: str) -> None:
        self.log.append(f"{who}: {text}")
        if kind in ("error", "warning") or "Content Security Policy" in text:
            self.errors.append(f"{who}: {text}")

    async def stats(self, who: str) -> dict[str, Any]:
        return dict(await self.pages[who].evaluate("window.harness.stats()"))

    async def all_stats(self) -> dict[str, dict[str, Any]]:
        found = await asyncio.gather(*(self.stats(w) for w in self.pages))
        return dict(zip(self.pages, found, strict=True))

    async def connected(self, within: float = 20.0) -> None:
        """Until every page is connected to every other."""
        others = len(self.pages) - 1
        deadline = time.monotonic() + within
        while True:
            stats = await self.all_stats()
            if all(len(s) == others and all(p["state"] == "connected" for p in s.values())
                   for s in stats.values()):  # fmt: skip
                return
            if time.monotonic() > deadline:
                states = {w: {p: v["state"] for p, v in s.items()} for w, s in stats.items()}
                raise AssertionError(f"the mesh did not connect: {states}")
            await asyncio.sleep(0.25)

    async def close(self) -> None:
        for context in self._contexts:
            await context.close()


def video(stats: dict[str, Any], peer: str, source: str = "camera") -> dict[str, float]:
    """The inbound video figures one page has from ``peer``'s camera or screen (zeros when
    none arrived)."""
    zero = {"bytesReceived": 0, "framesDecoded": 0, "framesPerSecond": 0}
    return dict(stats[peer]["video"].get(source) or zero)
