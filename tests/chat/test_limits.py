"""The pages' sockets are bounded: chat messages per page (10 in 10 s), every frame of a
socket (60 in 10 s, pings included), and the time a socket may take to say hello."""

from __future__ import annotations

import asyncio
import dataclasses

from fareroom.app import create_app
from fareroom.bootstrap import Context
from tests.chat.conftest import Live, Socket
from tests.chat.test_realtime import _connected
from tests.support.servers import uvicorn_here


def _messages(seen: list[dict], party: str) -> list[dict]:
    return [m for m in seen if m.get("type") == "message" and m["party"] == party]


async def _closed_with(sock: Socket) -> int | None:
    """The code the server closed the socket with (it must, within a few seconds)."""
    await asyncio.wait_for(sock.ws.wait_closed(), 5)
    return sock.ws.close_code


async def test_a_page_flooding_messages_is_refused_with_rate_limited_and_then_closed(
    live: Live,
) -> None:
    agent, console, page, welcome, session = await _connected(live)
    for n in range(15):
        await page.send(type="message", text=f"buy now {n}", ref=f"m{n}")
    errors = [await page.expect("error") for _ in range(5)]
    assert {e["code"] for e in errors} == {"rate_limited"}
    assert [e["ref"] for e in errors] == [f"m{n}" for n in range(10, 15)]
    assert errors[0]["retry_after"] == 10 and "too fast" in errors[0]["message"]
    got = _messages(console.seen + await console.quiet(), "client")
    assert [m["text"] for m in got] == [f"buy now {n}" for n in range(10)]

    for n in range(100):  # it keeps on: past the socket's frame budget it is closed
        if page.ws.close_code is not None:
            break
        await page.send(type="message", text=f"more {n}")
    assert await _closed_with(page) == 1008
    r = await live.t.api.get(f"/api/v1/chat-sessions/{session['id']}")
    assert r.json()["status"] == "open"  # the chat itself goes on


async def test_a_page_flooding_heartbeats_is_closed(live: Live) -> None:
    agent, console, page, welcome, session = await _connected(live)
    for _ in range(100):
        if page.ws.close_code is not None:
            break
        await page.send(type="ping")
    assert await _closed_with(page) == 1008


async def test_a_socket_that_never_says_hello_is_closed(ctx: Context) -> None:
    quick = dataclasses.replace(ctx, settings=ctx.settings.model_copy(
        update={"ws_hello_seconds": 0.2}))  # fmt: skip
    async with uvicorn_here(create_app(quick, watch=False), quick.settings) as url:
        live = Live(None, quick, None, url)  # type: ignore[arg-type]
        try:
            sock = await live.socket("/ws/client")
            refused = await sock.expect("error")
            assert refused["code"] == "hello_expected"
            assert await _closed_with(sock) == 4400
        finally:
            await live.close()


async def test_cards_given_in_the_chat_count_as_card_attempts_and_stop_reaching_the_gateway(
    live: Live,
) -> None:
    _, _, _, welcome, session = await _connected(live)
    token = {"X-Visit-Token": welcome["token"]}
    answers = []
    for _ in range(4):  # the hold was the room's first card attempt from this address
        card = {"token": await live.card_token("4242424242424242")}
        r = await live.http.post("/chat/api/visit/session-card", headers=token, json=card)
        answers.append(r.status_code)
    assert 429 not in answers, answers
    logged = len((await live.t.api.get("/api/v1/gateway-requests",
                                       params={"limit": 100})).json()["data"])  # fmt: skip
    r = await live.http.post("/chat/api/visit/session-card", headers=token,
                             json={"token": await live.card_token("4242424242424242")})  # fmt: skip
    assert r.status_code == 429 and r.json()["code"] == "rate_limited", r.text
    assert r.json()["detail"].startswith("Too many cards were tried from your address.")
    after = (await live.t.api.get("/api/v1/gateway-requests", params={"limit": 100})).json()
    assert len(after["data"]) == logged


async def test_paying_payment_requests_from_one_address_is_limited(live: Live) -> None:
    _, console, page, welcome, session = await _connected(live)
    book = {"description": "Book", "quantity": 1, "unit_price": 900}
    await console.send(type="payment_request", session=session["id"], category="goods",
                       items=[book])  # fmt: skip
    sent = (await page.expect("payment_request"))["request"]
    pay = f"/chat/api/visit/requests/{sent['id']}/pay"
    token = {"X-Visit-Token": welcome["token"]}
    codes = [(await live.http.post(pay, headers=token)).status_code for _ in range(10)]
    assert codes == [200] + [409] * 9  # paid once; the others found it paid
    r = await live.http.post(pay, headers=token)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited", r.text
    assert r.json()["detail"].startswith("Too many payments were tried from your address.")
