"""Meetings in real Chromium against a running ``fareroom serve`` (the driver:
tests/browser/meeting_driver.py): a host and participants on phones and desktops, who gets in
(the lobby, join-before-host, a password, the lock, a removal), and the host's controls over
media (mute one, mute all, a screen share paused and resumed). Media is read from getStats()."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import expect

from tests.browser.conftest import PHONE
from tests.browser.meeting_driver import (  # noqa: F401 (fixtures)
    SCREEN_SOURCE,
    Room,
    change,
    growing,
    room_fixture,
)


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

    everyone = ("Hana", "Ada", "Bob")
    grew = await growing(lambda: room.frames(everyone))
    assert len(grew) == 6, grew
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


async def test_guests_wait_for_the_host_and_a_password_the_lock_and_a_removal_keep_people_out(
    room: Room,
) -> None:
    await room.user("Hana")
    link = (await room.make_room("Hana", password="tulip 42"))["link"]

    # a wrong password is refused on the start page, with its sentence
    ada = await room.guest("Ada", link, PHONE, password="daisy")
    error = ada.locator("#join-error")
    await expect(error).to_have_text("The meeting's password is not right.")
    await expect(error).to_have_attribute("data-code", "wrong_password")
    await expect(ada.locator("#start")).to_be_visible()
    await room.shot("Ada", "wrong-password")

    # the right one: the lobby, told that the host has not come yet; nobody to connect to
    await room.ask_to_join("Ada", "tulip 42")
    await expect(ada.locator("#lobby")).to_be_visible()
    await expect(ada.locator("#lobby-text")).to_contain_text("has not started this meeting")
    bob = await room.guest("Bob", link, password="tulip 42")
    await expect(bob.locator("#lobby")).to_be_visible()
    await asyncio.sleep(1)
    assert await room.stats("Ada") == {} and await room.stats("Bob") == {}
    await room.shots_of("lobby", "Ada", "Bob")

    # the host comes: both are let in, and everyone sees everyone
    host = await room.start("Hana", link)
    for page in (ada, bob):
        await expect(page.locator("#meeting")).to_be_visible()
    everyone = ("Hana", "Ada", "Bob")
    assert len(await growing(lambda: room.frames(everyone))) == 6
    await room.shots_of("admitted")

    # locked: a newcomer with the right password is refused, with the sentence
    await host.click("#panel-people")
    await host.click("#lock")
    await expect(ada.locator("#lock-badge")).to_be_visible()
    cy = await room.guest("Cy", link, PHONE, password="tulip 42")
    await expect(cy.locator("#join-error")).to_have_text(
        "The host has locked this meeting: no one new may join.")  # fmt: skip
    await expect(cy.locator("#start")).to_be_visible()
    await room.shot("Cy", "locked-out")
    await room.shot("Hana", "locked")

    # unlocked, Cy comes in and sees and is seen
    await host.click("#lock")
    await expect(ada.locator("#lock-badge")).to_be_hidden()
    await cy.click("#join-button")
    await expect(cy.locator("#meeting")).to_be_visible()
    assert len(await growing(lambda: room.frames(("Hana", "Cy", "Ada")))) == 6

    # removed: Cy's page says so, everyone else drops Cy, and Cy's browser cannot come back
    cy_id = await room.id("Cy")
    await host.locator(f"#people-list li[data-participant='{cy_id}']").get_by_role(
        "button", name="Remove").click()  # fmt: skip
    await expect(cy.locator("#gone")).to_have_attribute("data-reason", "removed")
    await expect(cy.locator("#gone-title")).to_have_text("You were removed")
    await room.shot("Cy", "removed")
    for who in everyone:
        tiles = room.pages[who].locator(f"#tiles [data-participant='{cy_id}']")
        await expect(tiles).to_have_count(0)
        assert cy_id not in await room.stats(who)
    await cy.goto(link)
    await room.ask_to_join("Cy", "tulip 42")
    await expect(cy.locator("#join-error")).to_have_text(
        "A host removed you from this meeting; you cannot join it again.")  # fmt: skip
    await expect(cy.locator("#join-error")).to_have_attribute("data-code", "removed_from_meeting")
    await room.shot("Cy", "refused-again")


async def test_join_before_host_then_the_host_mutes_one_and_all_and_pauses_a_share(
    room: Room,
) -> None:
    await room.user("Hana")
    link = (await room.make_room("Hana", join_before_host=True))["link"]

    # join-before-host: two guests meet without the host
    ada = await room.guest("Ada", link, PHONE)
    bob = await room.guest("Bob", link)
    for page in (ada, bob):
        await expect(page.locator("#meeting")).to_be_visible()
    assert len(await growing(lambda: room.frames(("Ada", "Bob")))) == 2
    await room.shots_of("before-the-host", "Ada", "Bob")
    host = await room.start("Hana", link)
    everyone = ("Hana", "Ada", "Bob")
    assert len(await growing(lambda: room.frames(everyone))) == 6
    ids = await room.ids()

    async def mics() -> dict[str, float]:
        return {"Ada's mic": await room.mic("Ada"), "Bob's mic": await room.mic("Bob"),
                "Ada heard by Hana": await room.heard("Hana", "Ada"),
                "Bob heard by Hana": await room.heard("Hana", "Bob")}  # fmt: skip

    # the fake mics beep: energy grows while they are on
    on = await change(mics, 2.5)
    assert min(on.values()) > 0.01, on

    # the host mutes Ada: her page sends silence; Bob is still heard
    def person(who: str) -> Any:
        return host.locator(f"#people-list li[data-participant='{ids[who]}']")

    await host.click("#panel-people")
    await person("Ada").get_by_role("button", name="Mute", exact=True).click()
    await expect(ada.locator("#mic")).to_have_text("Unmute")
    await expect(ada.locator("#status")).to_contain_text("A host turned off your microphone")
    await asyncio.sleep(0.5)  # what was already on its way arrives
    muted = await change(mics, 2.5)
    assert muted["Ada's mic"] < 1e-4 and muted["Ada heard by Hana"] < 1e-4, muted
    assert muted["Bob's mic"] > 0.01, muted
    await room.shots_of("ada-muted", "Ada", "Hana")

    # the room lets participants unmute themselves: Ada does
    await ada.click("#mic")
    await expect(ada.locator("#mic")).to_have_text("Mute")
    again = await change(mics, 2.5)
    assert again["Ada's mic"] > 0.01 and again["Ada heard by Hana"] > 0.01, again

    # no self-unmuting now, then mute all: both are silent, and Bob's own unmute is refused
    await host.uncheck("#allow-unmute")
    await expect(bob.locator("#mic")).to_have_text("Mute")
    await host.click("#mute-all")
    for page in (ada, bob):
        await expect(page.locator("#mic")).to_have_text("Unmute")
    await asyncio.sleep(0.5)
    await bob.click("#mic")
    await expect(bob.locator("#status")).to_have_text(
        "A host muted you; only a host can let you speak again.")  # fmt: skip
    await expect(bob.locator("#mic")).to_have_text("Unmute")
    silent = await change(mics, 2.5)
    assert max(silent.values()) < 1e-4, silent
    await room.shots_of("all-muted-unmute-refused", "Bob", "Ada")
    # the host lets Bob speak again: his own unmute works
    await person("Bob").get_by_role("button", name="Allow unmute").click()
    await expect(bob.locator("#status")).to_contain_text("lets you turn your microphone on")
    await bob.click("#mic")
    await expect(bob.locator("#mic")).to_have_text("Mute")
    lifted = await change(mics, 2.5)
    assert lifted["Bob's mic"] > 0.01 and lifted["Bob heard by Hana"] > 0.01, lifted
    assert lifted["Ada's mic"] < 1e-4, lifted

    # Ada shares a screen (a canvas stands in for it): Bob and Hana decode its frames
    async def screens() -> dict[str, float]:
        return {f"{w} sees Ada's screen": (await room.video_in(w, "Ada", "screen"))["framesDecoded"]
                for w in ("Hana", "Bob")}  # fmt: skip

    await ada.evaluate(SCREEN_SOURCE)
    await ada.click("#share")
    await expect(ada.locator("#share")).to_have_text("Stop sharing")
    await growing(screens)
    await room.shots_of("sharing", "Bob", "Ada")

    # paused by Ada: no frame reaches the viewers; resumed: they come again
    await ada.click("#share-pause")
    await expect(ada.locator("#share-pause")).to_have_text("Resume share")
    await asyncio.sleep(0.5)
    paused = await change(screens, 2.5)
    assert max(paused.values()) == 0, paused
    await expect(person("Ada")).to_contain_text("sharing (paused)")
    await ada.click("#share-pause")
    await growing(screens)

    # paused by the host from the People panel: Ada cannot resume it herself; the host can
    await person("Ada").get_by_role("button", name="Pause share").click()
    await expect(ada.locator("#status")).to_have_text("A host paused your screen share.")
    await asyncio.sleep(0.5)
    paused = await change(screens, 2.5)
    assert max(paused.values()) == 0, paused
    await room.shots_of("share-paused-by-host", "Ada", "Hana")
    await ada.click("#share-pause")
    await expect(ada.locator("#status")).to_have_text(
        "A host paused your screen share; only a host can resume it.")  # fmt: skip
    await asyncio.sleep(0.5)
    still = await change(screens, 2.5)
    assert max(still.values()) == 0, still
    await expect(ada.locator("#share-pause")).to_have_text("Resume share")
    await person("Ada").get_by_role("button", name="Resume share").click()
    await expect(ada.locator("#status")).to_have_text("A host resumed your screen share.")
    await growing(screens)
    await room.shots_of("share-resumed", "Bob")
