"""The dashboard's paid-meeting pages through HTTP as a browser sends them (form posts with
the CSRF token): making a room paid with a price typed as people type it, the link and the
embed snippet, the registrations with one-click and partial refunds, cancelling a meeting,
marking no-shows, the notifications and their unread count; and who may."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import httpx

from fareroom.kit.clock import FrozenClock
from tests.registrations.conftest import Paid
from tests.support.pages import form_token, sign_in


def _alert(html: str) -> str:
    found = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', html, re.S)
    return html_lib.unescape(found.group(1)) if found else ""


async def _owner(paid: Paid, http: httpx.AsyncClient) -> None:
    r = await sign_in(http, paid.t.owner_email, paid.t.password)
    assert r.status_code == 303, r.text


async def _form(http: httpx.AsyncClient, room_id: str, **fields: Any) -> httpx.Response:
    page = await http.get(f"/dashboard/meetings/{room_id}/paid")
    assert page.status_code == 200, page.text
    data = {"csrf": form_token(page.text), "price": "45.00", "pricing": "single", "seats": "6",
            "closes_hours": "1", "refund_rule": "window", "refund_window_hours": "24",
            "refund_percent": "50", "notify_email": "on", "open": "on", **fields}  # fmt: skip
    return await http.post(f"/dashboard/meetings/{room_id}/paid", data=data)


async def test_an_owner_makes_a_room_paid_and_refunds_from_the_page(
    paid: Paid, http: httpx.AsyncClient
) -> None:
    room = await paid.room()
    await _owner(paid, http)
    bad = await _form(http, room["id"], price="1,00")
    assert bad.status_code == 422 and "Use a dot for decimals" in _alert(bad.text)
    assert 'value="1,00"' in bad.text  # what was typed stays in the form
    done = await _form(http, room["id"], price="1,234.50")
    assert done.status_code == 303, done.text
    page = await http.get(done.headers["location"])
    assert "Saved" in page.text and "/r/" in page.text and "embed.js" in page.text
    meeting = (await paid.t.api.get("/api/v1/paid-meetings")).json()["data"][0]
    assert (meeting["price"], meeting["refund_window_minutes"], meeting["closes_minutes"]) == (
        123_450, 24 * 60, 60)  # fmt: skip

    reg = await paid.registered(meeting["code"])
    page = await http.get(f"/dashboard/meetings/{room['id']}/paid")
    assert "Ada Lovelace" in page.text and "1,234.50 EUR" in page.text
    key = re.search(r'name="refund_key" value="(\w+)"', page.text)
    assert key
    form = {"csrf": form_token(page.text), "room_id": room["id"], "amount": "34.50",
            "reason": "Started late", "refund_key": key[1]}  # fmt: skip
    first = await http.post(f"/dashboard/registrations/{reg['id']}/refund", data=form)
    again = await http.post(f"/dashboard/registrations/{reg['id']}/refund", data=form)
    assert first.status_code == again.status_code == 303, (first.text, again.text)
    assert (await paid.payment(reg["payment_id"]))["amount_refunded"] == 3_450  # once
    assert (await paid.get(reg["id"]))["status"] == "partly_refunded"
    page = await http.get(f"/dashboard/meetings/{room['id']}/paid?status=partly_refunded")
    assert "Ada Lovelace" in page.text
    page = await http.get(f"/dashboard/meetings/{room['id']}/paid?status=refunded")
    assert "Ada Lovelace" not in page.text

    # the notification, its unread count in the header, and reading it
    page = await http.get("/dashboard/notifications")
    assert "Ada Lovelace registered" in page.text and 'id="nav-unread">1<' in page.text
    await http.post("/dashboard/notifications/read", data={"csrf": form_token(page.text)})
    page = await http.get("/dashboard/notifications")
    assert 'id="nav-unread"' not in page.text and "0 unread" in page.text


async def test_cancelling_a_meeting_and_no_shows_from_the_page(
    paid: Paid, http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    room = await paid.room(days=2)
    await _owner(paid, http)
    assert (await _form(http, room["id"], no_show_hold="on", refund_rule="always")
            ).status_code == 303  # fmt: skip
    meeting = (await paid.t.api.get("/api/v1/paid-meetings")).json()["data"][0]
    ada = await paid.registered(meeting["code"])
    bob = await paid.registered(meeting["code"], name="Bob", email="bob@example.com")
    occ = meeting["occurrences"][0]["id"]
    page = await http.get(f"/dashboard/meetings/{room['id']}/paid")
    early = await http.post(f"/dashboard/meetings/{room['id']}/paid/occurrences/{occ}/no-shows",
                            data={"csrf": form_token(page.text), "no_show": bob["id"]})  # fmt: skip
    assert early.status_code == 409 and "once the meeting is over" in _alert(early.text)
    assert "no-shows-none" in page.text and 'name="no_show"' not in page.text  # not yet
    clock.advance(days=2, hours=2)
    page = await http.get(f"/dashboard/meetings/{room['id']}/paid")  # the meeting is over
    action = f"/dashboard/meetings/{room['id']}/paid/occurrences/{occ}/no-shows"
    assert f'action="{action}"' in page.text
    assert re.findall(r'name="no_show" value="(\w+)"', page.text) == sorted([ada["id"], bob["id"]])
    done = await http.post(action, data={"csrf": form_token(page.text), "no_show": bob["id"]})
    assert done.status_code == 303, done.text
    assert (await paid.get(ada["id"]))["status"] == "attended"
    assert (await paid.get(bob["id"]))["status"] == "no_show"
    page = await http.get(f"/dashboard/meetings/{room['id']}/paid")
    assert "no-shows-none" in page.text and f'action="{action}"' not in page.text  # done


async def test_the_host_cancels_one_meeting_from_the_page(
    paid: Paid, http: httpx.AsyncClient
) -> None:
    room = await paid.room(rrule="FREQ=WEEKLY;COUNT=2")
    await _owner(paid, http)
    assert (await _form(http, room["id"], pricing="per_occurrence")).status_code == 303
    meeting = (await paid.t.api.get("/api/v1/paid-meetings")).json()["data"][0]
    occ = meeting["occurrences"][0]["id"]
    reg = await paid.registered(meeting["code"], occurrences=[occ])
    page = await http.get(f"/dashboard/meetings/{room['id']}/paid")
    r = await http.post(f"/dashboard/meetings/{room['id']}/paid/occurrences/{occ}/cancel",
                        data={"csrf": form_token(page.text)})  # fmt: skip
    assert r.status_code == 303, r.text
    assert (await paid.get(reg["id"]))["status"] == "refunded"
    page = await http.get(r.headers["location"])
    assert "registrants are refunded" in page.text and "cancelled" in page.text


async def test_an_agent_may_not_touch_another_hosts_paid_meeting(
    paid: Paid, http: httpx.AsyncClient
) -> None:
    room = await paid.room()
    meeting = await paid.meeting(room=room)
    reg = await paid.registered(meeting["code"])
    async with paid.ctx.unit_of_work() as s:
        await s.accounts.add_user(paid.t.id, email=f"sam-{paid.t.id}@ex.com", name="Sam",
                                  password="agent password 1", role="agent")  # fmt: skip
    await sign_in(http, f"sam-{paid.t.id}@ex.com", "agent password 1")
    page = await http.get(f"/dashboard/meetings/{room['id']}/paid")
    assert page.status_code == 403, page.text
    home = await http.get("/dashboard/notifications")
    r = await http.post(f"/dashboard/registrations/{reg['id']}/refund",
                        data={"csrf": form_token(home.text), "room_id": room["id"]})  # fmt: skip
    assert r.status_code == 403, r.text
    assert (await paid.payment(reg["payment_id"]))["amount_refunded"] == 0
