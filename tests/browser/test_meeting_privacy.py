"""What a meeting keeps to its people, in real Chromium against a running ``fareroom serve``
(the driver: tests/browser/meeting_driver.py): a recording made on a participant's own device
with a host's permission and never uploaded; the invite menu's links; and an end-to-end
encrypted meeting, whose key only the link's fragment carries: pages with it see and read,
a page with another key decodes no frame and reads no message, the server keeps ciphertext."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs, unquote, urlsplit

from playwright.async_api import expect
from sqlalchemy import select

from fareroom.models.meeting import MeetingMessage
from tests.browser.conftest import PHONE
from tests.browser.meeting_driver import (  # noqa: F401 (fixtures)
    Room,
    change,
    growing,
    room_fixture,
)

WEBM = b"\x1a\x45\xdf\xa3"  # an EBML header: the first bytes of every WebM file
NEW_KEY = "() => import('/static/meeting-e2ee.js').then((m) => m.newKey())"


async def invite_menu(room: Room, who: str, link: str) -> None:
    """``who``'s Invite menu: the link and the invitation copied to the clipboard, and the
    compose links (default mail, Gmail, Yahoo) carrying the link."""
    page = room.pages[who]
    await room.contexts[who].grant_permissions(["clipboard-read", "clipboard-write"],
                                               origin=room.base)  # fmt: skip
    await page.click("#invite-menu summary")
    await expect(page.locator("#invite-menu .menu")).to_be_visible()
    await room.shot(who, "invite-menu")
    await page.click("#copy-link")
    await expect(page.locator("#status")).to_have_text("Link copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == link
    await page.click("#copy-invitation")
    await expect(page.locator("#status")).to_have_text("Invitation copied.")
    invitation = await page.evaluate("navigator.clipboard.readText()")
    assert f"Join: {link}\n" in invitation and "Quarterly review" in invitation, invitation
    hrefs = {k: await page.locator(f"#mail-{k}").get_attribute("href") or ""
             for k in ("default", "gmail", "yahoo")}  # fmt: skip
    assert hrefs["default"].startswith("mailto:?"), hrefs
    assert hrefs["gmail"].startswith("https://mail.google.com/mail/?"), hrefs
    assert hrefs["yahoo"].startswith("https://compose.mail.yahoo.com/?"), hrefs
    for k, href in hrefs.items():
        body = parse_qs(urlsplit(href).query)["body"][0]
        assert f"Join: {link}\n" in body, (k, unquote(href))
    await page.click("#invite-menu summary")


async def test_a_participant_records_with_the_hosts_permission_and_nothing_is_uploaded(
    room: Room,
) -> None:
    await room.user("Hana")
    made = await room.make_room("Hana", join_before_host=True)
    link = made["link"]
    host = await room.start("Hana", link)
    ada = await room.guest("Ada", link, PHONE)
    bob = await room.guest("Bob", link)
    for page in (ada, bob):
        await expect(page.locator("#meeting")).to_be_visible()
    everyone = ("Hana", "Ada", "Bob")
    assert len(await growing(lambda: room.frames(everyone))) == 6

    # the invite menu, on the host's desktop and on Ada's phone: a room with no key
    await invite_menu(room, "Hana", link)
    await invite_menu(room, "Ada", link)

    # Ada asks; the host's People panel opens with the request; the host allows it
    await ada.click("#record")
    await expect(ada.locator("#status")).to_have_text(
        "You asked the host for permission to record."
    )
    request = host.locator("#requests .request")
    await expect(request).to_contain_text("Ada asks to record.")
    await expect(host.locator("#people")).to_be_visible()
    await room.shot("Hana", "record-request")
    await request.get_by_role("button", name="Allow").click()

    # Ada's page records: everyone sees it
    await expect(ada.locator("#record")).to_have_text("Stop recording")
    for page in (host, bob):
        await expect(page.locator("#rec-badge")).to_have_text("● Recording: Ada")
    await room.shots_of("recording", "Ada", "Bob")
    await asyncio.sleep(3)
    async with ada.expect_download() as event:
        await ada.click("#record")
    download = await event.value
    saved = room.shots / download.suggested_filename
    await download.save_as(saved)
    data = await asyncio.to_thread(saved.read_bytes)
    await asyncio.to_thread(saved.unlink)
    assert download.suggested_filename.endswith(".webm"), download.suggested_filename
    assert len(data) > 10_000 and data[:4] == WEBM, (len(data), data[:8])
    await expect(bob.locator("#rec-badge")).to_be_hidden()
    await room.shot("Ada", "recording-saved")

    # nothing carried it away: no request body, no socket frame, anywhere near its size
    sent = [(m, u, n) for m, u, n in room.bodies["Ada"] if n > 20_000 or m in ("PUT", "PATCH")]
    assert sent == [], sent
    assert max(room.frames_sent["Ada"]) < 20_000, max(room.frames_sent["Ada"])
    assert len(room.frames_sent["Ada"]) > 10  # the socket's frames were seen


async def test_an_encrypted_meeting_only_the_links_key_opens(room: Room) -> None:
    hana = await room.user("Hana")
    r = await room.t.api.put("/api/v1/meeting-preferences", json={
        "user_id": room.users["Hana"], "encrypt_meetings": True})  # fmt: skip
    assert r.status_code == 200 and r.json()["encrypt_meetings"] is True, r.text
    made = await room.make_room("Hana")
    link = made["link"]

    # the host's page makes the key and puts it in its address's fragment
    host = await room.start("Hana", link)
    await expect(host.locator("#e2ee-badge")).to_be_visible()
    found = re.search(r"#key=([A-Za-z0-9_-]{43})$", await hana.evaluate("location.href"))
    assert found, await hana.evaluate("location.href")
    key = found[1]
    keyed = f"{link}#key={key}"
    wrong = str(await host.evaluate(NEW_KEY))
    assert wrong != key

    ada = await room.guest("Ada", keyed, PHONE)
    bob = await room.guest("Bob", keyed)
    eve = await room.guest("Eve", f"{link}#key={wrong}", PHONE)
    for page in (ada, bob, eve):
        await expect(page.locator("#meeting")).to_be_visible()
        await expect(page.locator("#e2ee-badge")).to_be_visible()

    # with the key: every pair decodes; with another key: bytes arrive, no frame is decoded,
    # either way
    keyholders = ("Hana", "Ada", "Bob")
    assert len(await growing(lambda: room.frames(keyholders))) == 6

    async def eve_pairs(what: str) -> dict[str, float]:
        found = await room.frames(("Eve", *keyholders), what=what)
        return {pair: v for pair, v in found.items() if "Eve" in pair}

    await growing(lambda: eve_pairs("bytesReceived"), least=1000)
    assert max((await eve_pairs("framesDecoded")).values()) == 0
    await asyncio.sleep(1)
    assert max((await change(lambda: eve_pairs("framesDecoded"), 2.0)).values()) == 0
    await room.shots_of("encrypted", "Ada", "Eve", "Hana")

    # chat under the key: readable with it, not with another; the server keeps ciphertext
    secret = "The Q3 figures: 1,234,567 ✓"
    await ada.click("#panel-chat")
    await ada.fill("#chat-text", secret)
    await ada.press("#chat-text", "Enter")
    for page in (bob, host):
        await page.click("#panel-chat")
        await expect(page.locator("#chat-log")).to_contain_text(secret)
    await eve.click("#panel-chat")
    await expect(eve.locator("#chat-log li")).to_contain_text(
        "cannot be read without the meeting's key")  # fmt: skip
    assert secret not in await eve.locator("#chat-log").inner_text()
    await room.shots_of("encrypted-chat", "Eve", "Bob")
    async with room.ctx.unit_of_work() as s:
        rows = list(await s.session.scalars(
            select(MeetingMessage).where(MeetingMessage.room_id == made["id"])))  # fmt: skip
    assert len(rows) == 1, rows
    row = rows[0]
    assert row.text is None and row.cipher and row.iv, vars(row)
    stored = " ".join(str(v) for k, v in vars(row).items() if not k.startswith("_"))
    for piece in (secret, "Q3 figures", "1,234,567"):
        assert piece not in stored, stored

    # the invite menu's links carry the key
    await host.click("#panel-chat")
    await invite_menu(room, "Hana", keyed)
    await invite_menu(room, "Ada", keyed)
