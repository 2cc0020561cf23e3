"""The billing back office's dashboard pages, used as a finance user does: bills and their CSV
import, a payment run started from the form, its progress (the JSON its bar follows), stop
and run again, its CSV report; a customer's account with a card saved and deleted, credit
added and a preference; agents are refused; bad input shows the sentence and changes
nothing."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from tests.billing.test_runs import _bill, _drain, _get
from tests.conftest import Tenant
from tests.support.pages import form_token, sign_in

PASSWORD = "finance desk 2026 ok"


async def _as(ctx: Context, t: Tenant, role: str) -> httpx.AsyncClient:
    """The tenant's API client signed in (cookies) as a new user of ``role``."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    async with ctx.unit_of_work() as s:
        await s.accounts.add_user(t.id, email=email, password=PASSWORD, role=role)
    web = httpx.AsyncClient(transport=t.api._transport, base_url="http://testserver")
    login = await sign_in(web, email, PASSWORD)
    assert login.status_code == 303, login.text
    web.cookies.update(login.cookies)
    return web


async def test_a_finance_user_runs_collections_from_the_dashboard(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    web = await _as(ctx, tenant, "finance")
    ada = await tenant.client("Ada")
    csv_file = (f"client,reference,due_on,line,unit_price\n{ada['id']},WEB-1,"
                f"{clock.now().date().isoformat()},Lesson,\"1,250.00\"\n")  # fmt: skip
    page = await web.get("/dashboard/bills")
    assert page.status_code == 200 and "No bills." in page.text
    r = await web.post("/dashboard/bills/import", data={"csrf": form_token(page.text)},
                       files={"file": ("bills.csv", csv_file.encode(), "text/csv")})  # fmt: skip
    assert (r.status_code, r.headers["location"]) == (303, "/dashboard/bills?notice=imported")
    listed = await web.get("/dashboard/bills")
    assert "WEB-1" in listed.text and "1,250.00 EUR" in listed.text
    bad = await web.post(
        "/dashboard/bills/import",
        data={"csrf": form_token(page.text)},
        files={"file": ("b.csv", b"client,reference\nx,y\n", "text/csv")},
    )
    assert bad.status_code == 422 and "Missing: due_on, line, unit_price" in bad.text
    runs = await web.get("/dashboard/runs")
    token = form_token(runs.text)
    refused = await web.post("/dashboard/runs", data={"csrf": token, "min_amount": "20",
                                                      "max_amount": "10"})  # fmt: skip
    assert refused.status_code == 422 and "smallest amount is above the largest" in refused.text
    started = await web.post("/dashboard/runs", data={"csrf": token, "tag": ""})
    assert started.status_code == 303, started.text
    run_path = started.headers["location"].split("?")[0]
    shown = await web.get(run_path)
    assert 'id="run-bar"' in shown.text and "Stop the run" in shown.text
    before = (await web.get(f"{run_path}/progress")).json()
    assert (before["status"], before["bills"], before["done"]) == ("running", 1, 0)
    stopped = await web.post(f"{run_path}/stop", data={"csrf": form_token(shown.text)})
    assert stopped.status_code == 303
    assert (await web.get(f"{run_path}/progress")).json()["status"] == "stopped"
    again = await web.post(f"{run_path}/again", data={"csrf": form_token(shown.text)})
    assert again.status_code == 303
    await _drain(ctx)
    after = (await web.get(f"{run_path}/progress")).json()
    assert (after["status"], after["done"], after["counts"]) == ("finished", 1, {"paid": 1})
    report = await web.get(f"{run_path}/report.csv")
    assert report.headers["content-type"].startswith("text/csv")
    assert report.text.splitlines()[1].split(",")[1:3] == ["WEB-1", "Ada"]
    await web.aclose()


async def test_a_customers_cards_wallet_and_preference_are_changed_from_their_page(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    web = await _as(ctx, tenant, "finance")
    ada = await tenant.client("Ada")
    second = await tenant.card(ada["id"], "5555555555554444")
    await _bill(tenant, ada, 3_000, clock.now().date(), "CUS-1")
    path = f"/dashboard/customers/{ada['id']}"
    page = await web.get(path)
    assert page.status_code == 200 and "30.00 EUR" in page.text and "Visa •••• 4242" in page.text
    token = form_token(page.text)
    r = await web.post(f"{path}/cards/{second['id']}", data={"csrf": token, "default": "on",
                                                            "recurring": "on"})  # fmt: skip
    assert r.status_code == 303
    account = await _get(tenant, f"/api/v1/clients/{ada['id']}/account")
    assert account["default_card_id"] == second["id"]
    assert account["recurring_card_ids"] == [second["id"]]
    r = await web.post(f"{path}/cards/{ada['card_id']}/delete", data={"csrf": token})
    assert r.status_code == 303
    account = await _get(tenant, f"/api/v1/clients/{ada['id']}/account")
    assert [c["last4"] for c in account["cards"]] == ["4444"]
    bad = await web.post(f"{path}/credit", data={"csrf": token, "amount": "1,0,0"})
    assert bad.status_code == 422
    assert (await _get(tenant, f"/api/v1/clients/{ada['id']}/wallet"))["balance"] == 0
    r = await web.post(f"{path}/credit", data={"csrf": token, "amount": "1,000.50",
                                               "note": "goodwill"})  # fmt: skip
    assert r.status_code == 303
    assert (await _get(tenant, f"/api/v1/clients/{ada['id']}/wallet"))["balance"] == 100_050
    r = await web.post(f"{path}/preference", data={"csrf": token, "pay_with": "wallet_first",
                                                   "autopay_days": "3"})  # fmt: skip
    assert r.status_code == 303
    page = await web.get(path)
    assert "wallet first" in page.text and "1,000.50 EUR" in page.text
    assert "Credit added to the wallet: goodwill" in page.text
    forged = await web.post(f"{path}/credit", data={"csrf": "forged", "amount": "5"})
    assert forged.status_code == 403
    await web.aclose()


async def test_agents_and_other_businesses_see_no_billing_page(
    ctx: Context, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = await _as(ctx, tenant, "agent")
    for path in ("/dashboard/bills", "/dashboard/runs"):
        r = await agent.get(path)
        assert r.status_code == 403, (path, r.status_code)
    theirs = await other_tenant.client("Theirs")
    finance = await _as(ctx, tenant, "finance")
    r = await finance.get(f"/dashboard/customers/{theirs['id']}")
    assert r.status_code == 404
    run = (await other_tenant.api.post("/api/v1/payment-runs", json={})).json()
    assert (await finance.get(f"/dashboard/runs/{run['id']}/progress")).status_code == 404
    await agent.aclose()
    await finance.aclose()


async def test_the_overview_charts_count_what_happened_each_day(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    web = await _as(ctx, tenant, "finance")
    ada = await tenant.client("Ada")
    paid = [(await tenant.pay(ada["id"], amount)).json() for amount in (1_000, 2_500)]
    await tenant.api.post(f"/api/v1/payments/{paid[0]['id']}/refunds", json={"amount": 400})
    clock.advance(days=1)
    await tenant.client("Bob")
    await tenant.pay(ada["id"], 700)
    page = await web.get("/dashboard/overview")
    assert page.status_code == 200
    bars = {
        chart: [int(v) for v in re.findall(r'data-value="(\d+)"', svg)]
        for chart, svg in re.findall(r'<svg class="chart" id="chart-(\w+)"(.*?)</svg>', page.text,
                                     re.S)
    }  # fmt: skip
    assert {k: (len(v), v[-2:]) for k, v in bars.items()} == {
        "gross": (30, [3_500, 700]), "charges": (30, [2, 1]), "refunds": (30, [400, 0]),
        "customers": (30, [1, 1])}  # fmt: skip
    assert "42.00 EUR" in page.text  # the gross volume of the 30 days
    weekly = await web.get("/dashboard/overview?unit=week")
    assert len(re.findall(r'<svg class="chart"', weekly.text)) == 4
    await web.aclose()


async def test_customers_are_found_by_the_start_of_their_name_or_email_and_deleted(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    assert ctx.sandbox is not None
    web = await _as(ctx, tenant, "finance")
    names = ["Ada Lovelace", "adam smith", "Bob Builder"]
    made = [await tenant.client(n) for n in names]
    found = await web.get("/dashboard/customers?q=ADA")
    assert "Ada Lovelace" in found.text and "adam smith" in found.text
    assert "Bob Builder" not in found.text
    listed = await web.get("/dashboard/customers")
    assert all(n in listed.text for n in names)
    bob = made[2]
    await _bill(tenant, bob, 1_000, clock.now().date(), "DEL-1")
    page = await web.get(f"/dashboard/customers/{bob['id']}")
    refused = await web.post(f"/dashboard/customers/{bob['id']}/delete",
                             data={"csrf": form_token(page.text)})  # fmt: skip
    assert refused.status_code == 409 and "still owes money" in refused.text
    bills = (await _get(tenant, f"/api/v1/clients/{bob['id']}/account"))["open_bills"]
    await tenant.api.post(f"/api/v1/bills/{bills[0]['id']}/cancel")
    gone = await web.post(f"/dashboard/customers/{bob['id']}/delete",
                          data={"csrf": form_token(page.text)})  # fmt: skip
    assert gone.status_code == 303
    assert "Bob Builder" not in (await web.get("/dashboard/customers")).text
    r = await tenant.api.get(f"/api/v1/clients/{bob['id']}")
    assert r.status_code == 200  # its history stays readable
    charge = await tenant.pay(bob["id"], 1_000, card_id=bob["card_id"])
    assert charge.status_code == 404 and charge.json()["code"] == "card_not_found"
    await web.aclose()


async def test_a_payments_page_shows_what_it_paid_its_requests_and_refunds_from_it(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    web = await _as(ctx, tenant, "finance")
    ada = await tenant.client("Ada")
    bill = await _bill(tenant, ada, 5_000, clock.now().date(), "PAY-1")
    await tenant.api.post("/api/v1/payment-runs", json={})
    await _drain(ctx)
    payment_id = (await _get(tenant, f"/api/v1/bills/{bill['id']}"))["attempts"][0]["payment_id"]
    listed = await web.get("/dashboard")
    assert f'href="/dashboard/payments/{payment_id}"' in listed.text
    path = f"/dashboard/payments/{payment_id}"
    page = await web.get(path)
    assert page.status_code == 200
    assert "Bill PAY-1 (charge 1)" in page.text and "Gateway: create charge" in page.text
    token = form_token(page.text)
    too_much = await web.post(f"{path}/refund-here", data={"csrf": token, "amount": "60.00"})
    assert too_much.status_code == 422 and "at most 50.00 EUR" in too_much.text
    r = await web.post(f"{path}/refund-here", data={"csrf": token, "amount": "10.00",
                                                    "reason": "late start"})  # fmt: skip
    assert r.status_code == 303
    page = await web.get(path)
    assert "Refund of 10.00 EUR: late start" in page.text and "Gateway: refund" in page.text
    kind = await tenant.api.post("/api/v1/cancellation-types",
                                 json={"name": "Half back", "refund_percent": 50})  # fmt: skip
    page = await web.get(path)
    r = await web.post(f"{path}/cancel", data={"csrf": form_token(page.text),
                                               "type_id": kind.json()["id"]})  # fmt: skip
    assert r.status_code == 303
    got = await _get(tenant, f"/api/v1/payments/{payment_id}")
    assert got["amount_refunded"] == 2_500  # half of 50.00, of which 10.00 was refunded already
    page = await web.get(path)
    assert "Cancelled as “Half back” (50 %)" in page.text
    await web.aclose()


async def test_the_gateway_log_shows_why_cards_failed_with_filters(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    web = await _as(ctx, tenant, "finance")
    ada = await tenant.client("Ada", number="4000000000000341")  # attaches, then declines
    await tenant.pay(ada["id"], 1_500)
    bob = await tenant.client("Bob")
    await tenant.pay(bob["id"], 2_000)
    every = await web.get("/dashboard/gateway-log")
    assert every.status_code == 200
    assert every.text.count("<td>create charge</td>") == 2 and "(generic_decline)" in every.text
    failed = await web.get("/dashboard/gateway-log?outcome=error")
    assert failed.text.count("<td>create charge</td>") == 1 and "card_declined" in failed.text
    by_code = await web.get("/dashboard/gateway-log?code=generic_decline")
    assert by_code.text.count("<tr><td>") == 1
    ok = await web.get("/dashboard/gateway-log?outcome=ok&operation=create_charge")
    assert ok.text.count("<td>create charge</td>") == 1 and "generic_decline" not in ok.text
    odd = await web.get("/dashboard/gateway-log?code=%27%3B--&operation=drop")
    assert odd.status_code == 200 and odd.text.count("<td>create charge</td>") == 2  # ignored
    await web.aclose()


async def test_every_payment_is_exported_as_csv(ctx: Context, tenant: Tenant) -> None:
    web = await _as(ctx, tenant, "finance")
    ada = await tenant.client("Ada")
    made = [(await tenant.pay(ada["id"], 1_000 + n)).json()["id"] for n in range(3)]
    r = await web.get("/dashboard/payments.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0].startswith("id,created_at,client_id,status")
    assert [line.split(",")[0] for line in lines[1:]] == list(reversed(made))
    assert lines[1].split(",")[5:7] == ["1002", "1002"]
    await web.aclose()


async def test_payouts_by_hand_and_on_a_schedule_arrive_two_days_later(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    assert ctx.sandbox is not None
    web = await _as(ctx, tenant, "finance")
    ada = await tenant.client("Ada")
    await tenant.pay(ada["id"], 10_000)  # 86.80 EUR to the business
    page = await web.get("/dashboard/payouts")
    assert page.status_code == 200 and "86.80 EUR" in page.text
    token = form_token(page.text)
    too_much = await web.post("/dashboard/payouts", data={"csrf": token, "amount": "100"})
    assert too_much.status_code == 409 and "too low" in too_much.text
    r = await web.post("/dashboard/payouts", data={"csrf": token, "amount": "20.00"})
    assert r.status_code == 303
    made = (await tenant.api.get("/api/v1/payouts")).json()["data"]
    today = clock.now().date()
    assert [(p["amount"], p["status"], p["automatic"]) for p in made] == [
        (2_000, "in_transit", False)]  # fmt: skip
    assert made[0]["arrives_on"] == (today + timedelta(days=2)).isoformat()
    # the schedule: weekly on today's weekday pays out all that is left, once today
    clock.advance(minutes=1)  # (after the payout by hand)
    today = clock.now().date()
    bad = await web.post("/dashboard/payouts/schedule", data={"csrf": token,
                                                              "schedule": "weekly",
                                                              "weekday": "9"})  # fmt: skip
    assert bad.status_code == 422
    r = await web.post("/dashboard/payouts/schedule", data={
        "csrf": token, "schedule": "weekly", "weekday": str(today.weekday())})  # fmt: skip
    assert r.status_code == 303
    await ctx.billing.schedule()
    await ctx.billing.schedule()
    made = (await tenant.api.get("/api/v1/payouts")).json()["data"]
    assert [(p["amount"], p["automatic"]) for p in made] == [(6_680, True), (2_000, False)]
    assert (await tenant.balance())["available"] == 0
    clock.advance(days=2)
    await ctx.sandbox.deliver_events()  # the sandbox's bank: both arrive
    made = (await tenant.api.get("/api/v1/payouts")).json()["data"]
    assert {p["status"] for p in made} == {"paid"}
    page = await web.get("/dashboard/payouts")
    assert "the schedule" in page.text and page.text.count('class="status paid"') == 2
    await web.aclose()


async def test_a_bill_typed_in_the_dashboard_is_made_once_and_bad_lines_are_refused(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    web = await _as(ctx, tenant, "finance")
    ada = await tenant.client("Ada")
    page = await web.get("/dashboard/bills")
    token, due = form_token(page.text), clock.now().date().isoformat()
    bill_id = re.search(r'name="bill_id" value="([^"]+)"', page.text)
    assert bill_id is not None
    form = {"csrf": token, "bill_id": bill_id.group(1), "client_id": ada["id"], "due_on": due,
            "reference": "FORM-1", "line1": "Coaching", "quantity1": "3", "price1": "40.00",
            "line2": "Workbook", "price2": "1,250.50"}  # fmt: skip
    bad = await web.post("/dashboard/bills", data={**form, "price2": ""})
    assert bad.status_code == 422 and "Line 2: give its unit price" in bad.text
    assert 'value="Workbook"' in bad.text  # what was typed stays
    negative = await web.post("/dashboard/bills", data={**form, "price2": "-5"})
    assert negative.status_code == 422
    for _ in range(2):  # sent twice: one bill
        r = await web.post("/dashboard/bills", data=form)
        assert (r.status_code, r.headers["location"]) == (
            303,
            "/dashboard/bills?notice=bill_created",
        )
    bills = (await tenant.api.get("/api/v1/bills")).json()["data"]
    assert [(b["reference"], b["amount"]) for b in bills] == [("FORM-1", 3 * 4_000 + 125_050)]
    await web.aclose()


async def test_payments_are_filtered_by_status_and_customer_across_pages(
    ctx: Context, tenant: Tenant
) -> None:
    web = await _as(ctx, tenant, "finance")
    ada, bob = await tenant.client("Ada"), await tenant.client("Bob")
    held = (await tenant.pay(ada["id"], 2_000, capture=False)).json()
    for n in range(27):
        await tenant.pay(ada["id"] if n % 3 else bob["id"], 1_000 + n)
    page = await web.get("/dashboard?status=requires_capture")
    row = f'<tr id="{held["id"]}">'
    assert page.text.count('class="payment-link"') == 1 and row in page.text
    adas = await web.get(f"/dashboard?client_id={ada['id']}")
    assert adas.text.count('class="payment-link"') == 19 and 'rel="next"' not in adas.text
    succeeded = await web.get("/dashboard?status=succeeded")
    assert succeeded.text.count('class="payment-link"') == 25
    older = re.search(r'href="(/dashboard\?after=[^"]+)" rel="next"', succeeded.text)
    assert older is not None and "status=succeeded" in older.group(1)
    rest = await web.get(older.group(1).replace("&amp;", "&"))
    assert rest.text.count('class="payment-link"') == 2 and row not in rest.text
    odd = await web.get("/dashboard?status=drop&client_id=%27")
    assert odd.status_code == 200 and odd.text.count('class="payment-link"') == 25
    await web.aclose()
