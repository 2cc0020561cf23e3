"""A paid meeting's registration in a real browser: from the business's own website (another
origin) through the embed's Register button to the registration page, the payment, the
confirmation with the code and the calendar file, the mail; a refused card and another
card; a per-occurrence series and a per-series registration; cancelling from the mail's
link; a no-show fee captured while the others' holds are released. Phone and desktop, with
screenshots at each step."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import httpx
from playwright.async_api import Page, expect
from sqlalchemy import select

from fareroom.kit.db import transaction
from fareroom.models.meeting import MeetingRoom
from fareroom.models.registration import Occurrence
from tests.browser.conftest import DESKTOP, PHONE, Pages, Shop
from tests.support.smtp import SmtpInbox


async def _paid_meeting(pages: Pages, *, rrule: str | None = None, days: float = 3,
                        **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A paid meeting of the business, its connected account enabled (the server's clock is
    the machine's, so its times are from now)."""
    t = pages.t
    r = await t.api.post("/api/v1/connect/onboarding", json={})
    assert pages.ctx.sandbox is not None
    await pages.ctx.sandbox.complete_onboarding(r.json()["account_id"])
    assert (await t.api.get("/api/v1/connect")).json()["status"] == "enabled"
    start = (datetime.now(UTC) + timedelta(days=days)).replace(second=0, microsecond=0)
    room = await t.api.post("/api/v1/meeting-rooms", json={
        "host_id": t.owner_id, "topic": "Wheel-throwing for beginners", "kind": "scheduled",
        "notes": "Bring an apron.",
        "schedule": {"starts_at": start.isoformat(), "duration_minutes": 90,
                     "time_zone": "Europe/Berlin", "rrule": rrule}})  # fmt: skip
    assert room.status_code == 201, room.text
    body = {"price": 4_500, "currency": "EUR", "pricing": "single", "seats": 6,
            "refund_rule": "window", "refund_window_minutes": 24 * 60, **fields}  # fmt: skip
    made = await t.api.put(f"/api/v1/meeting-rooms/{room.json()['id']}/paid", json=body)
    assert made.status_code == 200, made.text
    return {**made.json(), "room_code": room.json()["code"]}


async def _fill(page: Page, *, name: str, email: str, number: str) -> None:
    await page.fill("#reg-name", name)
    await page.fill("#reg-email", email)
    await page.fill("#card-box input[name=number]", number)
    await page.fill("#card-box input[name=exp]", "12/35")
    await page.fill("#card-box input[name=cvc]", "123")
    await page.check("#reg-terms")


async def _mail(smtp: SmtpInbox, to: str) -> Message:
    async with asyncio.timeout(15):  # the server's worker sends it
        while True:
            found = [m for m in smtp.messages if m["To"] == to]
            if found:
                return found[-1]
            await asyncio.sleep(0.2)


def _text(mail: Message) -> str:
    for part in mail.walk():
        if part.get_content_type() == "text/plain":
            return str(part.get_payload(decode=True).decode())  # type: ignore[union-attr]
    return ""


async def test_from_the_business_site_to_a_paid_registration_with_code_calendar_and_mail(
    pages: Pages,
    shop: Shop,
    smtp: SmtpInbox,
) -> None:
    meeting = await _paid_meeting(pages)
    shop.html = (f"<html><body><h1>Pottery studio</h1><p>Our next class: "
                 f'<script src="{pages.base}/r/{meeting["code"]}/embed.js" async></script>'
                 "</p></body></html>").encode()  # fmt: skip
    site = await (await pages.context(PHONE)).new_page()
    await site.goto(f"{shop.origin}/")
    button = site.get_by_role("button", name="Register: Wheel-throwing for beginners")
    await expect(button).to_be_visible()
    await pages.shot(site, "business-site")
    async with site.expect_popup() as opened:
        await button.click()
    page = await opened.value
    await page.set_viewport_size(PHONE)
    await expect(page.locator("#topic")).to_have_text("Wheel-throwing for beginners")
    await expect(page.locator("#price")).to_have_text("45.00 EUR")
    await expect(page.locator("#policy")).to_contain_text("Cancel at least 1 day before the start")
    await expect(page.locator(".occurrence .seats")).to_have_text("6 seats left")
    await pages.shot(page, "registration-page")

    # a declined card: nothing paid, the form stays, another card pays the same registration
    email = f"ada-{pages.t.id}@example.com"
    await _fill(page, name="Ada Lovelace", email=email, number="4000000000000002")
    await page.click("#reg-pay")
    await expect(page.locator("#reg-error")).to_contain_text("declined")
    await pages.shot(page, "card-declined")
    await page.fill("#card-box input[name=number]", "4242 4242 4242 4242")
    await page.click("#reg-pay")
    await expect(page.locator("#confirmation")).to_be_visible()
    code = (await page.locator("#conf-codes .code").first.text_content() or "").strip()
    assert re.fullmatch(r"[a-z0-9]{3}-[a-z0-9]{4}-[a-z0-9]{3}", code), code
    await expect(page.locator("#conf-status")).to_have_text("You paid 45.00 EUR.")
    await pages.shot(page, "confirmation")

    # a reload shows the same confirmation, nothing paid twice
    await page.reload()
    await expect(page.locator("#confirmation")).to_be_visible()
    await expect(page.locator("#conf-codes .code").first).to_have_text(code)
    regs = (await pages.t.api.get("/api/v1/registrations")).json()["data"]
    assert [(r["status"], r["amount"]) for r in regs] == [("paid", 4_500)]

    # the calendar file, and the start page the code's link opens with the code in it
    async with page.expect_download() as got:
        await page.click("#conf-calendar")
    ics = (await (await got.value).path()).read_text()
    assert "BEGIN:VEVENT" in ics and code in ics and "Europe/Berlin" in ics
    await page.click("#conf-codes a")
    await expect(page.locator("#join-code")).to_have_value(code)
    await pages.shot(page, "start-page-with-code")

    mail = await _mail(smtp, email)
    text = _text(mail)
    assert code in text and "45.00 EUR" in text and "/cancel?registration=" in text
    assert any(p.get_content_type() == "text/calendar" for p in mail.walk())

    # the host's notification, with the unread count in the header, and the registrations
    host = await pages.sign_in(pages.t.owner_email, pages.t.password, viewport=PHONE)
    await expect(host.locator("#nav-unread")).to_have_text("1")
    await host.click("#nav-notifications")
    await expect(host.locator("#notification-list li").first).to_contain_text(
        "Ada Lovelace registered")  # fmt: skip
    await pages.shot(host, "host-notifications")
    await host.goto(f"{pages.base}/dashboard/meetings/{meeting['room_id']}/paid")
    await expect(host.locator("#registration-table tbody tr")).to_have_count(1)
    await expect(host.locator("#registration-table .reg-status")).to_have_text("paid")
    await pages.shot(host, "host-registrations")
    await host.set_viewport_size(DESKTOP)
    await pages.shot(host, "host-registrations")

    # the mail's cancel link: inside the 24-hour window, in full
    cancel = re.search(r"Cancel: (\S+)", text)
    assert cancel
    desk = await (await pages.context(DESKTOP)).new_page()
    await desk.goto(cancel[1])
    await expect(desk.locator("#cancel-back")).to_contain_text("45.00 EUR is refunded")
    await pages.shot(desk, "cancel-page")
    await desk.click("#cancel-button")
    await expect(desk.locator("#cancel-done")).to_contain_text("Cancelled: 45.00 EUR")
    await expect(desk.locator("#cancel-status")).to_have_text("cancelled")
    await pages.shot(desk, "cancelled")
    payment = (await pages.t.api.get(f"/api/v1/payments/{regs[0]['payment_id']}")).json()
    assert payment["amount_refunded"] == 4_500


async def test_a_per_occurrence_series_on_a_desktop(pages: Pages) -> None:
    meeting = await _paid_meeting(pages, rrule="FREQ=WEEKLY;COUNT=4", pricing="per_occurrence")
    page = await (await pages.context(DESKTOP)).new_page()
    await page.goto(f"{pages.base}/r/{meeting['code']}")
    boxes = page.locator("input[name=occurrence]")
    await expect(boxes).to_have_count(4)
    await boxes.nth(0).check()
    await boxes.nth(2).check()
    await expect(page.locator("#reg-total")).to_have_text("90.00 EUR")
    await _fill(page, name="Bob", email=f"bob-{pages.t.id}@example.com",
                number="4242424242424242")  # fmt: skip
    await pages.shot(page, "series-picked")
    await page.click("#reg-pay")
    await expect(page.locator("#conf-codes li")).to_have_count(2)
    await pages.shot(page, "series-confirmation")
    # read from the server the page talks to (its clock is the machine's; the suite's
    # in-process app runs on the frozen clock other tests move)
    async with httpx.AsyncClient(base_url=pages.base) as http:
        found = (await http.get(f"/api/v1/register/{meeting['code']}")).json()
    assert [o["seats_left"] for o in found["occurrences"]] == [5, 6, 5, 6]


async def test_a_per_series_registration_on_a_phone(pages: Pages) -> None:
    meeting = await _paid_meeting(pages, rrule="FREQ=WEEKLY;COUNT=3", pricing="per_series",
                                  price=12_000)  # fmt: skip
    page = await (await pages.context(PHONE)).new_page()
    await page.goto(f"{pages.base}/r/{meeting['code']}")
    await expect(page.locator("#occurrence-list .occurrence")).to_have_count(3)
    await expect(page.locator("input[name=occurrence]")).to_have_count(0)  # all, not picked
    await expect(page.locator("#reg-total")).to_have_text("120.00 EUR")
    await _fill(page, name="Cleo", email=f"cleo-{pages.t.id}@example.com",
                number="4242424242424242")  # fmt: skip
    await pages.shot(page, "series-form")
    await page.click("#reg-pay")
    await expect(page.locator("#conf-status")).to_have_text("You paid 120.00 EUR.")
    await expect(page.locator("#conf-codes li")).to_have_count(1)  # one code, every meeting
    await expect(page.locator("#conf-codes li")).to_contain_text("every meeting of the series")
    await pages.shot(page, "series-confirmation")
    async with page.expect_download() as got:
        await page.click("#conf-calendar")
    ics = (await (await got.value).path()).read_text()
    assert "RRULE:FREQ=WEEKLY;COUNT=3" in ics and ics.count("BEGIN:VEVENT") == 1
    async with httpx.AsyncClient(base_url=pages.base) as http:
        found = (await http.get(f"/api/v1/register/{meeting['code']}")).json()
    assert [o["seats_left"] for o in found["occurrences"]] == [5, 5, 5]  # a seat in each


async def test_a_no_show_fee_is_captured_and_the_others_holds_released(pages: Pages) -> None:
    """Two registrants' cards held; after the meeting the host ticks the one who did not
    come. The server runs on the machine's clock, so "after the meeting" is made by moving
    the meeting's time three days back in the shared database, as if they had gone by."""
    meeting = await _paid_meeting(pages, days=2, no_show_hold=True, price=2_000,
                                  refund_rule="always")  # fmt: skip
    regs: dict[str, str] = {}
    for name, viewport in (("Ada", PHONE), ("Bob", DESKTOP)):
        page = await (await pages.context(viewport)).new_page()
        await page.goto(f"{pages.base}/r/{meeting['code']}")
        await expect(page.locator("#reg-pay")).to_have_text("Hold 20.00 EUR")
        await _fill(page, name=name, email=f"{name.lower()}-{pages.t.id}@example.com",
                    number="4242424242424242")  # fmt: skip
        await page.click("#reg-pay")
        await expect(page.locator("#conf-status")).to_have_text(
            "20.00 EUR is held on your card; it is charged only if you do not come.")  # fmt: skip
        await pages.shot(page, f"held-{name.lower()}")
        regs[name] = str(
            await page.evaluate(
                f"JSON.parse(sessionStorage.getItem('fareroom.registration.{meeting['code']}')).id"
            )
        )
    host = await pages.sign_in(pages.t.owner_email, pages.t.password)
    paid_page = f"{pages.base}/dashboard/meetings/{meeting['room_id']}/paid"
    await host.goto(paid_page)
    await expect(host.locator("#no-shows-none")).to_be_visible()  # not over yet

    back = timedelta(days=3)
    async with transaction(pages.ctx.sessions) as session:
        room = await session.get(MeetingRoom, meeting["room_id"])
        assert room is not None and room.starts_at is not None
        room.starts_at -= back
        occurrences = select(Occurrence).where(Occurrence.paid_meeting_id == meeting["id"])
        for occurrence in (await session.scalars(occurrences)).all():
            occurrence.starts_at -= back

    await host.goto(paid_page)
    form = host.locator("form.no-shows")
    await expect(form.locator("input[name=no_show]")).to_have_count(2)
    await form.get_by_label("Bob did not come").check()
    await pages.shot(host, "no-shows-ticked")
    await form.get_by_role("button").click()
    await expect(host.locator(".notice")).to_contain_text("the no-shows' fees are captured")
    for name, status in (("Ada", "attended"), ("Bob", "no show")):
        row = host.locator(f'#registration-table tr[data-id="{regs[name]}"]')
        await expect(row.locator(".reg-status")).to_have_text(status)
    await expect(host.locator("form.no-shows")).to_have_count(0)
    await pages.shot(host, "no-shows-marked")
    await host.set_viewport_size(PHONE)
    await pages.shot(host, "no-shows-marked")
    payments = {}
    for name, reg_id in regs.items():
        reg = (await pages.t.api.get(f"/api/v1/registrations/{reg_id}")).json()
        pay = (await pages.t.api.get(f"/api/v1/payments/{reg['payment_id']}")).json()
        payments[name] = (pay["status"], pay["amount_captured"])
    assert payments == {"Ada": ("canceled", 0), "Bob": ("succeeded", 2_000)}
