"""Paid meetings as stories on the frozen clock, through the API: exact amounts, fees, ledger
balances (``/api/v1/balance``) and registration states. The sandbox's processing fee is
2.9 % + 0.30 and the platform keeps 10 %: a 50.00 seat nets the business
50.00 − 5.00 − 1.75 = 43.25. Every test's business is reconciled with the gateway when it
ends (tests/conftest.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from fareroom.kit.clock import FrozenClock
from fareroom.kit.errors import ValidationFailed
from fareroom.mail.outbox import Outbox
from tests.registrations.conftest import DECLINED, NEEDS_AUTH, Paid

PRICE = 5_000
NET = 4_325  # 5000 − 500 platform fee − (145 + 30) processing fee


async def test_a_registrant_pays_gets_a_code_and_the_host_a_notification(paid: Paid) -> None:
    meeting = await paid.meeting()
    assert meeting["url"].endswith(f"/r/{meeting['code']}") and meeting["warning"] is None
    [occ] = meeting["occurrences"]
    assert occ["seats_left"] == 5 and occ["open"] is True
    reg = await paid.registered(meeting["code"])
    assert reg["status"] == "paid" and reg["amount"] == PRICE and reg["token"]
    [code] = reg["codes"]
    assert code["occurrence_id"] == occ["id"] and not code["revoked"]
    assert (await paid.page(meeting["code"]))["occurrences"][0]["seats_left"] == 4
    payment = await paid.payment(reg["payment_id"])
    assert payment["amount_captured"] == PRICE and payment["platform_fee"] == 500
    assert payment["processing_fee"] == 175
    balance = await paid.t.balance()
    assert (balance["gross"], balance["net"], balance["available"]) == (PRICE, NET, NET)
    notes = (await paid.t.api.get(f"/api/v1/users/{paid.t.owner_id}/notifications")).json()
    assert notes["unread"] == 1
    assert notes["data"][0]["title"] == "Ada Lovelace registered"
    assert "ada@example.com" in notes["data"][0]["body"] and "50.00" in notes["data"][0]["body"]
    r = await paid.t.api.post(f"/api/v1/users/{paid.t.owner_id}/notifications/read", json={})
    assert r.status_code == 200 and r.json() == {"unread": 0}, r.text
    notes = (await paid.t.api.get(f"/api/v1/users/{paid.t.owner_id}/notifications")).json()
    assert notes["unread"] == 0 and notes["data"][0]["read"] is True


async def test_paying_twice_for_one_registration_charges_once(paid: Paid) -> None:
    meeting = await paid.meeting()
    reg = await paid.pending(meeting["code"])
    first, second = await paid.pay(meeting["code"], reg), await paid.pay(meeting["code"], reg)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["payment_id"] == second.json()["payment_id"]
    assert first.json()["codes"] == second.json()["codes"]
    balance = await paid.t.balance()
    assert balance["gross"] == PRICE


async def test_the_same_request_key_is_the_same_registration_and_one_charge(
    paid: Paid,
) -> None:
    """A page whose answer was lost sends its registration again: same key, same one."""
    meeting = await paid.meeting()
    first = await paid.registered(meeting["code"], request_key="k" * 30)
    again = await paid.registered(meeting["code"], request_key="k" * 30)
    assert again["id"] == first["id"] and again["token"] == first["token"]
    assert again["payment_id"] == first["payment_id"]
    assert (await paid.page(meeting["code"]))["occurrences"][0]["seats_left"] == 4
    assert (await paid.t.balance())["gross"] == PRICE


async def test_a_lost_charge_answer_and_a_new_card_token_charge_once(paid: Paid) -> None:
    """The charge went through but its answer was lost (the transaction rolled back); the
    page pays again with a new token: attempt 1 is charged again under its own key, with
    the card it was asked with, and the gateway answers as the first time."""
    assert paid.ctx.sandbox is not None
    meeting = await paid.meeting()
    reg = await paid.pending(meeting["code"])
    paid.ctx.sandbox.inject_fault("create_charge", "lost_response")
    lost = await paid.pay(meeting["code"], reg)
    assert lost.status_code >= 500 or lost.json()["code"] in (
        "gateway_timeout",
        "gateway_unavailable",
    ), lost.text
    again = await paid.pay(meeting["code"], reg)
    assert again.status_code == 200 and again.json()["status"] == "paid", again.text
    charges = await paid.ctx.sandbox.charges(business_id=paid.t.id)
    assert len(charges) == 1, charges
    assert (await paid.t.balance())["gross"] == PRICE


@pytest.mark.parametrize("card", [DECLINED, NEEDS_AUTH])
async def test_a_refused_card_leaves_nothing_paid_and_no_seat_taken(paid: Paid, card: str) -> None:
    meeting = await paid.meeting(seats=1)
    r = await paid.register(meeting["code"], card=card)
    assert r.status_code == 402, r.text
    problem = r.json()
    assert problem["code"] in ("card_declined", "authentication_required"), problem
    reg = problem["registration"]
    got = await paid.get(reg["id"])
    assert got["status"] == "pending" and got["payment_id"] is None and got["codes"] == []
    assert got["failure"]
    # the one seat is free: someone else takes it
    assert (await paid.page(meeting["code"]))["occurrences"][0]["seats_left"] == 1
    other = await paid.registered(meeting["code"], name="Bob", email="bob@example.com")
    assert other["status"] == "paid"
    # paying again with a good card: sold out now, refused before any charge
    again = await paid.pay(meeting["code"], reg)
    assert again.status_code == 409 and again.json()["code"] == "sold_out", again.text
    assert (await paid.t.balance())["gross"] == PRICE


async def test_a_second_card_after_a_refused_one_pays_a_new_attempt(paid: Paid) -> None:
    meeting = await paid.meeting()
    r = await paid.register(meeting["code"], card=DECLINED)
    reg = r.json()["registration"]
    ok = await paid.pay(meeting["code"], reg)
    assert ok.status_code == 200 and ok.json()["status"] == "paid", ok.text
    assert ok.json()["payment_id"].endswith("_2")
    assert (await paid.t.balance())["gross"] == PRICE


async def test_a_pending_registration_expires_and_frees_its_seat(
    paid: Paid, clock: FrozenClock
) -> None:
    meeting = await paid.meeting(seats=1)
    reg = await paid.pending(meeting["code"])
    full = await paid.register(meeting["code"], name="Bob", email="bob@example.com")
    assert full.status_code == 409 and full.json()["code"] == "sold_out"
    clock.advance(minutes=31)
    assert await paid.ctx.expire_registrations() >= 1  # the worker's sweep
    assert (await paid.get(reg["id"]))["status"] == "expired"
    late = await paid.pay(meeting["code"], reg)
    assert late.status_code == 409 and late.json()["code"] == "registration_expired"
    bob = await paid.registered(meeting["code"], name="Bob", email="bob@example.com")
    assert bob["status"] == "paid"


@pytest.mark.parametrize(("hours_before", "back"), [
    (48, 2_500),  # just inside a 48-hour window: 50 % back
    (48 - 1 / 60, 0),  # a minute too late: nothing
])  # fmt: skip
async def test_cancelling_by_the_policy_at_the_window_boundary(
    paid: Paid, clock: FrozenClock, hours_before: float, back: int
) -> None:
    meeting = await paid.meeting(days=5, refund_rule="window", refund_window_minutes=48 * 60,
                                 refund_percent=50)  # fmt: skip
    assert meeting["refund_policy"] == (
        "Cancel at least 2 days before the start for 50 % back; no refund after."
    )
    reg = await paid.registered(meeting["code"])
    start = paid.clock.now() + timedelta(days=5)
    clock.set(start - timedelta(hours=hours_before))
    r = await paid.cancel(meeting["code"], reg)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["refunded"] == back
    assert all(c["revoked"] for c in r.json()["codes"])
    payment = await paid.payment(reg["payment_id"])
    assert payment["amount_refunded"] == back
    balance = await paid.t.balance()
    assert balance["refunds"] == back and balance["available"] == NET - back
    assert (await paid.page(meeting["code"]))["occurrences"][0]["seats_left"] == 5


@pytest.mark.parametrize(("rule", "back"), [("always", PRICE), ("never", 0)])
async def test_always_and_never(paid: Paid, rule: str, back: int) -> None:
    meeting = await paid.meeting(refund_rule=rule)
    reg = await paid.registered(meeting["code"])
    r = await paid.cancel(meeting["code"], reg)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    assert (await paid.payment(reg["payment_id"]))["amount_refunded"] == back


async def test_one_click_refunds_partial_then_full(paid: Paid) -> None:
    meeting = await paid.meeting()
    reg = await paid.registered(meeting["code"])
    url = f"/api/v1/registrations/{reg['id']}/refunds"
    part = await paid.t.api.post(url, json={"amount": 1_200, "reason": "Late start"},
                                 headers={"Idempotency-Key": "k1"})  # fmt: skip
    again = await paid.t.api.post(url, json={"amount": 1_200, "reason": "Late start"},
                                  headers={"Idempotency-Key": "k1"})  # fmt: skip
    assert part.status_code == again.status_code == 200, part.text
    assert part.json()["status"] == "partly_refunded" and part.json()["refunded"] == 1_200
    assert not part.json()["codes"][0]["revoked"]  # still comes
    rest = await paid.t.api.post(url, json={"reason": "Cancelled on request"})
    assert rest.status_code == 200 and rest.json()["status"] == "refunded", rest.text
    assert rest.json()["codes"][0]["revoked"]
    assert (await paid.payment(reg["payment_id"]))["amount_refunded"] == PRICE
    balance = await paid.t.balance()
    assert balance["refunds"] == PRICE and balance["available"] == NET - PRICE
    over = await paid.t.api.post(url, json={"amount": 1})
    assert over.status_code == 409, over.text


async def test_a_per_occurrence_series_and_the_host_cancelling_one_meeting(paid: Paid) -> None:
    meeting = await paid.meeting(rrule="FREQ=WEEKLY;COUNT=4", pricing="per_occurrence")
    occs = meeting["occurrences"]
    assert len(occs) == 4
    ada = await paid.registered(meeting["code"], occurrences=[occs[0]["id"], occs[2]["id"]])
    assert ada["amount"] == 2 * PRICE and len(ada["codes"]) == 2
    bob = await paid.registered(meeting["code"], name="Bob", email="bob@example.com",
                                occurrences=[occs[2]["id"]])  # fmt: skip
    r = await paid.t.api.post(f"/api/v1/paid-meetings/{meeting['id']}/occurrences/"
                              f"{occs[2]['id']}/cancel")  # fmt: skip
    assert r.status_code == 200 and r.json()["cancelled"] is True, r.text
    ada_now, bob_now = await paid.get(ada["id"]), await paid.get(bob["id"])
    assert ada_now["status"] == "partly_refunded" and bob_now["status"] == "refunded"
    assert (await paid.payment(ada["payment_id"]))["amount_refunded"] == PRICE
    assert (await paid.payment(bob["payment_id"]))["amount_refunded"] == PRICE
    revoked = {c["occurrence_id"]: c["revoked"] for c in ada_now["codes"]}
    assert revoked == {occs[0]["id"]: False, occs[2]["id"]: True}
    balance = await paid.t.balance()
    assert balance["gross"] == 3 * PRICE and balance["refunds"] == 2 * PRICE
    # ada's one payment of 100.00 costs 2.90 + 0.30 to process, bob's 1.75; refunds come out
    # of the business's share whole
    assert balance["net"] == balance["available"] == 15_000 - 1_500 - 320 - 175 - 2 * PRICE
    # cancelled twice: nothing more moves
    twice = await paid.t.api.post(f"/api/v1/paid-meetings/{meeting['id']}/occurrences/"
                                  f"{occs[2]['id']}/cancel")  # fmt: skip
    assert twice.status_code == 200
    assert (await paid.t.balance())["refunds"] == 2 * PRICE


async def test_a_per_series_registration_pro_rata_when_the_host_cancels(paid: Paid) -> None:
    meeting = await paid.meeting(rrule="FREQ=WEEKLY;COUNT=3", pricing="per_series", price=10_000)
    occs = meeting["occurrences"]
    reg = await paid.registered(meeting["code"])
    assert reg["amount"] == 10_000 and [i["amount"] for i in reg["items"]] == [3_334, 3_333, 3_333]
    [code] = reg["codes"]
    assert code["occurrence_id"] is None  # one code for the series
    r = await paid.t.api.post(f"/api/v1/paid-meetings/{meeting['id']}/occurrences/"
                              f"{occs[1]['id']}/cancel")  # fmt: skip
    assert r.status_code == 200, r.text
    now = await paid.get(reg["id"])
    assert now["status"] == "partly_refunded" and not now["codes"][0]["revoked"]
    assert (await paid.payment(reg["payment_id"]))["amount_refunded"] == 3_333


async def test_a_no_show_fee_is_captured_and_the_others_holds_released(
    paid: Paid, clock: FrozenClock
) -> None:
    meeting = await paid.meeting(days=3, no_show_hold=True, price=2_000)
    ada = await paid.registered(meeting["code"])
    bob = await paid.registered(meeting["code"], name="Bob", email="bob@example.com")
    assert ada["status"] == bob["status"] == "held"
    assert (await paid.payment(ada["payment_id"]))["status"] == "requires_capture"
    [occ] = meeting["occurrences"]
    url = f"/api/v1/paid-meetings/{meeting['id']}/occurrences/{occ['id']}/no-shows"
    early = await paid.t.api.post(url, json={"no_shows": [bob["id"]]})
    assert early.status_code == 409 and early.json()["code"] == "occurrence_not_over"
    clock.advance(days=3, hours=2)
    r = await paid.t.api.post(url, json={"no_shows": [bob["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["failed"] == 0
    states = {v["id"]: v["status"] for v in r.json()["registrations"]}
    assert states == {ada["id"]: "attended", bob["id"]: "no_show"}
    assert (await paid.payment(ada["payment_id"]))["status"] == "canceled"
    fee = await paid.payment(bob["payment_id"])
    assert fee["amount_captured"] == 2_000 and fee["platform_fee"] == 200
    balance = await paid.t.balance()
    assert balance["gross"] == 2_000 and balance["net"] == 2_000 - 200 - (58 + 30)


async def test_a_hold_meeting_opens_registration_six_days_ahead(paid: Paid) -> None:
    meeting = await paid.meeting(days=10, no_show_hold=True)
    [occ] = meeting["occurrences"]
    assert occ["open"] is False and occ["why_closed"] == "registration opens 6 days before"
    r = await paid.register(meeting["code"])
    assert r.status_code == 409 and r.json()["code"] == "registration_closed", r.text


async def test_thirty_registrations_at_once_for_ten_seats(paid: Paid) -> None:
    """On PostgreSQL (CI) the thirty run in thirty transactions at once; the occurrence's
    row lock lets ten take a seat, and the others are refused before any card is asked."""
    meeting = await paid.meeting(seats=10)
    assert "holds 8 people at once" in meeting["warning"]
    answers = await asyncio.gather(*(
        paid.register(meeting["code"], name=f"Guest {n}", email=f"g{n}@example.com")
        for n in range(30)))  # fmt: skip
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 10 + [409] * 20, [r.text for r in answers if r.status_code >= 500]
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"sold_out"}
    assert {r.json()["status"] for r in answers if r.status_code == 201} == {"paid"}
    assert paid.ctx.sandbox is not None
    charges = await paid.ctx.sandbox.charges(business_id=paid.t.id)
    assert len(charges) == 10 and all(c["status"] == "succeeded" for c in charges)
    assert (await paid.page(meeting["code"]))["occurrences"][0]["seats_left"] == 0
    balance = await paid.t.balance()
    assert (balance["gross"], balance["available"]) == (10 * PRICE, 10 * NET)


async def test_moving_the_room_moves_its_unbooked_meetings_and_keeps_the_booked_one(
    paid: Paid,
) -> None:
    meeting = await paid.meeting(rrule="FREQ=WEEKLY;COUNT=3", pricing="per_occurrence")
    first = meeting["occurrences"][0]
    await paid.registered(meeting["code"], occurrences=[first["id"]])
    later = paid.clock.now() + timedelta(days=12)
    r = await paid.t.api.patch(f"/api/v1/meeting-rooms/{meeting['room_id']}", json={
        "schedule": {"starts_at": later.isoformat(), "duration_minutes": 60,
                     "time_zone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;COUNT=3"}})  # fmt: skip
    assert r.status_code == 200, r.text
    now = await paid.page(meeting["code"])
    starts = [o["starts_at"] for o in now["occurrences"]]
    assert len(starts) == 4 and sorted(starts) == starts
    # booked: kept until the host cancels it (which refunds), and closed to anyone new
    kept = next(o for o in now["occurrences"] if o["starts_at"] == first["starts_at"])
    assert kept["open"] is False and kept["why_closed"].startswith("moved")
    r = await paid.register(meeting["code"], name="Bob", email="bob@example.com",
                            occurrences=[kept["id"]])  # fmt: skip
    assert r.status_code == 409 and r.json()["code"] == "registration_closed", r.text


async def test_a_host_cancel_refunds_each_registrant_apart_and_the_sweep_finishes(
    paid: Paid,
) -> None:
    """The gateway fails one registrant's refund (a lost answer: it did refund): the others
    are refunded at once, that one by the worker's sweep, under the same refund id (the
    gateway answers as the first time), and never twice."""
    assert paid.ctx.sandbox is not None
    meeting = await paid.meeting(rrule="FREQ=WEEKLY;COUNT=2", pricing="per_occurrence")
    occ = meeting["occurrences"][0]["id"]
    ada = await paid.registered(meeting["code"], occurrences=[occ])
    bob = await paid.registered(meeting["code"], name="Bob", email="bob@example.com",
                                occurrences=[occ])  # fmt: skip
    paid.ctx.sandbox.inject_fault("refund", "lost_response")
    r = await paid.t.api.post(f"/api/v1/paid-meetings/{meeting['id']}/occurrences/{occ}/cancel")
    assert r.status_code == 200, r.text
    states = sorted([(await paid.get(ada["id"]))["status"], (await paid.get(bob["id"]))["status"]])
    assert states == ["paid", "refunded"]
    assert await paid.ctx.settle_cancellations() == 1
    assert await paid.ctx.settle_cancellations() == 0
    for reg in (ada, bob):
        assert (await paid.get(reg["id"]))["status"] == "refunded"
        assert (await paid.payment(reg["payment_id"]))["amount_refunded"] == PRICE
    assert (await paid.t.balance())["refunds"] == 2 * PRICE


async def test_what_registrants_agreed_to_stays_once_someone_booked(paid: Paid) -> None:
    meeting = await paid.meeting(rrule="FREQ=WEEKLY;COUNT=3", pricing="per_occurrence")
    await paid.registered(meeting["code"], occurrences=[meeting["occurrences"][0]["id"]])
    r = await paid.make_paid(meeting["room_id"], pricing="per_series")
    assert r.status_code == 422 and r.json()["code"] == "settings_locked", r.text
    r = await paid.make_paid(meeting["room_id"], pricing="per_occurrence", price=6_000)
    assert r.status_code == 200 and r.json()["price"] == 6_000  # a new price: for those to come
    # the dashboard's "Delete" (rooms have no delete in the API) refuses a paid room
    with pytest.raises(ValidationFailed) as refused:
        async with paid.ctx.unit_of_work() as s:
            await s.meetings.delete_room(paid.t.id, meeting["room_id"])
    assert refused.value.code == "paid_room_stays"


async def test_a_whole_series_past_the_horizon_is_refused(paid: Paid) -> None:
    room = await paid.room(rrule="FREQ=DAILY;COUNT=300")
    r = await paid.make_paid(room["id"], pricing="per_series")
    assert r.status_code == 422 and r.json()["code"] == "series_without_end", r.text


async def test_a_payment_left_half_way_is_finished_by_the_worker_not_expired(
    paid: Paid, clock: FrozenClock
) -> None:
    """The charge went through, its answer was lost, and the page never came back: the
    worker asks again under the same key (the gateway answers as the first time) and the
    registration is paid, never expired with the money taken."""
    assert paid.ctx.sandbox is not None
    meeting = await paid.meeting()
    reg = await paid.pending(meeting["code"])
    paid.ctx.sandbox.inject_fault("create_charge", "lost_response")
    lost = await paid.pay(meeting["code"], reg)
    assert lost.status_code >= 500 or lost.status_code == 504, lost.text
    assert (await paid.get(reg["id"]))["status"] == "pending"
    await paid.ctx.expire_registrations()
    assert (await paid.get(reg["id"]))["status"] == "pending"  # a page may still be paying
    clock.advance(minutes=31)
    await paid.ctx.expire_registrations()
    done = await paid.get(reg["id"])
    assert done["status"] == "paid" and len(done["codes"]) == 1, done
    assert len(await paid.ctx.sandbox.charges(business_id=paid.t.id)) == 1
    async with paid.ctx.unit_of_work() as s:
        mails = await Outbox(s.session, paid.ctx.clock).for_reference(reg["id"])
    text = next(m.body for m in mails if m.to == "ada@example.com")
    assert done["codes"][0]["display"] in text and "To cancel, write to" in text


async def test_a_capture_the_gateway_fails_holds_back_no_other_no_show(
    paid: Paid, clock: FrozenClock
) -> None:
    assert paid.ctx.sandbox is not None
    meeting = await paid.meeting(days=3, no_show_hold=True, price=2_000)
    ada = await paid.registered(meeting["code"])
    bob = await paid.registered(meeting["code"], name="Bob", email="bob@example.com")
    occ = meeting["occurrences"][0]["id"]
    url = f"/api/v1/paid-meetings/{meeting['id']}/occurrences/{occ}/no-shows"
    clock.advance(days=3, hours=2)
    paid.ctx.sandbox.inject_fault("capture", "timeout")
    r = await paid.t.api.post(url, json={"no_shows": [bob["id"]]})
    assert r.status_code == 200 and r.json()["failed"] == 1, r.text
    assert (await paid.get(ada["id"]))["status"] == "attended"
    assert (await paid.get(bob["id"]))["status"] == "held"
    again = await paid.t.api.post(url, json={"no_shows": [bob["id"]]})
    assert again.status_code == 200 and again.json()["failed"] == 0, again.text
    assert (await paid.get(bob["id"]))["status"] == "no_show"
    assert (await paid.payment(bob["payment_id"]))["amount_captured"] == 2_000


async def test_a_currency_typed_in_lower_case_is_the_iso_code(paid: Paid) -> None:
    meeting = await paid.meeting(currency="eur")
    assert meeting["currency"] == "EUR"
    reg = await paid.registered(meeting["code"])
    assert reg["currency"] == "EUR" and reg["status"] == "paid"
