"""Metered sessions end to end through the API on the frozen clock, with exact amounts,
collections, fees and ledger balances (docs/design.md §5)."""

from __future__ import annotations

from datetime import timedelta

from fareroom.bootstrap import Context
from tests.metering.conftest import Chat

FAILS_ON_CHARGE = "4000000000000341"  # attaches to the client, every charge is declined


def net_of(amount: int) -> int:
    """What the business keeps of a captured amount: 10 % service fee, 2.9 % + 0.30."""
    platform = (amount * 10 + 50) // 100
    processing = (amount * 29 + 500) // 1000 + 30
    return amount - platform - processing


async def test_a_session_within_the_free_minutes_costs_nothing_and_releases_the_hold(
    chat: Chat,
) -> None:
    room = await chat.room({"free_minutes": 2, "block_minutes": 10, "block_price": 500,
                            "preauth_amount": 1000})  # fmt: skip
    session = await chat.open(room)
    assert session["status"] == "open" and session["meter"] == "running"
    assert session["terms"] == "You pay per minute as shown."
    chat.advance(100)
    ended = await chat.event(session, "hangup")
    assert (ended["status"], ended["seconds"], ended["price"], ended["collected"]) == (
        "paid", 100, 0, 0)  # fmt: skip
    [hold] = await chat.payments(session)
    assert hold["status"] == "canceled" and hold["amount_captured"] == 0
    assert await chat.balance() == 0
    await chat.ledger_ok()


async def test_a_40_second_disconnection_is_not_charged(chat: Chat) -> None:
    session = await chat.open(await chat.room())
    chat.advance(120)
    await chat.event(session, "offline", "client")
    chat.advance(40)
    state = await chat.event(session, "online", "client")
    assert state["seconds"] == 120
    chat.advance(200)
    ended = await chat.event(session, "hangup")
    # 320 s: the 5-minute block (10.00) and one 30-s increment begun (1.00)
    assert (ended["seconds"], ended["price"], ended["collected"], ended["due"]) == (
        320, 1100, 1100, 0)  # fmt: skip
    [payment] = await chat.payments(session)
    assert payment["amount_captured"] == 1100 and payment["platform_fee"] == 110
    assert payment["processing_fee"] == 62 and payment["net"] == 1100 - 110 - 62
    assert await chat.balance() == net_of(1100)
    await chat.ledger_ok()


async def test_an_offline_noticed_late_counts_from_when_it_happened(chat: Chat) -> None:
    session = await chat.open(await chat.room())
    chat.advance(100)
    chat.advance(30)  # the heartbeat stopped 30 s ago; the offline is noticed only now
    state = await chat.event(
        session, "offline", "agent", at=chat.clock.now() - timedelta(seconds=30)
    )
    assert state["seconds"] == 100 and state["meter"] == "offline"


async def test_a_party_offline_for_91_seconds_ends_the_session_and_it_is_charged(
    chat: Chat, ctx: Context
) -> None:
    session = await chat.open(await chat.room())
    chat.advance(400)
    await chat.event(session, "offline", "agent")
    chat.advance(90)
    await ctx.meters.sweep_timeouts()
    assert (await chat.get(session))["status"] == "open"  # 90 s is not longer than 90 s
    chat.advance(1)
    await ctx.meters.sweep_timeouts()
    ended = await chat.get(session)
    assert (ended["status"], ended["end_reason"], ended["seconds"]) == ("paid", "timeout", 400)
    assert ended["price"] == 1000 + 4 * 100 and ended["collected"] == 1400
    assert await chat.balance() == net_of(1400)
    await chat.ledger_ok()


async def test_a_long_session_is_collected_in_parts_that_add_up_to_the_whole_price(
    chat: Chat, ctx: Context
) -> None:
    room = await chat.room({**{"block_minutes": 5, "block_price": 1000},
                            "preauth_amount": 2000, "split_threshold": 3000})  # fmt: skip
    session = await chat.open(room)
    for _ in range(120):  # an hour, one tick per increment
        chat.advance(30)
        await ctx.meters.tick()
        state = await chat.get(session)
        assert state["due"] < 3000 + 100  # never more than the threshold at risk
    ended = await chat.event(session, "hangup")
    assert (ended["seconds"], ended["price"]) == (3600, 12000)
    collections = await chat.collections(session)
    assert [c["status"] for c in collections] == ["succeeded"] * len(collections)
    assert len(collections) >= 4 and collections[-1]["reason"] == "final"
    assert sum(c["amount"] for c in collections) == 12000 == ended["collected"]
    # the first split: 30.00 due at 900 s, less the 0.50 kept back: the 20.00 hold captured,
    # 9.50 charged, a fresh hold placed
    first = collections[0]
    assert (first["reason"], first["amount"], first["capture_amount"], first["charge_amount"]) == (
        "split", 2950, 2000, 950)  # fmt: skip
    payments = await chat.payments(session)
    captured = [p["amount_captured"] for p in payments if p["status"] == "succeeded"]
    assert sum(captured) == 12000
    assert [p["status"] for p in payments].count("requires_capture") == 0
    assert await chat.balance() == sum(net_of(a) for a in captured)
    await chat.ledger_ok()


async def test_a_declined_final_charge_is_paid_with_a_second_card(chat: Chat) -> None:
    client = await chat.t.client()
    session = await chat.open(await chat.room({**{"block_minutes": 5, "block_price": 1000},
                                               "preauth_amount": 1000}), client)  # fmt: skip
    bad = await chat.t.card(client["id"], FAILS_ON_CHARGE)
    r = await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/card",
                            json={"card_id": bad["id"]})  # fmt: skip
    assert r.status_code == 200, r.text
    chat.advance(600)
    failed = await chat.event(session, "hangup")
    # 20.00: the 10.00 hold is captured, the other 10.00 is declined on the new card
    assert (failed["status"], failed["price"], failed["collected"], failed["due"]) == (
        "payment_failed", 2000, 1000, 1000)  # fmt: skip
    good = await chat.t.card(client["id"])
    r = await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/card",
                            json={"card_id": good["id"]})  # fmt: skip
    paid = r.json()
    assert (paid["status"], paid["collected"], paid["due"]) == ("paid", 2000, 0)
    statuses = [c["status"] for c in await chat.collections(session)]
    assert statuses == ["failed", "succeeded"]
    captured = sorted(p["amount_captured"] for p in await chat.payments(session))
    assert captured == [1000, 1000]
    assert await chat.balance() == 2 * net_of(1000)
    # the declined attempt is in the request log
    log = (await chat.api.get("/api/v1/gateway-requests", params={"limit": 100})).json()["data"]
    assert any(e["error_type"] == "PaymentDeclined" for e in log), log
    await chat.ledger_ok()


async def test_an_abandoned_session_leaves_exactly_the_unpaid_amount_as_debt(chat: Chat) -> None:
    client = await chat.t.client()
    session = await chat.open(await chat.room({**{"block_minutes": 5, "block_price": 1000},
                                               "preauth_amount": 1000}), client)  # fmt: skip
    bad = await chat.t.card(client["id"], FAILS_ON_CHARGE)
    await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/card", json={"card_id": bad["id"]})
    chat.advance(331)  # 12.00
    failed = await chat.event(session, "hangup")
    assert (failed["status"], failed["due"]) == ("payment_failed", 200)
    r = await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/abandon")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["abandoned"], r.json()["due"]) == ("abandoned", 200, 0)
    assert await chat.balance("abandoned_debt") == 200
    assert await chat.balance("client_receivable", client["id"]) == 200
    assert await chat.balance() == net_of(1000)
    again = await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/abandon")
    assert again.status_code == 409 and await chat.balance("abandoned_debt") == 200
    await chat.ledger_ok()


async def test_neither_control_the_meter_runs_from_connection_to_hang_up(chat: Chat) -> None:
    session = await chat.open(await chat.room())
    chat.advance(61)
    assert (await chat.get(session))["seconds"] == 61
    r = await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/events",
                            json={"kind": "pause"})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (403, "pause_not_allowed")


async def test_agent_may_start_the_meter_waits_for_the_start(chat: Chat) -> None:
    session = await chat.open(await chat.room(agent_may_start=True))
    assert session["meter"] == "waiting"
    chat.advance(50)
    assert (await chat.get(session))["seconds"] == 0
    await chat.event(session, "start")
    chat.advance(20)
    assert (await chat.get(session))["seconds"] == 20
    ended = await chat.event(session, "hangup")
    assert (ended["price"], ended["collected"]) == (1000, 1000)


async def test_agent_may_pause_a_paused_span_is_not_charged(chat: Chat) -> None:
    session = await chat.open(await chat.room(agent_may_pause=True))
    chat.advance(300)
    await chat.event(session, "pause")
    chat.advance(600)
    assert (await chat.get(session))["meter"] == "paused"
    await chat.event(session, "resume")
    chat.advance(1)
    ended = await chat.event(session, "hangup")
    assert (ended["seconds"], ended["price"]) == (301, 1100)


async def test_a_failed_split_collection_ends_the_session_and_the_hold_still_pays_its_part(
    chat: Chat, ctx: Context
) -> None:
    client = await chat.t.client()
    room = await chat.room({**{"block_minutes": 5, "block_price": 1000},
                            "preauth_amount": 2000, "split_threshold": 3000})  # fmt: skip
    session = await chat.open(room, client)
    bad = await chat.t.card(client["id"], FAILS_ON_CHARGE)
    await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/card", json={"card_id": bad["id"]})
    chat.advance(900)  # 30.00 due: the threshold
    await ctx.meters.tick()
    state = await chat.get(session)
    # the fresh hold on the new card is declined: the session stops there, the old hold is
    # captured (20.00) and the other 10.00 is due
    assert (state["status"], state["end_reason"], state["meter"]) == (
        "payment_failed", "payment_failed", "ended")  # fmt: skip
    assert (state["price"], state["collected"], state["due"]) == (3000, 2000, 1000)
    chat.advance(600)
    assert (await chat.get(session))["price"] == 3000  # the meter stopped with the session
    good = await chat.t.card(client["id"])
    r = await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/card",
                            json={"card_id": good["id"]})  # fmt: skip
    assert (r.json()["status"], r.json()["collected"]) == ("paid", 3000)
    assert await chat.balance() == net_of(2000) + net_of(1000)
    await chat.ledger_ok()


async def test_an_agents_own_tariff_replaces_the_rooms_where_the_room_allows_it(
    chat: Chat,
) -> None:
    own = {"block_minutes": 10, "block_price": 3000, "preauth_amount": 3000}
    r = await chat.api.put(f"/api/v1/agents/{chat.t.owner_id}/tariff", json={"tariff": own})
    assert r.status_code == 200, r.text
    allowing, standard = await chat.room(agents_own_tariff=True), await chat.room()
    mine = await chat.open(allowing)
    theirs = await chat.open(standard)
    assert mine["tariff"]["block_price"] == 3000 and theirs["tariff"]["block_price"] == 1000
    # a tariff changed later does not change what an open session's client accepted
    dearer = {**own, "block_price": 9000, "preauth_amount": 9000}
    r = await chat.api.put(f"/api/v1/agents/{chat.t.owner_id}/tariff", json={"tariff": dearer})
    assert r.status_code == 200
    chat.advance(60)
    ended = await chat.event(mine, "hangup")
    assert (ended["price"], ended["collected"]) == (3000, 3000)
    r = await chat.api.put("/api/v1/agents/usr_nobody/tariff", json={"tariff": own})
    assert (r.status_code, r.json()["code"]) == (404, "agent_not_found")
