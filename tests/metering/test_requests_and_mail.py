"""Payment requests in chat (docs/design.md §6) and the receipts and notifications they send."""

from __future__ import annotations

import asyncio
import email
from pathlib import Path
from typing import Any

from fareroom.bootstrap import Context
from fareroom.mail.outbox import SmtpSender, deliver_pending
from tests.metering.conftest import Chat
from tests.metering.test_scenarios import net_of
from tests.support.smtp import SmtpInbox


async def _request(chat: Chat, room: dict, client: dict, category: str, **extra: Any) -> Any:
    return await chat.api.post("/api/v1/payment-requests", json={
        "room_id": room["id"], "agent_id": chat.t.owner_id, "client_id": client["id"],
        "category": category, "items": [
            {"description": "Consultation", "quantity": 2, "unit_price": 2500},
            {"description": "Report", "quantity": 1, "unit_price": 1000}], **extra})  # fmt: skip


async def test_a_service_request_is_paid_with_a_10_percent_fee_and_marked_started_and_finished(
    chat: Chat,
) -> None:
    room, client = await chat.room(), await chat.t.client()
    r = await _request(chat, room, client, "service", total=6000)
    assert r.status_code == 201, r.text
    req = r.json()
    assert (req["total"], req["status"], req["currency"]) == (6000, "open", "EUR")
    r = await chat.api.post(f"/api/v1/payment-requests/{req['id']}/pay", json={})
    assert r.status_code == 200, r.text
    paid = r.json()
    payment = (await chat.api.get(f"/api/v1/payments/{paid['payment_id']}")).json()
    assert (payment["amount_captured"], payment["platform_fee"]) == (6000, 600)
    assert await chat.balance() == net_of(6000)
    again = await chat.api.post(f"/api/v1/payment-requests/{req['id']}/pay", json={})
    assert (again.status_code, again.json()["code"]) == (409, "payment_request_not_open")
    finish = await chat.api.post(f"/api/v1/payment-requests/{req['id']}/service-finish")
    assert (finish.status_code, finish.json()["code"]) == (409, "service_not_started")
    started = await chat.api.post(f"/api/v1/payment-requests/{req['id']}/service-start")
    assert started.json()["service_started_at"] is not None
    chat.advance(600)
    done = (await chat.api.post(f"/api/v1/payment-requests/{req['id']}/service-finish")).json()
    assert done["service_finished_at"] > done["service_started_at"]
    await chat.ledger_ok()


async def test_a_goods_request_has_a_4_percent_fee_and_no_service_marks(chat: Chat) -> None:
    room, client = await chat.room(), await chat.t.client()
    req = (await _request(chat, room, client, "goods")).json()
    paid = (await chat.api.post(f"/api/v1/payment-requests/{req['id']}/pay")).json()
    payment = (await chat.api.get(f"/api/v1/payments/{paid['payment_id']}")).json()
    assert (payment["amount_captured"], payment["platform_fee"]) == (6000, 240)
    r = await chat.api.post(f"/api/v1/payment-requests/{req['id']}/service-start")
    assert (r.status_code, r.json()["code"]) == (409, "not_a_service")


async def test_a_request_whose_total_is_not_its_lines_is_refused(chat: Chat) -> None:
    room, client = await chat.room(), await chat.t.client()
    r = await _request(chat, room, client, "service", total=5999)
    assert (r.status_code, r.json()["code"], r.json()["computed"]) == (422, "total_mismatch", 6000)
    r = await _request(chat, room, client, "food")
    assert r.status_code == 422
    assert (await chat.api.get("/api/v1/payment-requests")).json()["data"] == []


async def test_receipts_and_agent_notifications_are_written_as_eml_files(
    chat: Chat, ctx: Context, tmp_path: Path
) -> None:
    from fareroom.mail.outbox import FileSender

    session = await chat.open(await chat.room())
    chat.advance(301)
    await chat.event(session, "hangup")
    sent = await deliver_pending(ctx.sessions, FileSender(tmp_path), ctx.clock,
                                 mail_from="Fareroom <no-reply@example.com>")  # fmt: skip
    assert sent >= 2
    files = await asyncio.to_thread(lambda: [p.read_bytes() for p in tmp_path.glob("*.eml")])
    mails = [email.message_from_bytes(data) for data in files]
    mine = [m for m in mails if m["From"].startswith(f"{chat.t.business.name} via Fareroom ")]
    assert sorted(m["To"] for m in mine) == sorted(["a@example.com", chat.t.owner_email])
    receipt = next(m for m in mine if m["To"] == "a@example.com")
    assert "11.00 EUR" in receipt["Subject"] and "11.00 EUR" in receipt.get_payload()
    again = await deliver_pending(ctx.sessions, FileSender(tmp_path), ctx.clock,
                                  mail_from="x@example.com")  # fmt: skip
    assert again == 0  # each mail is sent once


async def test_mail_goes_through_a_real_smtp_server_when_one_is_configured(
    chat: Chat, ctx: Context
) -> None:
    inbox = SmtpInbox()
    await asyncio.to_thread(inbox.start)
    try:
        room, client = await chat.room(), await chat.t.client()
        req = (await _request(chat, room, client, "goods")).json()
        await chat.api.post(f"/api/v1/payment-requests/{req['id']}/pay")
        sender = SmtpSender("127.0.0.1", inbox.port)
        await deliver_pending(ctx.sessions, sender, ctx.clock,
                              mail_from="Fareroom <shop@example.com>")  # fmt: skip
    finally:
        await asyncio.to_thread(inbox.stop)
    sender = f"{chat.t.business.name} via Fareroom <shop@example.com>"
    mine = [m for m in inbox.messages if m["From"] == sender]
    assert {m["To"] for m in mine} == {"a@example.com", chat.t.owner_email}
    assert all("60.00 EUR" in m.get_payload() for m in mine)
