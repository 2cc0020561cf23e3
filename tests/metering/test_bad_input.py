"""Bad input gets a clear 4xx with a machine-readable code and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.metering.conftest import TARIFF, Chat


async def _events(chat: Chat, session: dict) -> list[dict]:
    r = await chat.api.get(f"/api/v1/chat-sessions/{session['id']}/events")
    return list(r.json()["data"])


async def _refused(chat: Chat, session: dict, body: dict[str, Any], status: int, code: str,
                   api: Any = None) -> None:  # fmt: skip
    before = await _events(chat, session)
    r = await (api or chat.api).post(f"/api/v1/chat-sessions/{session['id']}/events", json=body)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert r.json()["detail"]  # a sentence for a person
    assert await _events(chat, session) == before


async def test_events_for_a_session_of_another_business_are_not_found(
    chat: Chat, other_tenant: Tenant
) -> None:
    session = await chat.open(await chat.room())
    await _refused(chat, session, {"kind": "hangup"}, 404, "session_not_found",
                   api=other_tenant.api)  # fmt: skip
    r = await other_tenant.api.get(f"/api/v1/chat-sessions/{session['id']}")
    assert r.status_code == 404
    assert (await chat.get(session))["status"] == "open"


async def test_meter_events_that_make_no_sense_are_refused(chat: Chat) -> None:
    session = await chat.open(await chat.room(agent_may_start=True))
    now = chat.clock.now()
    await _refused(chat, session, {"kind": "pause"}, 403, "pause_not_allowed")
    await _refused(chat, session, {"kind": "fly"}, 422, "invalid_event")
    await _refused(chat, session, {"kind": "offline", "party": "boss"}, 422, "invalid_request")
    await _refused(chat, session, {"kind": "offline"}, 422, "invalid_party")
    await _refused(chat, session, {"kind": "start", "at": (now + timedelta(minutes=5)).isoformat()},
                   422, "event_in_future")  # fmt: skip
    await _refused(chat, session, {"kind": "start", "at": (now - timedelta(hours=1)).isoformat()},
                   422, "event_before_session")  # fmt: skip
    await _refused(chat, session, {"kind": "start", "at": "2026-01-01T10:00:00"}, 422,
                   "invalid_request")  # a time without a zone  # fmt: skip
    chat.advance(10)
    await chat.event(session, "start")
    chat.advance(10)
    await _refused(chat, session, {"kind": "start"}, 409, "meter_already_started")
    late = (chat.clock.now() - timedelta(seconds=15)).isoformat()
    await _refused(chat, session, {"kind": "hangup", "at": late}, 409, "event_out_of_order")
    await chat.event(session, "hangup")
    await _refused(chat, session, {"kind": "hangup"}, 409, "session_ended")


async def test_pausing_needs_the_room_to_allow_it(chat: Chat) -> None:
    session = await chat.open(await chat.room())
    await _refused(chat, session, {"kind": "pause"}, 403, "pause_not_allowed")
    await _refused(chat, session, {"kind": "start"}, 403, "start_not_allowed")
    paused = await chat.open(await chat.room(agent_may_pause=True))
    await _refused(chat, paused, {"kind": "resume"}, 409, "meter_not_paused")


@pytest.mark.parametrize(
    ("tariff", "code", "field"),
    [
        ({**TARIFF, "block_minutes": 0}, "invalid_tariff", "block_minutes"),
        ({**TARIFF, "block_minutes": "five"}, "invalid_tariff", "block_minutes"),
        ({**TARIFF, "block_price": -100}, "invalid_tariff", "block_price"),
        ({**TARIFF, "increment_seconds": 0}, "invalid_tariff", "increment_seconds"),
        ({**TARIFF, "free_minutes": -1}, "invalid_tariff", "free_minutes"),
        ({**TARIFF, "preauth_amount": 1.5}, "invalid_tariff", "preauth_amount"),
        ({**TARIFF, "split_threshold": 500}, "split_threshold_below_minimum", "split_threshold"),
        ({**TARIFF, "currency": "XXX"}, "unsupported_currency", None),
    ],
)
async def test_a_tariff_with_nonsense_values_is_refused(
    chat: Chat, tariff: dict, code: str, field: str | None
) -> None:
    before = (await chat.api.get("/api/v1/chat-rooms")).json()["data"]
    r = await chat.api.post("/api/v1/chat-rooms", json={"name": "R", "terms": "T",
                                                         "tariff": tariff})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (422, code), r.text
    if field:
        assert r.json()["field"] == field
    assert (await chat.api.get("/api/v1/chat-rooms")).json()["data"] == before


async def test_a_fee_heavy_split_threshold_is_warned_about(chat: Chat) -> None:
    room = await chat.room({**TARIFF, "block_price": 100, "split_threshold": 200})
    codes = {w["code"] for w in room["warnings"]}
    assert "split_threshold_fee_heavy" in codes
    assert "processing fees" in room["warnings"][0]["message"].lower()


async def test_no_session_without_accepted_terms_or_a_hold(chat: Chat) -> None:
    room = await chat.room()
    client = await chat.t.client(number="4000000000000341")  # attaches, cannot be charged
    body = {"room_id": room["id"], "agent_id": chat.t.owner_id, "client_id": client["id"]}
    r = await chat.api.post("/api/v1/chat-sessions", json={**body, "accepted_terms": False})
    assert (r.status_code, r.json()["code"]) == (422, "terms_not_accepted")
    r = await chat.api.post("/api/v1/chat-sessions", json={**body, "accepted_terms": True})
    assert (r.status_code, r.json()["code"]) == (402, "card_declined"), r.text
    no_card = await chat.t.client(number=None)
    r = await chat.api.post("/api/v1/chat-sessions", json={
        **body, "client_id": no_card["id"], "accepted_terms": True})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (422, "card_required")
    assert (await chat.api.get("/api/v1/chat-sessions")).json()["data"] == []


async def test_an_agent_outside_the_room_cannot_take_its_chats(chat: Chat) -> None:
    room = await chat.room(agent_ids=[])
    client = await chat.t.client()
    r = await chat.api.post("/api/v1/chat-sessions", json={
        "room_id": room["id"], "agent_id": chat.t.owner_id, "client_id": client["id"],
        "accepted_terms": True})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (422, "agent_not_in_room")
