"""Which passwords are accepted, what sign-in costs for an unknown email, and what adding a
user says about addresses used elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher

from fareroom.bootstrap import Context
from fareroom.kit.errors import ValidationFailed
from tests.accounts.test_cli import _fareroom
from tests.conftest import Tenant
from tests.support.pages import sign_in

WEAK = {
    "whitespace": " " * 12,
    "too_short": "Xk9#qv2!",
    "trivial": "aaaaaaaaaaaa",
    "contains_email": "my-{local}-rocks",
    "common": "PASSWORD123",
}
TRIVIAL = ["abcdefghijkl", "9876543210", "ababababab", "1231231231"]


def _user(tenant: Tenant, password: str, role: str = "admin") -> dict[str, Any]:
    return {"email": f"weak-{tenant.id}@example.com", "password": password, "role": role}


@pytest.mark.parametrize("reason", list(WEAK))
async def test_a_weak_password_is_refused_for_a_new_user_saying_why(
    tenant: Tenant, reason: str
) -> None:
    password = WEAK[reason].format(local=f"weak-{tenant.id}")
    r = await tenant.api.post("/api/v1/users", json=_user(tenant, password))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "weak_password" and body["reason"] == reason
    assert body["detail"].endswith(".")
    emails = [u["email"] for u in (await tenant.api.get("/api/v1/users")).json()["data"]]
    assert emails == [tenant.owner_email]


@pytest.mark.parametrize("password", TRIVIAL)
async def test_runs_and_repeated_patterns_are_refused(tenant: Tenant, password: str) -> None:
    r = await tenant.api.post("/api/v1/users", json=_user(tenant, password, "agent"))
    assert r.status_code == 422 and r.json()["reason"] == "trivial"


async def test_a_password_equal_to_the_email_is_refused(tenant: Tenant) -> None:
    email = f"weak-{tenant.id}@example.com"
    r = await tenant.api.post("/api/v1/users", json=_user(tenant, email.upper()))
    assert r.status_code == 422 and r.json()["reason"] == "contains_email"


async def test_a_long_uncommon_password_is_accepted(tenant: Tenant) -> None:
    r = await tenant.api.post("/api/v1/users", json=_user(tenant, "plum kettle orbit 42"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("reason", ["whitespace", "common", "contains_email"])
def test_the_command_line_refuses_a_weak_owner_password(settings: Any, reason: str) -> None:
    email = f"cli-weak-{reason}@example.com"
    password = WEAK[reason].format(local=f"cli-weak-{reason}")
    done = _fareroom(settings, "create-business", "Weak Co", "--owner-email", email,
                     "--owner-password", password)  # fmt: skip
    assert done.returncode == 2 and "weak_password" in done.stderr, done.stderr


async def test_a_new_business_refuses_a_weak_owner_password(ctx: Context) -> None:
    with pytest.raises(ValidationFailed) as refused:
        async with ctx.unit_of_work() as s:
            await s.accounts.create_business(name="Weak", owner_email="boss@weak.example",
                                             owner_password="password1234")  # fmt: skip
    assert refused.value.code == "weak_password"
    async with ctx.unit_of_work() as s:
        assert await s.accounts.user_by_email("boss@weak.example") is None


class CountingHasher(PasswordHasher):
    """argon2 as it is, counting the verifications it runs."""

    verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        self.verified += 1
        return super().verify(hash, password)


async def test_signing_in_with_an_unknown_email_does_the_same_hashing_as_a_wrong_password(
    http: Any, tenant: Tenant, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingHasher()
    monkeypatch.setattr(ctx.passwords, "hasher", counting)
    known = await sign_in(http, tenant.owner_email, "not the password")
    after_known = counting.verified
    unknown = await sign_in(http, f"nobody-{tenant.id}@example.com", "not the password")
    assert after_known == 1 and counting.verified - after_known == 1
    assert known.status_code == unknown.status_code == 401
    assert known.text.replace(tenant.owner_email, "X") == unknown.text.replace(
        f"nobody-{tenant.id}@example.com", "X")  # fmt: skip


async def test_adding_a_user_whose_email_another_business_uses_says_no_more_than_for_its_own(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    password = "plum kettle orbit 42"
    mine = f"mine-{tenant.id}@example.com"
    assert (await tenant.api.post("/api/v1/users", json={
        "email": mine, "password": password, "role": "agent"})).status_code == 201  # fmt: skip
    own = await tenant.api.post("/api/v1/users", json={
        "email": mine, "password": password, "role": "agent"})  # fmt: skip
    elsewhere = await tenant.api.post("/api/v1/users", json={
        "email": other_tenant.owner_email, "password": password, "role": "agent"})  # fmt: skip
    assert own.status_code == elsewhere.status_code == 409
    assert own.json() == elsewhere.json()
    assert own.json()["code"] == "email_unavailable"
