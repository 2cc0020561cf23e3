"""A meeting's media in real Chromium (docs/meetings.md): three pages of the media harness,
each in a browser context of its own with a fake camera and mic, in a full mesh through the
harness's relay, using the real modules of ``static/meeting-*.js``. Everything is read from
RTCPeerConnection.getStats() (``static/meeting-stats.js``), never from what a page shows."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.browser.conftest import CHROMIUM, DESKTOP, PHONE, SHOTS
from tests.browser.media_harness import relay
from tests.browser.media_harness.driver import Meeting, launch, video

ROOMS = count(1)
WEBM = b"\x1a\x45\xdf\xa3"  # an EBML header: the first bytes of every WebM file
TEXT = "the quarterly figures ✓"
# Two messages under one key, opened with it, with another key, and changed by one bit.
CHAT_ROUND_TRIP = f"""async () => {{
  const h = window.harness, key = h.newKey(), other = h.newKey();
  const a = await h.encryptText(key, "{TEXT}"), b = await h.encryptText(key, "{TEXT}");
  const refused = (p) => p.then(() => null, (err) => err.message);
  const bytes = atob(a.cipher);
  const flipped = String.fromCharCode(bytes.charCodeAt(0) ^ 1) + bytes.slice(1);
  return {{ key, a, b, plain: await h.decryptText(key, a),
    wrong: await refused(h.decryptText(other, a)),
    changed: await refused(h.decryptText(key, {{ cipher: btoa(flipped), iv: a.iv }})),
    ivBytes: atob(a.iv).length }};
}}"""


@pytest.fixture(scope="module")
async def media_browser() -> AsyncIterator[Browser]:
    if not await asyncio.to_thread(CHROMIUM.exists):
        reason = "Debian's chromium is not installed: apt-get install -y chromium"
        if os.environ.get("FAREROOM_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    async with async_playwright() as pw:
        found = await launch(pw)
        yield found
        await found.close()


@pytest.fixture(scope="module")
async def harness() -> AsyncIterator[str]:
    runner, _, base = await relay.start()
    yield base
    await runner.cleanup()


class Shots:
    def __init__(self, folder: Path) -> None:
        self.folder, self.n = folder, 0

    async def __call__(self, page: Page, step: str) -> None:
        self.n += 1
        width = page.viewport_size["width"] if page.viewport_size else 0
        await page.screenshot(path=str(self.folder / f"{self.n:02d}-{step}-{width}px.png"),
                              full_page=True)  # fmt: skip


@pytest.fixture
async def shot(request: pytest.FixtureRequest) -> Shots:
    folder = SHOTS / request.node.name
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return Shots(folder)


@pytest.fixture
async def meeting(media_browser: Browser, harness: str) -> AsyncIterator[Meeting]:
    m = Meeting(media_browser, harness, f"room{next(ROOMS)}")
    yield m
    await m.close()
    assert m.errors == [], "a page logged an error or broke its CSP"


async def three(meeting: Meeting, **kwargs: Any) -> None:
    """ada at desktop width, bob on a phone, cy at desktop width, all connected."""
    await meeting.join("ada", viewport=DESKTOP, **kwargs)
    await meeting.join("bob", viewport=PHONE, **kwargs)
    await meeting.join("cy", viewport=DESKTOP, **kwargs)
    await meeting.connected()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 (polling the browser's stats)
            await asyncio.sleep(0.25)


async def change(meeting: Meeting, read: Callable[[dict[str, dict[str, Any]]], dict[str, float]],
                 seconds: float = 2.0) -> dict[str, float]:  # fmt: skip
    """How much each figure ``read`` picks from every page's stats grew over ``seconds``."""
    before = read(await meeting.all_stats())
    await asyncio.sleep(seconds)
    after = read(await meeting.all_stats())
    return {name: after[name] - before[name] for name in before}


def pairs(meeting: Meeting) -> list[tuple[str, str]]:
    return [(a, b) for a in meeting.pages for b in meeting.pages if a != b]


async def test_media_flows_between_every_pair_of_a_three_person_mesh(
    meeting: Meeting, shot: Shots
) -> None:
    await three(meeting)

    def figures(stats: dict[str, dict[str, Any]]) -> dict[str, float]:
        found: dict[str, float] = {}
        for me, peer in pairs(meeting):
            found[f"{me}<{peer} video bytes"] = video(stats[me], peer)["bytesReceived"]
            found[f"{me}<{peer} frames"] = video(stats[me], peer)["framesDecoded"]
            found[f"{me}<{peer} audio bytes"] = (stats[me][peer]["audio"] or {}).get(
                "bytesReceived", 0)  # fmt: skip
        return found

    grown = await change(meeting, figures)
    assert len(grown) == 18
    stuck = {name: value for name, value in grown.items() if value <= 0}
    assert stuck == {}, f"no media on some pairs: {stuck}"
    # 2 s of a 15 fps camera: well over a few frames on every pair
    assert min(v for k, v in grown.items() if k.endswith("frames")) >= 10, grown
    await shot(meeting.pages["ada"], "mesh-of-three")
    await shot(meeting.pages["bob"], "mesh-of-three")
    # cy leaves: the others close their pair with cy and go on between themselves
    await meeting.pages["cy"].evaluate("window.harness.leave()")
    del meeting.pages["cy"]

    async def cy_gone() -> bool:
        return all("cy" not in s for s in (await meeting.all_stats()).values())

    await eventually(cy_gone)
    left = await change(meeting, lambda s: {
        "ada<bob": video(s["ada"], "bob")["framesDecoded"],
        "bob<ada": video(s["bob"], "ada")["framesDecoded"]})  # fmt: skip
    assert min(left.values()) >= 10, left


async def test_pages_without_camera_or_mic_still_get_everyone_elses_media(
    meeting: Meeting,
) -> None:
    # ada has nothing to send and makes the pair's first offer (the lesser id); cy has nothing
    # and answers bob's; neither waits on the other side for anything
    await meeting.join("ada", camera="media=none")
    await meeting.join("bob", viewport=PHONE)
    await meeting.join("cy", viewport=PHONE, camera="media=none")

    def figures(stats: dict[str, dict[str, Any]]) -> dict[str, float]:
        found: dict[str, float] = {}
        for me in ("ada", "cy"):
            from_bob = stats[me].get("bob")
            found[f"{me}<bob frames"] = video(stats[me], "bob")["framesDecoded"] if from_bob else 0
            found[f"{me}<bob audio bytes"] = ((from_bob or {}).get("audio") or {}).get(
                "bytesReceived", 0)  # fmt: skip
        return found

    async def flowing() -> bool:
        return min((await change(meeting, figures, 1.0)).values()) > 0

    await eventually(flowing, within=25)
    bob = await meeting.stats("bob")
    assert {bob[p]["state"] for p in ("ada", "cy")} == {"connected"}, bob


async def test_a_muted_mic_sends_silence_until_unmuted(meeting: Meeting, shot: Shots) -> None:
    await meeting.join("ada")
    bob = await meeting.join("bob", viewport=PHONE)
    await meeting.connected()

    def energy(stats: dict[str, dict[str, Any]]) -> dict[str, float]:
        return {"bob's mic": stats["bob"]["ada"]["micEnergy"],
                "bob heard by ada": (stats["ada"]["bob"]["audio"] or {}).get(
                    "totalAudioEnergy", 0)}  # fmt: skip

    # the fake mic beeps: energy grows at both ends while the mic is on
    on = await change(meeting, energy, 2.5)
    assert on["bob's mic"] > 0.05 and on["bob heard by ada"] > 0.05, on
    await bob.click("#mic")
    await asyncio.sleep(0.5)  # what was already on its way arrives
    muted = await change(meeting, energy, 2.5)
    assert muted["bob's mic"] < 1e-4 and muted["bob heard by ada"] < 1e-4, muted
    levels = await meeting.stats("bob")
    assert levels["ada"]["micLevel"] < 1e-3, levels["ada"]
    assert {"type": "media", "audio": False, "video": True} in await bob.evaluate(
        "window.harness.sent")  # fmt: skip
    await shot(bob, "muted")
    await bob.click("#mic")
    again = await change(meeting, energy, 2.5)
    assert again["bob's mic"] > 0.05 and again["bob heard by ada"] > 0.05, again


async def test_a_participant_silenced_by_the_host_is_not_heard_whatever_their_page_sends(
    meeting: Meeting,
) -> None:
    ada = await meeting.join("ada")
    await meeting.join("bob", viewport=PHONE)
    await meeting.connected()

    def energy(stats: dict[str, dict[str, Any]]) -> dict[str, float]:
        return {"bob's mic": stats["bob"]["ada"]["micEnergy"],
                "bob heard by ada": (stats["ada"]["bob"]["audio"] or {}).get(
                    "totalAudioEnergy", 0)}  # fmt: skip

    await asyncio.sleep(1.0)
    # the server said a host muted bob; bob's (modified) page keeps its mic on
    await ada.evaluate("window.harness.silence('bob')")
    await asyncio.sleep(0.5)
    silenced = await change(meeting, energy, 2.5)
    assert silenced["bob's mic"] > 0.05, silenced
    assert silenced["bob heard by ada"] < 1e-4, silenced
    await ada.evaluate("window.harness.silence('bob', false)")
    lifted = await change(meeting, energy, 2.5)
    assert lifted["bob heard by ada"] > 0.05, lifted


async def test_a_paused_share_sends_no_frame_until_resumed(meeting: Meeting, shot: Shots) -> None:
    await three(meeting)
    ada = meeting.pages["ada"]
    await ada.click("#share")

    def screen(stats: dict[str, dict[str, Any]]) -> dict[str, float]:
        return {f"{me} screen": video(stats[me], "ada", "screen")["framesDecoded"]
                for me in ("bob", "cy")} | {f"{me} camera": video(stats[me], "ada")[
                    "framesDecoded"] for me in ("bob", "cy")}  # fmt: skip

    async def shown() -> bool:
        return min((await change(meeting, screen, 1.0)).values()) > 0

    await eventually(shown)
    await shot(meeting.pages["bob"], "share-on")
    await ada.click("#pause")
    await asyncio.sleep(1.0)  # frames already sent arrive
    await ada.evaluate("window.harness.show('SECRET')")
    paused = await change(meeting, screen, 3.0)
    assert paused["bob screen"] == 0 and paused["cy screen"] == 0, paused
    assert paused["bob camera"] > 0 and paused["cy camera"] > 0, paused  # only the share stops
    await shot(ada, "share-paused-sharer")
    await shot(meeting.pages["bob"], "share-paused-viewer")
    await shot(meeting.pages["cy"], "share-paused-viewer")
    await ada.evaluate("window.harness.show('')")
    await ada.click("#pause")
    resumed = await change(meeting, screen, 2.0)
    assert resumed["bob screen"] > 5 and resumed["cy screen"] > 5, resumed
    await shot(meeting.pages["bob"], "share-resumed")
    await ada.click("#share")  # stop sharing: the m-lines go inactive
    await asyncio.sleep(1.0)
    stopped = await change(meeting, screen, 2.0)
    assert stopped["bob screen"] == 0 and stopped["cy screen"] == 0, stopped
    states = [f["state"] for f in await ada.evaluate("window.harness.sent") if f["type"] == "share"]
    assert states == ["on", "paused", "on", "off"]


async def test_two_shares_started_at_once_cross_and_both_arrive(meeting: Meeting) -> None:
    # both pages offer their new m-line at the same moment: the polite side (bob) rolls its
    # offer back, answers ada's, then offers again
    await meeting.join("ada")
    await meeting.join("bob", viewport=PHONE)
    await meeting.connected()
    at = await meeting.pages["ada"].evaluate("Date.now() + 500")  # one clock for both contexts
    for page in meeting.pages.values():
        await page.evaluate(f"setTimeout(() => document.getElementById('share').click(), "
                            f"{at} - Date.now())")  # fmt: skip

    def screens(stats: dict[str, dict[str, Any]]) -> dict[str, float]:
        return {
            "ada<bob": video(stats["ada"], "bob", "screen")["framesDecoded"],
            "bob<ada": video(stats["bob"], "ada", "screen")["framesDecoded"],
        }

    async def both() -> bool:
        return min((await change(meeting, screens, 1.0)).values()) > 0

    await eventually(both)
    await meeting.connected()
    ada = meeting.pages["ada"]
    for _ in range(2):  # sharing again takes the stopped share's m-line: offers do not grow
        await ada.click("#share")
        await ada.click("#share")
    await eventually(both)
    for page in meeting.pages.values():  # the `signal` frame's data is at most 16 KiB
        assert 0 < await page.evaluate("window.harness.largestSignal") <= 16 * 1024


async def test_e2ee_frames_decode_under_the_same_key_and_none_under_another(
    meeting: Meeting, shot: Shots
) -> None:
    keys = await meeting.join("keys")
    key, wrong = await keys.evaluate("[window.harness.newKey(), window.harness.newKey()]")
    await keys.context.close()
    del meeting.pages["keys"]
    await meeting.join("ada", key=key)
    await meeting.join("bob", key=key, viewport=PHONE)
    await meeting.join("cy", key=wrong)
    await meeting.connected()
    await asyncio.sleep(2.0)

    def decoded(stats: dict[str, dict[str, Any]]) -> dict[str, float]:
        found = {f"{me}<{peer}": video(stats[me], peer)["framesDecoded"]
                 for me, peer in pairs(meeting)}  # fmt: skip
        bytes_in = {f"{me}<{peer} bytes": video(stats[me], peer)["bytesReceived"]
                    for me, peer in pairs(meeting)}  # fmt: skip
        heard = {f"{me}<{peer} energy": (stats[me][peer]["audio"] or {}).get(
                 "totalAudioEnergy", 0) for me, peer in pairs(meeting)}  # fmt: skip
        return found | bytes_in | heard

    grown = await change(meeting, decoded, 2.0)
    total = decoded(await meeting.all_stats())
    assert grown["ada<bob"] >= 10 and grown["bob<ada"] >= 10, grown
    assert grown["ada<bob energy"] > 0.02 and grown["bob<ada energy"] > 0.02, grown
    for me, peer in [("cy", "ada"), ("cy", "bob"), ("ada", "cy"), ("bob", "cy")]:
        assert total[f"{me}<{peer}"] == 0, f"{me} decoded {peer}'s frames under another key"
        assert grown[f"{me}<{peer} bytes"] > 0, f"no media reached {me} from {peer}"
        assert total[f"{me}<{peer} energy"] < 1e-4, f"{me} heard {peer} under another key"
    # a screen shared later is sealed too: bob sees it, cy does not
    await meeting.pages["ada"].click("#share")

    def screens(stats: dict[str, dict[str, Any]]) -> dict[str, float]:
        return {
            f"{me} {what}": video(stats[me], "ada", "screen")[what]
            for me in ("bob", "cy")
            for what in ("framesDecoded", "bytesReceived")
        }

    async def bob_sees_it() -> bool:
        return (await change(meeting, screens, 1.0))["bob framesDecoded"] > 0

    await eventually(bob_sees_it)
    shared = await change(meeting, screens, 2.0)
    assert shared["cy bytesReceived"] > 0, shared
    assert screens(await meeting.all_stats())["cy framesDecoded"] == 0
    await shot(meeting.pages["bob"], "e2ee-same-key")
    await shot(meeting.pages["cy"], "e2ee-wrong-key")


async def test_a_page_without_the_key_of_an_encrypted_meeting_sends_and_decodes_nothing(
    meeting: Meeting,
) -> None:
    keys = await meeting.join("keys")
    key = await keys.evaluate("window.harness.newKey()")
    await keys.context.close()
    del meeting.pages["keys"]
    await meeting.join("ada", key=key)
    await meeting.join("bob", nokey=True, viewport=PHONE)
    await meeting.connected()
    await asyncio.sleep(2.0)
    stats = await meeting.all_stats()
    assert video(stats["bob"], "ada")["bytesReceived"] > 0  # ada's sealed frames arrive
    assert video(stats["bob"], "ada")["framesDecoded"] == 0
    assert video(stats["ada"], "bob")["bytesReceived"] == 0  # nothing leaves bob unsealed
    assert (stats["ada"]["bob"]["audio"] or {}).get("bytesReceived", 0) == 0


async def test_chat_text_is_encrypted_with_a_fresh_iv_and_opens_only_with_its_key(
    meeting: Meeting,
) -> None:
    page = await meeting.join("ada")
    result = await page.evaluate(CHAT_ROUND_TRIP)
    assert result["plain"] == TEXT
    assert result["wrong"] and result["changed"]
    assert result["ivBytes"] == 12 and result["a"]["iv"] != result["b"]["iv"]
    assert result["a"]["cipher"] != result["b"]["cipher"]
    assert "the quarterly" not in result["a"]["cipher"]
    assert len(result["key"]) == 43 and set(result["key"]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")  # fmt: skip


async def test_a_recording_is_saved_on_the_device_and_nothing_leaves_the_page(
    meeting: Meeting, shot: Shots, tmp_path: Path
) -> None:
    ada = await meeting.join("ada")
    await meeting.join("bob", viewport=PHONE)
    await meeting.connected()
    await ada.click("#record")
    await asyncio.sleep(3.0)
    await shot(ada, "recording")
    async with ada.expect_download() as event:
        await ada.click("#record")
    download = await event.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    data = await asyncio.to_thread(saved.read_bytes)
    assert download.suggested_filename.endswith(".webm")
    assert len(data) > 10_000 and data.startswith(WEBM), len(data)
    # its Tracks element names a VP8 picture and an Opus sound (the mix)
    assert b"V_VP8" in data[:4096] and b"A_OPUS" in data[:4096]
    assert await ada.evaluate("window.harness.saved") == len(data)
    for who, urls in meeting.requests.items():
        foreign = [u for u in urls if not u.startswith((meeting.base, f"blob:{meeting.base}"))]
        assert foreign == [], f"{who}'s page asked another site: {foreign}"
    await shot(ada, "recording-saved")
