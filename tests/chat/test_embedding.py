"""Which sites may show a room's client page in a frame: the room's own list, set through
the API or the room form; every other page may be framed by nobody."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Tenant
from tests.support.pages import form_token, sign_in

ROOM = {"name": "Advice", "terms": "Pay by the minute.",
        "tariff": {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}}  # fmt: skip


def _frame_ancestors(r: httpx.Response) -> str:
    directives = dict(
        d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";")
    )
    return directives["frame-ancestors"]


async def test_a_rooms_chat_page_may_be_framed_only_by_the_sites_it_lists(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    sites = ["https://shop.example", "https://*.example.com", "http://localhost:8080"]
    r = await tenant.api.post("/api/v1/chat-rooms", json={**ROOM, "embed_origins": sites})
    assert r.status_code == 201, r.text
    room = r.json()
    assert room["embed_origins"] == sites
    page = await http.get(f"/chat/{room['id']}")
    assert page.status_code == 200
    assert _frame_ancestors(page) == " ".join(sites)
    assert "x-frame-options" not in page.headers
    assert page.headers["x-content-type-options"] == "nosniff"
    cleared = await tenant.api.patch(f"/api/v1/chat-rooms/{room['id']}", json={"embed_origins": []})
    assert cleared.json()["embed_origins"] == []
    page = await http.get(f"/chat/{room['id']}")
    assert _frame_ancestors(page) == "'none'" and page.headers["x-frame-options"] == "DENY"


async def test_a_room_without_sites_is_framed_by_nobody_but_its_button_opens_a_window(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    room = (await tenant.api.post("/api/v1/chat-rooms", json=ROOM)).json()
    page = await http.get(f"/chat/{room['id']}")
    assert _frame_ancestors(page) == "'none'" and page.headers["x-frame-options"] == "DENY"
    embed = await http.get(f"/chat/{room['id']}/embed.js")
    assert embed.status_code == 200 and "window.open(url" in embed.text


NOT_ORIGINS = ["https://shop.example/chat", "shop.example", "ftp://shop.example",
               "https://shop.*.example", "javascript:alert(1)", "*",
               "https://shop.example; script-src *", "https://a.example?x=1"]  # fmt: skip


@pytest.mark.parametrize("site", NOT_ORIGINS)
async def test_a_site_that_is_not_an_origin_is_refused_and_nothing_changes(
    tenant: Tenant, site: str
) -> None:
    r = await tenant.api.post("/api/v1/chat-rooms", json={**ROOM, "embed_origins": [site]})
    assert r.status_code == 422 and r.json()["code"] == "invalid_embed_origin", r.text
    assert "origin" in r.json()["detail"]
    room = (await tenant.api.post("/api/v1/chat-rooms", json=ROOM)).json()
    bad = await tenant.api.patch(f"/api/v1/chat-rooms/{room['id']}",
                                 json={"name": "Renamed", "embed_origins": [site]})  # fmt: skip
    assert bad.status_code == 422
    again = (await tenant.api.get(f"/api/v1/chat-rooms/{room['id']}")).json()
    assert again["name"] == "Advice" and again["embed_origins"] == []


async def test_the_room_form_sets_the_sites_allowed_to_frame_the_chat(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    room = (await tenant.api.post("/api/v1/chat-rooms", json=ROOM)).json()
    await sign_in(http, tenant.owner_email, tenant.password)
    url = f"/dashboard/rooms/{room['id']}"
    form = {"csrf": form_token((await http.get(url)).text), "name": "Advice",
            "terms": "Pay by the minute.", "block_price": "10.00", "block_minutes": "5",
            "free_minutes": "0", "increment_seconds": "30", "preauth_amount": "20.00",
            "split_threshold": "", "distribution": "round_robin",
            "embed_origins": "https://Shop.example/\r\nhttps://blog.example"}  # fmt: skip
    saved = await http.post(url, data=form)
    assert saved.status_code == 303 and saved.headers["location"].endswith("notice=room_saved")
    shown = await http.get(saved.headers["location"])
    assert "https://shop.example\nhttps://blog.example</textarea>" in shown.text
    assert "The room was saved." in shown.text
    page = await http.get(f"/chat/{room['id']}")
    assert _frame_ancestors(page) == "https://shop.example https://blog.example"
    refused = await http.post(url, data={**form, "embed_origins": "https://shop.example/path"})
    assert refused.status_code == 422 and "is not a site" in refused.text
