"""The ``fareroom`` command line, run as a person runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from fareroom.config import Settings


def _fareroom(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAREROOM_DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "fareroom", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_create_business_prints_an_api_key_that_works(settings: Settings, http: Any) -> None:
    done = _fareroom(
        settings,
        "create-business",
        "Cli Co",
        "--owner-email",
        f"cli-{os.getpid()}@example.com",
        "--owner-password",
        "long enough pw",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    assert made["business_id"].startswith("biz_") and made["api_key"].startswith("fr_")
    r = await http.get("/api/v1/balance", headers={"Authorization": f"Bearer {made['api_key']}"})
    assert r.status_code == 200


def test_create_business_with_a_short_password_fails_clearly(settings: Settings) -> None:
    done = _fareroom(
        settings,
        "create-business",
        "X",
        "--owner-email",
        "x@example.com",
        "--owner-password",
        "short",
    )
    assert done.returncode == 2 and "weak_password" in done.stderr
