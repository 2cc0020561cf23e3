"""Every route of the application, for every role and for nobody, against the roles table
(docs/roles.md): a page or form of a role the table refuses answers 403, one it allows does
not (whatever else it answers: a missing id is a 404); nobody signed in is sent to sign in;
every API endpoint answers 401 without a key. A route the table does not name fails."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from fareroom.bootstrap import Context
from tests.conftest import Tenant
from tests.support.pages import form_token, sign_in

ROLES = ("owner", "admin", "finance", "host", "agent")
FINANCE = {"owner", "admin", "finance"}
MANAGERS = {"owner", "admin"}
HOSTS = {"owner", "admin", "host", "agent"}
AGENTS = {"owner", "admin", "agent"}
PASSWORD = "roles table 2026 ok"

# (methods, path pattern, who): the first that matches a route is its rule. "public": no
# sign-in needed; "api": an API key; "signed_in": any role; a set: those roles.
TABLE: list[tuple[str, str, Any]] = [
    ("*", r"^/api/v1/register/", "public"),  # a paid meeting's registration page's own API
    ("*", r"^/api/v1/", "api"),
    ("*", r"^/(sandbox|webhooks)/", "public"),
    ("*", r"^/(chat|r|m)/", "public"),
    ("*", r"^/(login|healthz|docs|redoc|openapi\.json|static/.*|_bench/counters)?$", "public"),
    ("POST", r"^/logout$", "signed_in"),
    ("*", r"^/dashboard/meetings/(settings|groups)", MANAGERS),
    ("*", r"^/dashboard/rooms", MANAGERS),
    ("*", r"^/dashboard/(meetings|registrations|notifications)", HOSTS),
    ("*", r"^/meetings/", HOSTS),
    ("*", r"^/console", AGENTS),
    ("*", r"^/dashboard", FINANCE),
]


def _routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for top in app.routes:
        for route in getattr(getattr(top, "original_router", None), "routes", [top]):
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD":
                    found.append((method, route.path))
    return sorted(set(found))


def _rule(method: str, path: str) -> Any:
    for methods, pattern, who in TABLE:
        if methods in ("*", method) and re.search(pattern, path):
            return who
    raise AssertionError(f"{method} {path} is in no row of the roles table (docs/roles.md)")


def _concrete(path: str) -> str:
    """A path's parameters filled in with ids nobody has."""
    return re.sub(r"\{(\w+)\}", lambda m: "stop" if m.group(1) == "action" else "zz_missing", path)


async def _request(web: httpx.AsyncClient, method: str, path: str, csrf: str) -> httpx.Response:
    if method == "GET":
        return await web.get(path)
    return await web.request(method, path, data={"csrf": csrf, "amount": "1", "reason": "x"},
                             files={"file": ("a.csv", b"", "text/csv")})  # fmt: skip


async def _signed_in(ctx: Context, t: Tenant, role: str) -> tuple[httpx.AsyncClient, str]:
    if role == "owner":
        email, password = t.owner_email, t.password
    else:
        email, password = f"{role}-{uuid.uuid4().hex[:8]}@example.com", PASSWORD
        async with ctx.unit_of_work() as s:
            await s.accounts.add_user(t.id, email=email, password=password, role=role)
    web = httpx.AsyncClient(transport=t.api._transport, base_url="http://testserver")
    login = await sign_in(web, email, password)
    assert login.status_code == 303, login.text
    web.cookies.update(login.cookies)
    home = await web.get(login.headers["location"])
    assert home.status_code == 200, (role, home.status_code)
    return web, form_token(home.text)


def test_every_route_is_in_the_roles_table(app: Any) -> None:
    routes = _routes(app)
    assert len(routes) > 100
    for method, path in routes:
        _rule(method, path)


async def test_every_page_and_form_admits_the_roles_the_table_names_and_refuses_the_rest(
    ctx: Context, app: Any, tenant: Tenant
) -> None:
    pages = [(m, p) for m, p in _routes(app) if isinstance(_rule(m, p), set)
             or _rule(m, p) == "signed_in"]  # fmt: skip
    assert len(pages) > 40
    wrong = []
    for role in ROLES:
        web, csrf = await _signed_in(ctx, tenant, role)
        for method, path in pages:
            if path == "/logout":
                continue  # it would end this session; it is walked below, last
            allowed = _rule(method, path)
            r = await _request(web, method, _concrete(path), csrf)
            refused = r.status_code == 403
            if refused == (allowed == "signed_in" or role in allowed):
                wrong.append(f"{role} {method} {path}: {r.status_code}")
        out = await web.post("/logout", data={"csrf": csrf})
        assert out.status_code == 303
        await web.aclose()
    assert wrong == [], "\n".join(wrong)


async def test_nobody_signed_in_is_sent_to_sign_in_and_no_api_answers_without_a_key(
    app: Any, http: httpx.AsyncClient
) -> None:
    wrong = []
    for method, path in _routes(app):
        who = _rule(method, path)
        if who == "public":
            continue
        r = await _request(http, method, _concrete(path), "")
        if who == "api":
            ok = r.status_code == 401
        else:  # a page or form sends them to sign in; what a page's script reads says 401
            ok = (r.status_code == 303 and r.headers["location"] == "/login"
                  or r.status_code == 401 and path.endswith((".json", "/progress")))  # fmt: skip
        if not ok:
            wrong.append(f"{method} {path}: {r.status_code}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("role", ["host"])
async def test_a_host_starts_at_their_meeting_rooms(ctx: Context, tenant: Tenant,
                                                    role: str) -> None:  # fmt: skip
    web, _ = await _signed_in(ctx, tenant, role)
    home = await web.get("/")
    assert home.headers["location"] == "/dashboard/meetings"
    assert (await web.get("/console")).status_code == 403
    assert (await web.get("/dashboard")).status_code == 403
    await web.aclose()
