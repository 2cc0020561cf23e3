"""Bad input to paid meetings gets a clear 4xx with a code and changes nothing: no seat
taken, no charge, no other business's rows seen or touched."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fareroom.kit.clock import FrozenClock
from tests.conftest import Tenant
from tests.registrations.conftest import DECLINED, Paid


async def _unchanged(paid: Paid, code: str, seats_left: int) -> None:
    page = await paid.page(code)
    assert page["occurrences"][0]["seats_left"] == seats_left
    assert paid.ctx.sandbox is not None
    assert await paid.ctx.sandbox.charges(business_id=paid.t.id) == []


async def test_a_meeting_is_paid_only_once_connect_takes_charges(tenant: Tenant) -> None:
    r = await tenant.api.post("/api/v1/meeting-rooms", json={
        "host_id": tenant.owner_id, "topic": "Lesson", "kind": "scheduled",
        "schedule": {"starts_at": "2030-01-01T10:00:00+00:00", "duration_minutes": 60,
                     "time_zone": "UTC"}})  # fmt: skip
    assert r.status_code == 201, r.text
    made = await tenant.api.put(f"/api/v1/meeting-rooms/{r.json()['id']}/paid", json={
        "price": 5_000, "currency": "EUR", "pricing": "single", "seats": 3})  # fmt: skip
    assert made.status_code == 409 and made.json()["code"] == "connect_required", made.text
    assert "Connect Stripe" in made.json()["detail"]
    listed = (await tenant.api.get("/api/v1/paid-meetings")).json()
    assert listed["data"] == []


@pytest.mark.parametrize(("fields", "status", "code"), [
    ({"price": 0}, 422, "amount_too_small"),
    ({"price": 49}, 422, "amount_too_small"),
    ({"price": 10**12}, 422, "amount_too_large"),
    ({"price": -5}, 422, "amount_too_small"),
    ({"price": 12.5}, 422, "invalid_request"),
    ({"price": "5000"}, 422, "invalid_request"),
    ({"currency": "USD"}, 422, "currency_mismatch"),
    ({"currency": "XYZ"}, 422, "unsupported_currency"),
    ({"pricing": "per_occurrence"}, 422, "invalid_pricing"),
    ({"seats": 0}, 422, "invalid_seats"),
    ({"seats": 10**9}, 422, "invalid_seats"),
    ({"refund_rule": "window", "refund_window_minutes": 0}, 422, "invalid_refund_policy"),
    ({"refund_rule": "window", "refund_window_minutes": 60, "refund_percent": 101}, 422,
     "invalid_refund_policy"),
])  # fmt: skip
async def test_absurd_settings_are_refused(paid: Paid, fields: dict[str, Any], status: int,
                                           code: str) -> None:  # fmt: skip
    room = await paid.room()
    r = await paid.make_paid(room["id"], **fields)
    assert r.status_code == status, r.text
    got = r.json()
    assert got["code"] == code and got["detail"], got
    assert (await paid.t.api.get("/api/v1/paid-meetings")).json()["data"] == []


async def test_a_whole_series_needs_an_end_and_holds_are_not_for_series(paid: Paid) -> None:
    endless = await paid.room(rrule="FREQ=WEEKLY")
    r = await paid.make_paid(endless["id"], pricing="per_series")
    assert r.status_code == 422 and r.json()["code"] == "series_without_end"
    ends = await paid.room(rrule="FREQ=WEEKLY;COUNT=3")
    r = await paid.make_paid(ends["id"], pricing="per_series", no_show_hold=True)
    assert r.status_code == 422 and r.json()["code"] == "invalid_pricing"


async def test_registering_wrongly_is_refused_and_takes_nothing(
    paid: Paid, clock: FrozenClock
) -> None:
    meeting = await paid.meeting(rrule="FREQ=DAILY;COUNT=3", pricing="per_occurrence", days=1)
    code, occs = meeting["code"], meeting["occurrences"]
    cases = [
        ({"occurrences": []}, 422, "occurrences_required"),
        ({"occurrences": ["occ_nope"]}, 404, "occurrence_not_found"),
        ({"occurrences": [occs[0]["id"], occs[0]["id"]]}, 422, "invalid_occurrences"),
        ({"terms": False}, 422, "invalid_request"),
        ({"email": "not-an-email"}, 422, "invalid_request"),
        ({"name": "   "}, 422, "invalid_request"),
        ({"name": "x" * 101}, 422, "invalid_request"),
    ]
    for body, status, want in cases:
        r = await paid.register(code, **body)
        assert (r.status_code, r.json()["code"]) == (status, want), (body, r.text)
    unknown = await paid.register("nosuchcode", occurrences=[occs[0]["id"]])
    assert unknown.status_code == 404 and unknown.json()["code"] == "paid_meeting_not_found"
    # the first meeting has begun: it takes nobody now
    clock.advance(days=1, minutes=5)
    r = await paid.register(code, occurrences=[occs[0]["id"]])
    assert r.status_code == 409 and r.json()["code"] == "registration_closed", r.text
    # an ended one is gone from the page altogether
    clock.advance(hours=2)
    r = await paid.register(code, occurrences=[occs[0]["id"]])
    assert r.status_code == 404 and r.json()["code"] == "occurrence_not_found", r.text
    await _unchanged(paid, code, 5)


async def test_a_closed_meeting_takes_no_registration(paid: Paid) -> None:
    meeting = await paid.meeting(open=False)
    r = await paid.register(meeting["code"])
    assert r.status_code == 409 and r.json()["code"] == "registration_closed"
    assert "closed" in r.json()["detail"]
    await _unchanged(paid, meeting["code"], 5)


async def test_registration_closes_its_minutes_before_the_start(
    paid: Paid, clock: FrozenClock
) -> None:
    meeting = await paid.meeting(days=1, closes_minutes=120)
    clock.advance(days=1, minutes=-119)
    r = await paid.register(meeting["code"])
    assert r.status_code == 409 and r.json()["code"] == "registration_closed", r.text
    await _unchanged(paid, meeting["code"], 5)


async def test_a_forged_registrant_token_pays_and_cancels_nothing(paid: Paid) -> None:
    meeting = await paid.meeting()
    refused = await paid.register(meeting["code"], card=DECLINED)
    reg = refused.json()["registration"]
    forged = {**reg, "token": f"{reg['id']}.forgedforgedforgedforged"}
    assert (await paid.pay(meeting["code"], forged)).json()["code"] == "registration_token_invalid"
    r = await paid.cancel(meeting["code"], forged)
    assert r.status_code == 403 and r.json()["code"] == "registration_token_invalid"
    assert (await paid.get(reg["id"]))["status"] == "pending"


async def test_another_business_sees_and_touches_nothing(paid: Paid, other_tenant: Tenant) -> None:
    meeting = await paid.meeting()
    reg = await paid.registered(meeting["code"])
    occ = meeting["occurrences"][0]["id"]
    them = other_tenant.api
    for r in (
        await them.get(f"/api/v1/registrations/{reg['id']}"),
        await them.post(f"/api/v1/registrations/{reg['id']}/refunds", json={}),
        await them.get(f"/api/v1/paid-meetings/{meeting['id']}"),
        await them.post(f"/api/v1/paid-meetings/{meeting['id']}/occurrences/{occ}/cancel"),
        await them.put(f"/api/v1/meeting-rooms/{meeting['room_id']}/paid", json={
            "price": 5_000, "currency": "EUR", "pricing": "single", "seats": 3}),
    ):  # fmt: skip
        assert r.status_code == 404, r.text
    assert (await them.get("/api/v1/registrations")).json()["data"] == []
    got = await paid.get(reg["id"])
    assert (
        got["status"] == "paid" and (await paid.payment(reg["payment_id"]))["amount_refunded"] == 0
    )


async def test_a_code_cancelled_twice_refunds_once(paid: Paid, clock: FrozenClock) -> None:
    meeting = await paid.meeting()
    reg = await paid.registered(meeting["code"])
    first = await paid.cancel(meeting["code"], reg)
    assert first.status_code == 200
    again = await paid.cancel(meeting["code"], reg)
    assert again.status_code == 409 and again.json()["code"] == "registration_not_cancellable"
    assert (await paid.payment(reg["payment_id"]))["amount_refunded"] == 5_000
    clock.advance(timedelta(seconds=1))
