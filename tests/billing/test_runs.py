"""Payment runs through the API, on the frozen clock across weeks: bills collected by a
scheduled run, a decline retried on the schedule and paid on the second try, a bill written
off after the last try, bills paid automatically days before they are due; a run stopped and
run again charging nobody twice; a gateway that times out, answers 429 or loses its answer."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from fareroom.ledger.service import AccountRef, business
from fareroom.models.mail import MailKind
from tests.conftest import Tenant

DECLINES = "4000000000000341"  # attaches, then every charge is declined (generic_decline)


async def _bill(t: Tenant, client: dict, amount: int, due_on: date, ref: str,
                **extra: Any) -> dict:  # fmt: skip
    r = await t.api.post("/api/v1/bills", json={
        "client_id": client["id"], "due_on": due_on.isoformat(), "reference": ref,
        "lines": [{"description": "Coaching", "unit_amount": amount}], **extra})  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _work(ctx: Context) -> None:
    """What the worker does: the schedule, then every job it deferred."""
    await ctx.billing.schedule()
    await ctx.jobs.drain(ctx.billing.tasks())


async def _drain(ctx: Context) -> None:
    await ctx.jobs.drain(ctx.billing.tasks())


async def _get(t: Tenant, path: str) -> dict:
    r = await t.api.get(path)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _balances(ctx: Context, t: Tenant, client_id: str) -> tuple[int, int, int]:
    """The client's receivable, the business's bills outstanding and its balance."""
    async with ctx.unit_of_work() as s:
        assert await s.ledger.verify() == []
        return (await s.ledger.balance(AccountRef("client_receivable", "EUR", t.id, client_id)),
                await s.ledger.balance(business("bills_outstanding", "EUR", t.id)),
                await s.ledger.balance(business("business_balance", "EUR", t.id)))  # fmt: skip


def _net(amount: int) -> int:
    """What the business keeps of a charge: less the platform's 10 % and the sandbox's
    2.9 % + 0.30 (half up)."""
    processing = (amount * 29 + 500) // 1000 + 30
    return amount - amount // 10 - processing


async def _mails(ctx: Context, bill_id: str) -> list[str]:
    async with ctx.unit_of_work() as s:
        from fareroom.mail.outbox import Outbox

        found = await Outbox(s.session, ctx.clock).for_reference(bill_id)
        return [m.subject for m in found if m.kind == MailKind.BILL]


async def test_a_scheduled_run_collects_the_bills_it_selects_once_a_day(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    today = clock.now().date()
    ada, bob = await tenant.client("Ada"), await tenant.client("Bob")
    due = [
        await _bill(tenant, ada, 12_000, today + timedelta(days=2), "A-1", tag="coaching"),
        await _bill(tenant, bob, 8_000, today + timedelta(days=5), "B-1", tag="coaching"),
        await _bill(tenant, bob, 5_000, today + timedelta(days=2), "B-2", tag="books"),
    ]
    hour = f"{(clock.now() + timedelta(minutes=1)):%H:%M}"
    r = await tenant.api.post("/api/v1/run-definitions", json={
        "name": "Coaching, due within 3 days", "daily_at": hour,
        "criteria": {"due_within_days": 3, "tag": "coaching"}})  # fmt: skip
    assert r.status_code == 201, r.text
    await _work(ctx)  # not its time yet
    assert (await _get(tenant, "/api/v1/payment-runs"))["data"] == []
    clock.advance(minutes=1)
    await _work(ctx)
    runs = (await _get(tenant, "/api/v1/payment-runs"))["data"]
    assert [(x["status"], x["bills"], x["amount"], x["definition_id"]) for x in runs] == [
        ("finished", 1, 12_000, r.json()["id"])]  # fmt: skip
    run = await _get(tenant, f"/api/v1/payment-runs/{runs[0]['id']}")
    assert (run["done"], run["counts"], run["amounts"]) == (1, {"paid": 1}, {"paid": 12_000})
    bills = {b["reference"]: b for b in (await _get(tenant, "/api/v1/bills"))["data"]}
    assert {k: (b["status"], b["amount_due"]) for k, b in bills.items()} == {
        "A-1": ("paid", 0),
        "B-1": ("unsettled", 8_000),
        "B-2": ("unsettled", 5_000),
    }
    paid = await _get(tenant, f"/api/v1/bills/{due[0]['id']}")
    assert [(a["number"], a["status"], a["amount"]) for a in paid["attempts"]] == [
        (1, "succeeded", 12_000)]  # fmt: skip
    payment = await _get(tenant, f"/api/v1/payments/{paid['attempts'][0]['payment_id']}")
    assert (payment["amount_captured"], payment["status"]) == (12_000, "succeeded")
    assert await _balances(ctx, tenant, ada["id"]) == (0, 13_000, _net(12_000))
    await _work(ctx)  # the same day again: the definition ran today
    assert len((await _get(tenant, "/api/v1/payment-runs"))["data"]) == 1
    clock.advance(days=3)  # B-1 is now due within 3 days: the next day's run takes it
    await _work(ctx)
    runs = (await _get(tenant, "/api/v1/payment-runs"))["data"]
    assert [(x["bills"], x["amount"], x["status"]) for x in runs][0] == (1, 8_000, "finished")
    assert (await _get(tenant, f"/api/v1/bills/{due[1]['id']}"))["status"] == "paid"
    assert (await _get(tenant, f"/api/v1/bills/{due[2]['id']}"))["status"] == "unsettled"


async def test_a_declined_bill_is_retried_on_the_schedule_and_paid_on_the_second_try(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    today = clock.now().date()
    ada = await tenant.client("Ada", number=DECLINES)
    bill = await _bill(tenant, ada, 20_000, today, "R-1")
    r = await tenant.api.post("/api/v1/payment-runs", json={"due_on_or_before":
                                                             today.isoformat()})  # fmt: skip
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["bills"]) == ("running", 1)
    await _drain(ctx)
    run = await _get(tenant, f"/api/v1/payment-runs/{r.json()['id']}")
    assert (run["status"], run["counts"], run["failures"]) == (
        "finished", {"failed": 1}, {"generic_decline": 1})  # fmt: skip
    got = await _get(tenant, f"/api/v1/bills/{bill['id']}")
    assert (got["status"], got["dunning"], got["declines"], got["next_try_on"]) == (
        "unsettled", "retrying", 1, (today + timedelta(days=3)).isoformat())  # fmt: skip
    assert await _mails(ctx, bill["id"]) == ["Payment declined: bill R-1"]
    # a run the same day leaves it for its retry day
    again = await tenant.api.post("/api/v1/payment-runs", json={})
    assert again.json()["bills"] == 0 and again.json()["status"] == "finished"
    # the client adds a card that works and makes it the default
    card = await tenant.card(ada["id"])
    r = await tenant.api.patch(f"/api/v1/clients/{ada['id']}/cards/{card['id']}",
                               json={"default": True})  # fmt: skip
    assert r.status_code == 200, r.text
    clock.advance(days=2)
    await _work(ctx)  # not yet its retry day
    assert (await _get(tenant, f"/api/v1/bills/{bill['id']}"))["status"] == "unsettled"
    clock.advance(days=1)
    await _work(ctx)  # the retry run
    got = await _get(tenant, f"/api/v1/bills/{bill['id']}")
    assert (got["status"], got["dunning"], got["amount_paid"]) == ("paid", "current", 20_000)
    assert [(a["number"], a["status"], a["decline_code"]) for a in got["attempts"]] == [
        (1, "declined", "generic_decline"), (2, "succeeded", None)]  # fmt: skip
    kinds = [x["kind"] for x in (await _get(tenant, "/api/v1/payment-runs"))["data"]]
    assert kinds == ["retry", "run", "run"]
    assert await _balances(ctx, tenant, ada["id"]) == (0, 0, _net(20_000))


async def test_a_bill_declined_on_every_try_goes_past_due_then_is_written_off(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    r = await tenant.api.put("/api/v1/billing-settings", json={"retry_days": [2, 4]})
    assert r.status_code == 200, r.text
    today = clock.now().date()
    ada = await tenant.client("Ada", number=DECLINES)
    bill = await _bill(tenant, ada, 9_900, today, "W-1")
    await tenant.api.post("/api/v1/payment-runs", json={})
    await _drain(ctx)
    steps = [((await _get(tenant, f"/api/v1/bills/{bill['id']}"))["dunning"])]
    for wait in (2, 4):
        clock.advance(days=wait)
        await _work(ctx)
        got = await _get(tenant, f"/api/v1/bills/{bill['id']}")
        steps.append(got["status"] if got["status"] != "unsettled" else got["dunning"])
    assert steps == ["retrying", "past_due", "written_off"]
    assert got["declines"] == 3 and got["next_try_on"] is None and got["amount_due"] == 0
    assert await _mails(ctx, bill["id"]) == [
        "Payment declined: bill W-1",
        "Past due: bill W-1",
        "Unpaid: bill W-1",
    ]
    assert await _balances(ctx, tenant, ada["id"]) == (0, 0, 0)
    clock.advance(days=7)
    await _work(ctx)  # nothing more is tried
    assert len((await _get(tenant, f"/api/v1/bills/{bill['id']}"))["attempts"]) == 3


async def test_bills_are_paid_automatically_the_set_number_of_days_before_they_are_due(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    today = clock.now().date()
    r = await tenant.api.put("/api/v1/billing-settings",
                             json={"retry_days": [3], "autopay_days": 5})  # fmt: skip
    assert r.json()["autopay_days"] == 5
    ada = await tenant.client("Ada")
    early = await _bill(tenant, ada, 4_000, today + timedelta(days=7), "P-1")
    await _work(ctx)
    assert (await _get(tenant, f"/api/v1/bills/{early['id']}"))["status"] == "unsettled"
    clock.advance(days=2)  # five days before it is due
    await _work(ctx)
    got = await _get(tenant, f"/api/v1/bills/{early['id']}")
    assert got["status"] == "paid"
    runs = (await _get(tenant, "/api/v1/payment-runs"))["data"]
    assert [(x["kind"], x["bills"]) for x in runs][0] == ("autopay", 1)
    assert await _balances(ctx, tenant, ada["id"]) == (0, 0, _net(4_000))


async def test_a_run_stopped_half_way_and_run_again_charges_every_bill_once(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    today = clock.now().date()
    clients = [await tenant.client(f"C{n}") for n in range(3)]
    for n in range(60):  # two chunks
        await _bill(tenant, clients[n % 3], 1_000 + n, today, f"S-{n}")
    r = await tenant.api.post("/api/v1/payment-runs", json={"due_on_or_before": today.isoformat()})
    run_id = r.json()["id"]
    stop = await tenant.api.post(f"/api/v1/payment-runs/{run_id}/stop")
    assert (stop.status_code, stop.json()["status"]) == (200, "stopped")
    await _drain(ctx)  # the jobs find their run stopped: nothing is charged
    assert (await _get(tenant, f"/api/v1/payment-runs/{run_id}"))["counts"] == {"pending": 60}
    again = await tenant.api.post(f"/api/v1/payment-runs/{run_id}/run-again")
    assert again.json()["status"] == "running"
    twice = await tenant.api.post(f"/api/v1/payment-runs/{run_id}/run-again")
    assert (twice.status_code, twice.json()["code"]) == (409, "run_running")
    await _drain(ctx)
    run = await _get(tenant, f"/api/v1/payment-runs/{run_id}")
    assert (run["status"], run["counts"], run["amounts"]) == (
        "finished", {"paid": 60}, {"paid": sum(1_000 + n for n in range(60))})  # fmt: skip
    charges = await ctx.sandbox.charges(business_id=tenant.id)  # type: ignore[union-attr]
    assert len(charges) == 60 == len({c["metadata"]["reference"] for c in charges})
    nothing = await tenant.api.post(f"/api/v1/payment-runs/{run_id}/run-again")
    assert (nothing.status_code, nothing.json()["code"]) == (409, "run_nothing_left")
    report = list(
        csv.DictReader(
            io.StringIO((await tenant.api.get(f"/api/v1/payment-runs/{run_id}/report.csv")).text)
        )
    )
    assert len(report) == 60 and {row["result"] for row in report} == {"paid"}
    assert report[0]["reference"] == "S-0" and report[0]["amount"] == "1000"


async def test_timeouts_429s_and_lost_answers_are_asked_again_under_the_same_key(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    assert ctx.sandbox is not None
    today = clock.now().date()
    ada = await tenant.client("Ada")
    bills = [await _bill(tenant, ada, 2_500, today, f"T-{n}") for n in range(3)]
    ctx.sandbox.inject_fault("create_charge", "timeout")
    ctx.sandbox.inject_fault("create_charge", "rate_limit")
    ctx.sandbox.inject_fault("create_charge", "lost_response", times=2)
    r = await tenant.api.post("/api/v1/payment-runs", json={})
    await _drain(ctx)
    run = await _get(tenant, f"/api/v1/payment-runs/{r.json()['id']}")
    assert (run["status"], run["counts"]) == ("finished", {"paid": 3})
    charges = await ctx.sandbox.charges(business_id=tenant.id)
    assert len(charges) == 3
    for bill in bills:
        got = await _get(tenant, f"/api/v1/bills/{bill['id']}")
        assert [a["number"] for a in got["attempts"]] == [1] and got["status"] == "paid"
    assert await _balances(ctx, tenant, ada["id"]) == (0, 0, 3 * _net(2_500))


async def test_a_bill_the_gateway_never_answers_is_not_reached_and_run_again_later(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    assert ctx.sandbox is not None
    ada = await tenant.client("Ada")
    bill = await _bill(tenant, ada, 3_000, clock.now().date(), "N-1")
    retries = ctx.billing.retries
    ctx.billing.retries, backoff, ctx.billing.backoff = 1, ctx.billing.backoff, 0.01
    try:
        # the first answer is lost (the charge was made), then the gateway is away
        ctx.sandbox.inject_fault("create_charge", "lost_response")
        ctx.sandbox.inject_fault("create_charge", "timeout")
        r = await tenant.api.post("/api/v1/payment-runs", json={})
        await _drain(ctx)
    finally:
        ctx.billing.retries, ctx.billing.backoff = retries, backoff
    run = await _get(tenant, f"/api/v1/payment-runs/{r.json()['id']}")
    assert (run["status"], run["failures"]) == ("finished", {"gateway_unavailable": 1})
    got = await _get(tenant, f"/api/v1/bills/{bill['id']}")
    assert [(a["number"], a["status"]) for a in got["attempts"]] == [(1, "pending")]
    cancel = await tenant.api.post(f"/api/v1/bills/{bill['id']}/cancel")
    assert (cancel.status_code, cancel.json()["code"]) == (409, "bill_charge_pending")
    again = await tenant.api.post(f"/api/v1/payment-runs/{r.json()['id']}/run-again")
    assert again.status_code == 200, again.text
    await _drain(ctx)
    got = await _get(tenant, f"/api/v1/bills/{bill['id']}")
    assert got["status"] == "paid"
    assert [(a["number"], a["status"]) for a in got["attempts"]] == [(1, "succeeded")]
    assert len(await ctx.sandbox.charges(business_id=tenant.id)) == 1  # the first one's
    assert await _balances(ctx, tenant, ada["id"]) == (0, 0, _net(3_000))


async def test_bad_runs_are_refused_and_change_nothing(
    ctx: Context, tenant: Tenant, other_tenant: Tenant
) -> None:
    ada = await other_tenant.client("Ada")
    theirs = await _bill(other_tenant, ada, 1_000, date(2030, 1, 1), "X-1")
    mine = await tenant.api.post("/api/v1/payment-runs", json={})
    assert mine.json()["bills"] == 0  # another business's bills are never selected
    defined = await other_tenant.api.post("/api/v1/run-definitions",
                                          json={"name": "All open bills"})  # fmt: skip
    for body, code in (
        ({"definition_id": defined.json()["id"]}, "run_definition_not_found"),
        ({"definition_id": defined.json()["id"], "tag": "x"}, "invalid_criteria"),
        ({"min_amount": 500, "max_amount": 100}, "invalid_criteria"),
        ({"due_on_or_before": "2030-01-01", "due_within_days": 3}, "invalid_criteria"),
        ({"currency": "USD"}, "currency_mismatch"),
        ({"due_within_days": 9999}, "invalid_request"),
        ({"definition_id": "rdef_nothing"}, "run_definition_not_found"),
    ):
        r = await tenant.api.post("/api/v1/payment-runs", json=body)
        assert (r.status_code // 100, r.json()["code"]) == (4, code), (body, r.text)
    for path in (f"/api/v1/payment-runs/{mine.json()['id']}/stop",):
        r = await other_tenant.api.post(path)
        assert (r.status_code, r.json()["code"]) == (404, "run_not_found")
    r = await tenant.api.put("/api/v1/billing-settings", json={"retry_days": [0, 3]})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_request")
    assert (await _get(tenant, "/api/v1/billing-settings"))["retry_days"] == [3, 5, 7]
    assert len((await _get(tenant, "/api/v1/payment-runs"))["data"]) == 1
    assert (await _get(other_tenant, f"/api/v1/bills/{theirs['id']}"))["status"] == "unsettled"
