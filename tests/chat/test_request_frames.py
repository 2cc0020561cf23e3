"""The console's ``payment_request`` frame: a frame that is not a valid request is refused
with a code and a sentence, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chat.conftest import Live, Socket
from tests.chat.test_realtime import _connected

ITEM = {"description": "Workbook", "quantity": 1, "unit_price": 1250}


@pytest.mark.parametrize("change", [
    {"items": [{**ITEM, "colour": "red"}]},
    {"items": ["a"]},
    {"items": [{**ITEM, "quantity": "1"}]},
    {"items": "a"},
    {"category": "gift"},
    {"total": "1250"},
    {"discount": 100},
])  # fmt: skip
async def test_an_invalid_payment_request_frame_is_refused_and_writes_nothing(
    live: Live, change: dict[str, Any]
) -> None:
    _, console, page, _, session = await _connected(live)
    frame = {"session": session["id"], "category": "goods", "items": [ITEM], **change}
    await console.send(type="payment_request", ref="r1", **frame)
    error = await console.expect("error")
    assert (error["code"], error["ref"]) == ("invalid_payment_request", "r1")
    assert error["message"].startswith("A payment request is not valid")
    assert (await live.t.api.get("/api/v1/payment-requests")).json()["data"] == []
    assert not [m for m in await page.quiet() if m.get("type") == "payment_request"]
    await _hang_up(console, session["id"])


@pytest.mark.parametrize("items", [[{**ITEM, "quantity": 0}], [], [ITEM] * 51])
async def test_a_payment_request_frame_breaking_a_rule_of_lines_gets_the_services_sentence(
    live: Live, items: list[Any]
) -> None:
    _, console, page, _, session = await _connected(live)
    await console.send(type="payment_request", ref="r2", session=session["id"],
                       category="goods", items=items)  # fmt: skip
    error = await console.expect("error")
    assert (error["code"], error["ref"]) == ("invalid_line_items", "r2")
    assert "line" in error["message"].lower()
    assert (await live.t.api.get("/api/v1/payment-requests")).json()["data"] == []
    await _hang_up(console, session["id"])


async def _hang_up(console: Socket, session_id: str) -> None:
    """End the chat (no session is left open for later tests' sweeps to collect)."""
    await console.send(type="hangup", session=session_id)
    await console.session(lambda s: s["id"] == session_id and s["status"] != "open")


async def test_an_ended_chat_takes_no_payment_request_from_the_console(live: Live) -> None:
    _, console, page, _, session = await _connected(live)
    await _hang_up(console, session["id"])
    await console.send(type="payment_request", session=session["id"], category="goods",
                       items=[ITEM])  # fmt: skip
    assert (await console.expect("error"))["code"] == "session_ended"
    assert (await live.t.api.get("/api/v1/payment-requests")).json()["data"] == []
