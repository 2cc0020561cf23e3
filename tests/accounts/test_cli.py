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


def _fareroom_with(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAREROOM_")}
    return subprocess.run([sys.executable, "-m", "fareroom", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_stripe_without_a_key_is_one_sentence_and_a_failure_for_every_command() -> None:
    for command in ("serve", "migrate", "demo"):
        done = _fareroom_with({"FAREROOM_GATEWAY": "stripe"}, command)
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.strip() == (
            "fareroom: FAREROOM_GATEWAY=stripe needs FAREROOM_STRIPE_SECRET_KEY (sk_…)."
        ), command
        assert "Traceback" not in done.stderr


def test_each_bad_setting_is_named_in_a_sentence_without_a_traceback() -> None:
    done = _fareroom_with(
        {"FAREROOM_GATEWAY": "paypal", "FAREROOM_PRESENCE_TIMEOUT_SECONDS": "soon"}, "migrate"
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "FAREROOM_GATEWAY='paypal' is not valid" in done.stderr
    assert "FAREROOM_PRESENCE_TIMEOUT_SECONDS='soon' is not valid" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
