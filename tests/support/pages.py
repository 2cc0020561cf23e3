"""Signing in through the sign-in page as a browser does: the page first (it sets the form's
pre-session cookie), then the form with its token."""

from __future__ import annotations

import re

import httpx

_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def form_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def sign_in(http: httpx.AsyncClient, email: str, password: str,
                  **headers: str) -> httpx.Response:  # fmt: skip
    token = form_token((await http.get("/login")).text)
    data = {"email": email, "password": password, "csrf": token}
    return await http.post("/login", data=data, headers=headers)
