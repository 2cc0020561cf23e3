"""Business revenue from the ledger, per business, agent and room, over a period."""

from __future__ import annotations

import html
from datetime import timedelta

from tests.conftest import Tenant
from tests.metering.conftest import Chat
from tests.metering.test_scenarios import FAILS_ON_CHARGE, net_of
from tests.support.pages import sign_in


async def _paid_session(chat: Chat, room: dict, seconds: int) -> dict:
    session = await chat.open(room)
    chat.advance(seconds)
    return await chat.event(session, "hangup")


async def test_revenue_by_business_agent_and_room_with_refunds_and_abandoned_debt(
    chat: Chat, other_tenant: Tenant
) -> None:
    start = chat.clock.now()
    advice, sales = await chat.room(), await chat.room()
    advice_session = await _paid_session(chat, advice, 301)  # 11.00
    await _paid_session(chat, sales, 100)  # 10.00
    client = await chat.t.client()
    session = await chat.open(sales, client)
    bad = await chat.t.card(client["id"], FAILS_ON_CHARGE)
    await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/card", json={"card_id": bad["id"]})
    chat.advance(2000)  # 67.00: the 20.00 hold is captured, the other 47.00 is declined
    failed = await chat.event(session, "hangup")
    await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/abandon")
    unpaid = failed["due"]
    assert unpaid == 4700
    [advice_payment] = await chat.payments(advice_session)
    r = await chat.api.post(f"/api/v1/payments/{advice_payment['id']}/refunds",
                            json={"amount": 300})  # fmt: skip
    assert r.status_code == 201, r.text
    await chat.t.pay((await chat.t.client())["id"], 5000)  # a charge not made in a chat

    whole = (await chat.api.get("/api/v1/revenue")).json()["data"]
    assert len(whole) == 1
    total = whole[0]
    gross = 1100 + 1000 + 2000 + 5000
    assert (total["gross"], total["refunds"], total["abandoned_debt"]) == (gross, 300, unpaid)
    assert total["platform_fees"] == 110 + 100 + 200 + 500
    assert total["net"] == net_of(1100) + net_of(1000) + net_of(2000) + net_of(5000) - 300
    assert total["net"] == (await chat.t.balance())["available"]

    rooms = {line["key"]: line for line in
             (await chat.api.get("/api/v1/revenue?group_by=room")).json()["data"]}  # fmt: skip
    assert rooms[advice["id"]]["gross"] == 1100 and rooms[advice["id"]]["refunds"] == 300
    assert rooms[sales["id"]]["gross"] == 3000
    assert rooms[sales["id"]]["abandoned_debt"] == unpaid
    assert rooms[None]["gross"] == 5000 and rooms[None]["label"] == "(not in a chat)"
    agents = (await chat.api.get("/api/v1/revenue?group_by=agent")).json()["data"]
    mine = next(line for line in agents if line["key"] == chat.t.owner_id)
    assert mine["gross"] == 4100

    later = (chat.clock.now() + timedelta(seconds=1)).isoformat()
    r = await chat.api.get("/api/v1/revenue", params={"start": later})
    assert r.json()["data"] == []
    r = await chat.api.get("/api/v1/revenue", params={"start": start.isoformat(), "end": later})
    assert r.json()["data"][0]["gross"] == gross
    r = await chat.api.get("/api/v1/revenue", params={"group_by": "planet"})
    assert r.status_code == 422
    assert (await other_tenant.api.get("/api/v1/revenue")).json()["data"] == []


async def test_the_revenue_page_shows_each_agent(chat: Chat) -> None:
    await _paid_session(chat, await chat.room(), 301)
    login = await sign_in(chat.api, chat.t.owner_email, chat.t.password)
    assert login.status_code == 303
    chat.api.cookies.update(login.cookies)
    page = await chat.api.get("/dashboard/revenue")
    assert page.status_code == 200
    assert "11.00 EUR" in page.text and chat.t.owner_email in page.text
    bad = await chat.api.get("/dashboard/revenue?start=yesterday")
    assert bad.status_code == 422 and "a date like" in bad.text


async def test_a_revenue_page_with_a_bad_period_or_grouping_shows_only_the_error(
    chat: Chat,
) -> None:
    login = await sign_in(chat.api, chat.t.owner_email, chat.t.password)
    chat.api.cookies.update(login.cookies)
    for query, said, code in [
        ("start=yesterday", "'start' is a date like", "invalid_period"),
        ("end=9999-12-31", "'end' is a date like", "invalid_period"),
        ("group_by=xyz", "'group_by' is one of", "invalid_group_by"),
    ]:
        page = await chat.api.get(f"/dashboard/revenue?{query}")
        assert page.status_code == 422, query
        assert said in html.unescape(page.text) and f'data-code="{code}"' in page.text
        assert "No revenue" not in page.text and "<table" not in page.text


async def test_the_revenue_api_refuses_an_unknown_grouping_with_a_code(chat: Chat) -> None:
    r = await chat.api.get("/api/v1/revenue", params={"group_by": "xyz"})
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_request" and r.json()["errors"][0]["field"] == (
        "query.group_by"
    )
