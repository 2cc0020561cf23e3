"""The demo business that `make run` seeds."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from fareroom.app import create_app
from fareroom.bootstrap import bootstrap
from fareroom.cli import migrate
from fareroom.config import Settings
from fareroom.demo import seed


async def test_the_demo_room_has_settings_its_own_page_does_not_warn_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/demo.sqlite3"
    monkeypatch.setenv("FAREROOM_DATABASE_URL", url)
    monkeypatch.setenv("FAREROOM_MAIL_DIR", str(tmp_path / "mail"))
    migrate(url)
    made = await seed()
    ctx = bootstrap(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    try:
        transport = httpx.ASGITransport(app=create_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            r = await api.get("/api/v1/chat-rooms",
                              headers={"Authorization": f"Bearer {made['api_key']}"})  # fmt: skip
    finally:
        await ctx.close()
    assert r.status_code == 200, r.text
    (room,) = r.json()["data"]
    assert room["warnings"] == []
    assert room["tariff"]["split_threshold"] <= room["tariff"]["preauth_amount"]
