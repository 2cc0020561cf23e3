"""What a page is sent in its URL or a form is checked like the API's input: a NUL, a
control character or an id longer than ours is a 4xx with a code and a sentence, never a
500 (PostgreSQL refuses NUL bytes and over-long ids; SQLite stores them) and never a write."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Tenant
from tests.support.pages import form_token, sign_in


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert any(words in r.text for words in ("must be an id", "control characters", "at most 40"))


async def test_a_sign_in_with_a_nul_in_the_email_is_a_wrong_sign_in(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    for email in ("a\x00@example.com", tenant.owner_email + "\x00", "\x01" * 300):
        r = await sign_in(http, email, tenant.password)
        assert r.status_code == 401, (email, r.status_code)
        assert "The email or password is wrong." in r.text


@pytest.mark.parametrize("path", [
    "/dashboard?after=pay_%00", "/dashboard?before=pay%01x", "/dashboard?after=" + "p" * 41,
    "/dashboard/payments/pay_%00/refund", "/dashboard/rooms/room_%00",
    "/chat/room_%00", "/chat/room_%00/embed.js",
])  # fmt: skip
async def test_ids_in_page_urls_are_checked(http: httpx.AsyncClient, tenant: Tenant,
                                            path: str) -> None:  # fmt: skip
    await sign_in(http, tenant.owner_email, tenant.password)
    _refused(await http.get(path))


@pytest.mark.parametrize("fields", [
    {"refund_id": "re_" + "x" * 40}, {"refund_id": "re_\x00"}, {"reason": "a\x00b"},
    {"after": "pay_\x00"}, {"before": "x" * 41},
])  # fmt: skip
async def test_the_refund_form_refuses_nul_bytes_and_long_ids_and_refunds_nothing(
    http: httpx.AsyncClient, tenant: Tenant, fields: dict[str, str]
) -> None:
    client = await tenant.client()
    paid = (await tenant.pay(client["id"], 5_000)).json()
    await sign_in(http, tenant.owner_email, tenant.password)
    csrf = form_token((await http.get("/dashboard")).text)
    r = await http.post(f"/dashboard/payments/{paid['id']}/refund",
                        data={"csrf": csrf, "amount": "1.00", **fields})  # fmt: skip
    _refused(r)
    assert (await tenant.api.get(f"/api/v1/payments/{paid['id']}")).json()["amount_refunded"] == 0


@pytest.mark.parametrize("fields", [
    {"name": "Tax\x00"}, {"terms": "Pay\x00"}, {"away_message": "Back\x00"},
    {"agent_ids": "usr_\x00"}, {"embed_origins": "https://a.example\x00"},
])  # fmt: skip
async def test_the_room_form_refuses_nul_bytes_and_saves_nothing(
    http: httpx.AsyncClient, tenant: Tenant, fields: dict[str, str]
) -> None:
    await sign_in(http, tenant.owner_email, tenant.password)
    csrf = form_token((await http.get("/dashboard/rooms/new")).text)
    form = {"csrf": csrf, "name": "Tax advice", "terms": "Pay by the minute.",
            "block_price": "12.50", "block_minutes": "5", "free_minutes": "1",
            "increment_seconds": "30", "preauth_amount": "25.00", **fields}  # fmt: skip
    r = await http.post("/dashboard/rooms/new", data=form)
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert "may not contain control characters." in r.text or \
        "Choose the agents from the list." in r.text  # fmt: skip
    assert (await tenant.api.get("/api/v1/chat-rooms")).json()["data"] == []
