"""A paid meeting's door in real Chromium with fake cameras: a registrant joins with the
code from their confirmation (the start page's link fills it in) and sees and hears the
host, media checked through getStats(); a second device with the same code is refused and
told why; a refunded registration's code no longer opens the door."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import expect

from tests.browser.conftest import PHONE
from tests.browser.meeting_driver import (  # noqa: F401 (fixtures)
    Room,
    growing,
    room_fixture,
)


async def _paid_room(room: Room, host: str) -> tuple[dict[str, Any], dict[str, Any]]:
    t = room.t
    r = await t.api.post("/api/v1/connect/onboarding", json={})
    assert room.ctx.sandbox is not None
    await room.ctx.sandbox.complete_onboarding(r.json()["account_id"])
    assert (await t.api.get("/api/v1/connect")).json()["status"] == "enabled"
    start = datetime.now(UTC) + timedelta(minutes=10)  # its code admits from 30 minutes before
    made = await room.make_room(host, kind="scheduled", join_before_host=True, schedule={
        "starts_at": start.isoformat(), "duration_minutes": 60,
        "time_zone": "Europe/Paris"})  # fmt: skip
    paid = await t.api.put(f"/api/v1/meeting-rooms/{made['id']}/paid", json={
        "price": 3_000, "currency": "EUR", "pricing": "single", "seats": 4})  # fmt: skip
    assert paid.status_code == 200, paid.text
    return made, paid.json()


async def _register(room: Room, code: str, name: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=room.base) as http:
        token = (await http.post("/sandbox/tokens", json={
            "number": "4242424242424242", "exp_month": 12, "exp_year": 2035,
            "cvc": "123"})).json()["id"]  # fmt: skip
        r = await http.post(f"/api/v1/register/{code}/registrations", json={
            "name": name, "email": f"{name.lower()}@example.com", "terms": True,
            "card_token": token, "request_key": uuid.uuid4().hex})  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_a_registrant_joins_with_their_code_and_meets_the_host(room: Room) -> None:
    await room.user("Hana")
    made, paid = await _paid_room(room, "Hana")
    ada = await _register(room, paid["code"], "Ada")
    code = ada["codes"][0]["code"]

    page = await room.page("Ada", PHONE)
    await page.goto(f"{made['link']}?code={code}")
    await expect(page.locator("#join-code")).to_have_value(ada["codes"][0]["display"])
    await expect(page.locator("#join-name")).to_have_count(0)  # the registration names her
    await room.shot("Ada", "start-page-with-code")
    await page.click("#join-button")
    await expect(page.locator("#meeting")).to_be_visible()
    host = await room.start("Hana", made["link"])
    await expect(host.locator(".tile", has_text="Ada")).to_be_visible()
    assert len(await growing(lambda: room.frames(("Hana", "Ada")))) == 2
    await room.shots_of("in-the-paid-meeting", "Ada", "Hana")

    # the same code on another device, while Ada is in: refused, and told why
    other = await room.page("Eve", PHONE)
    await other.goto(made["link"])
    await other.fill("#join-code", ada["codes"][0]["display"])
    await other.click("#join-button")
    await expect(other.locator("#join-error")).to_have_attribute("data-code", "code_in_use")
    await expect(other.locator("#join-error")).to_contain_text("one person in at a time")
    await room.shot("Eve", "code-in-use")

    # a refunded registration's code opens nothing
    bob = await _register(room, paid["code"], "Bob")
    r = await room.t.api.post(f"/api/v1/registrations/{bob['id']}/refunds", json={})
    assert r.status_code == 200 and r.json()["status"] == "refunded", r.text
    late = await room.page("Bob", PHONE)
    await late.goto(f"{made['link']}?code={bob['codes'][0]['code']}")
    await late.click("#join-button")
    await expect(late.locator("#join-error")).to_have_attribute("data-code", "code_revoked")
    await room.shot("Bob", "code-revoked")
