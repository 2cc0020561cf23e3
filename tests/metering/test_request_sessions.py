"""A payment request sent in a chat belongs to an open session of the business, with the
request's client: whoever creates it (the API here; the console's socket in
tests/chat/test_request_frames.py)."""

from __future__ import annotations

from typing import Any

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from tests.conftest import Tenant
from tests.metering.conftest import Chat


async def _request(chat: Chat, room: dict, client: dict, session_id: str) -> Any:
    return await chat.api.post("/api/v1/payment-requests", json={
        "room_id": room["id"], "agent_id": chat.t.owner_id, "client_id": client["id"],
        "session_id": session_id, "category": "service",
        "items": [{"description": "Consultation", "quantity": 1, "unit_price": 2500}]})  # fmt: skip


async def _refused(chat: Chat, room: dict, client: dict, session_id: str) -> tuple[int, str]:
    r = await _request(chat, room, client, session_id)
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert r.json()["detail"]
    assert (await chat.api.get("/api/v1/payment-requests")).json()["data"] == []
    return r.status_code, r.json()["code"]


async def test_a_request_names_an_open_session_of_its_own_client(chat: Chat) -> None:
    room, client = await chat.room(), await chat.t.client()
    session = await chat.open(room, client)
    r = await _request(chat, room, client, session["id"])
    assert r.status_code == 201 and r.json()["session_id"] == session["id"]


async def test_a_session_that_does_not_exist_is_not_found(chat: Chat) -> None:
    room, client = await chat.room(), await chat.t.client()
    assert await _refused(chat, room, client, "ses_doesnotexist") == (404, "session_not_found")


async def test_another_businesss_session_is_as_unknown_as_a_missing_one(
    chat: Chat, other_tenant: Tenant, ctx: Context, clock: FrozenClock
) -> None:
    theirs = Chat(other_tenant, ctx, clock)
    their_session = await theirs.open(await theirs.room())
    room, client = await chat.room(), await chat.t.client()
    assert await _refused(chat, room, client, their_session["id"]) == (404, "session_not_found")
    assert (await theirs.api.get("/api/v1/payment-requests")).json()["data"] == []


async def test_an_ended_session_takes_no_request(chat: Chat) -> None:
    room, client = await chat.room(), await chat.t.client()
    session = await chat.open(room, client)
    await chat.event(session, "hangup")
    assert await _refused(chat, room, client, session["id"]) == (409, "session_ended")


async def test_another_clients_session_takes_no_request_for_this_client(chat: Chat) -> None:
    room = await chat.room()
    session = await chat.open(room, await chat.t.client("Ada"))
    grace = await chat.t.client("Grace")
    assert await _refused(chat, room, grace, session["id"]) == (422, "session_client_mismatch")
