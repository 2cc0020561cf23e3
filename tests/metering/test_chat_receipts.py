"""One receipt per chat, sent when it is settled, from the business, naming no internal
ids; a payment request paid outside a chat keeps a receipt of its own."""

from __future__ import annotations

import asyncio
import email
import re
from email.message import Message
from pathlib import Path

from fareroom.bootstrap import Context
from fareroom.kit.ids import new_id
from fareroom.mail.outbox import FileSender, Outbox, deliver_pending
from tests.metering.conftest import Chat
from tests.metering.test_scenarios import FAILS_ON_CHARGE

INTERNAL_ID = re.compile(r"\b(cs|ses|pay|preq|col|cli|card|vis|room)_\w+")
SPLITS = {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000,
          "split_threshold": 3000}  # fmt: skip


async def _mails(chat: Chat, ctx: Context, folder: Path) -> list[Message]:
    """Every mail of this test's business, sent now as .eml files."""
    while await deliver_pending(ctx.sessions, FileSender(folder), ctx.clock,
                                mail_from="Fareroom <no-reply@example.com>"):  # fmt: skip
        pass
    files = await asyncio.to_thread(lambda: [p.read_bytes() for p in folder.glob("*.eml")])
    mails = [email.message_from_bytes(data) for data in files]
    return [m for m in mails if m["From"].startswith(f"{chat.t.business.name} via Fareroom ")]


def _to(mails: list[Message], address: str) -> list[Message]:
    return [m for m in mails if m["To"] == address]


def _text(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def _request(chat: Chat, session: dict) -> dict:
    r = await chat.api.post("/api/v1/payment-requests", json={
        "room_id": session["room_id"], "agent_id": chat.t.owner_id,
        "client_id": session["client_id"], "session_id": session["id"], "category": "goods",
        "items": [{"description": "Workbook", "quantity": 2, "unit_price": 1250}]})  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_a_chat_with_two_split_collections_and_a_request_sends_one_receipt_of_it_all(
    chat: Chat, ctx: Context, tmp_path: Path
) -> None:
    session = await chat.open(await chat.room(SPLITS))
    for _ in range(60):  # 30 minutes, a tick per increment: two splits
        chat.advance(30)
        await ctx.meters.tick()
    assert [c["reason"] for c in await chat.collections(session)] == ["split", "split"]
    request = await _request(chat, session)
    paid = await chat.api.post(f"/api/v1/payment-requests/{request['id']}/pay", json={})
    assert paid.status_code == 200, paid.text
    chat.advance(15)
    ended = await chat.event(session, "hangup")
    assert ended["status"] == "paid" and ended["price"] == 6100
    await ctx.meters.settle(session["id"])  # the end processed again: nothing more is sent

    mails = await _mails(chat, ctx, tmp_path)
    [receipt] = _to(mails, "a@example.com")
    [revenue] = _to(mails, chat.t.owner_email)
    assert receipt["From"] == f"{chat.t.business.name} via Fareroom <no-reply@example.com>"
    assert receipt["Subject"] == f"Your receipt from {chat.t.business.name}: 86.00 EUR"
    text = _text(receipt)
    assert "Chat: Advice, with " in text
    assert "30:15 in all, 30:15 charged by the minute" in text
    # the two splits (29.50 and 30.00), the final 1.50, and the request: 61.00 + 25.00
    for line in ("Chat time:", "29.50 EUR, Visa •••• 4242", "30.00 EUR, Visa •••• 4242",
                 "1.50 EUR, Visa •••• 4242", "2 × Workbook: 25.00 EUR, Visa •••• 4242",
                 "Total paid: 86.00 EUR"):  # fmt: skip
        assert line in text, line
    assert "Total paid: 86.00 EUR" in _text(revenue) and "net to the business" in _text(revenue)
    for mail in (receipt, revenue):
        assert not INTERNAL_ID.search(_text(mail) + mail["Subject"]), _text(mail)


async def _failed_final_charge(chat: Chat) -> tuple[dict, dict]:
    """A 20.00 chat whose card is switched to one that cannot be charged: of the final
    collection, the 10.00 hold is captured and the other 10.00 declined."""
    client = await chat.t.client()
    session = await chat.open(await chat.room({**SPLITS, "preauth_amount": 1000}), client)
    bad = await chat.t.card(client["id"], FAILS_ON_CHARGE)
    await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/card", json={"card_id": bad["id"]})
    chat.advance(600)
    assert (await chat.event(session, "hangup"))["status"] == "payment_failed"
    return client, session


async def test_a_failed_final_charge_sends_the_receipt_once_it_is_paid_with_another_card(
    chat: Chat, ctx: Context, tmp_path: Path
) -> None:
    client, session = await _failed_final_charge(chat)
    assert _to(await _mails(chat, ctx, tmp_path), "a@example.com") == []  # not settled yet

    good = await chat.t.card(client["id"], "5555555555554444")
    r = await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/card",
                            json={"card_id": good["id"]})  # fmt: skip
    assert r.json()["status"] == "paid"
    [receipt] = _to(await _mails(chat, ctx, tmp_path), "a@example.com")
    text = _text(receipt)
    assert "10.00 EUR, Visa •••• 4242" in text  # the hold on the first card, captured
    assert "10.00 EUR, Mastercard •••• 4444" in text and "Total paid: 20.00 EUR" in text


async def test_an_abandoned_chat_sends_one_receipt_with_what_was_left_unpaid(
    chat: Chat, ctx: Context, tmp_path: Path
) -> None:
    _, session = await _failed_final_charge(chat)
    r = await chat.api.post(f"/api/v1/chat-sessions/{session['id']}/abandon")
    assert r.json()["status"] == "abandoned"
    [receipt] = _to(await _mails(chat, ctx, tmp_path), "a@example.com")
    assert "Total paid: 10.00 EUR\nLeft unpaid: 10.00 EUR" in _text(receipt)


async def test_a_chat_that_ends_before_anything_is_due_says_there_is_nothing_to_pay(
    chat: Chat, ctx: Context, tmp_path: Path
) -> None:
    session = await chat.open(await chat.room(SPLITS, agent_may_start=True))
    chat.advance(20)
    assert (await chat.event(session, "hangup"))["collected"] == 0
    [receipt] = _to(await _mails(chat, ctx, tmp_path), "a@example.com")
    assert "Nothing to pay: the hold on your card was released." in _text(receipt)
    assert receipt["Subject"].endswith(": 0.00 EUR")


async def test_a_request_paid_outside_a_chat_or_after_it_gets_a_receipt_of_its_own(
    chat: Chat, ctx: Context, tmp_path: Path
) -> None:
    session = await chat.open(await chat.room(SPLITS))
    chat.advance(60)
    after = await _request(chat, session)  # sent in the chat, paid once it is settled
    await chat.event(session, "hangup")  # the chat is settled: its receipt has gone
    r = await chat.api.post(f"/api/v1/payment-requests/{after['id']}/pay", json={})
    assert r.status_code == 200, r.text
    mails = _to(await _mails(chat, ctx, tmp_path), "a@example.com")
    assert sorted(m["Subject"].rsplit(": ", 1)[1] for m in mails) == ["10.00 EUR", "25.00 EUR"]
    own = next(m for m in mails if m["Subject"].endswith("25.00 EUR"))
    assert "2 × Workbook: 25.00 EUR, Visa •••• 4242" in _text(own)
    assert not INTERNAL_ID.search(_text(own))


async def test_a_mail_queued_twice_under_one_key_is_written_once(ctx: Context) -> None:
    key = new_id("key")
    async with ctx.unit_of_work() as s:
        outbox = Outbox(s.session, ctx.clock)
        first = await outbox.queue(business_id=None, to="a@example.com", subject="Hi", body="x",
                                   kind="receipt", reference=key, unique_key=key)  # fmt: skip
        again = await outbox.queue(business_id=None, to="a@example.com", subject="Hi",
                                   body="y", kind="receipt", reference=key,
                                   unique_key=key)  # fmt: skip
        assert again.id == first.id and again.body == "x"
        assert len(await outbox.for_reference(key)) == 1
