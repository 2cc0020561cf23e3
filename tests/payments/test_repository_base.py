"""The repository base every domain's repository derives from (``kit.repository``)."""

from __future__ import annotations

from sqlalchemy import update

from fareroom.bootstrap import Context
from fareroom.kit.db import transaction
from fareroom.kit.repository import Repository
from fareroom.models.client import Client
from tests.conftest import Tenant


async def test_a_row_of_another_business_reads_as_missing(
    tenant: Tenant, other_tenant: Tenant, ctx: Context
) -> None:
    client = await tenant.client(number=None)
    async with transaction(ctx.sessions) as session:
        repo = Repository(session)
        found = await repo.of_business(Client, tenant.id, client["id"])
        assert found is not None and found.name == "Ada"
        assert await repo.of_business(Client, other_tenant.id, client["id"]) is None
        assert await repo.of_business(Client, other_tenant.id, client["id"], lock=True) is None


async def test_a_locked_read_sees_the_row_as_the_database_has_it_now(
    tenant: Tenant, ctx: Context
) -> None:
    client = await tenant.client(number=None)
    async with transaction(ctx.sessions) as session:
        repo = Repository(session)
        first = await repo.of_business(Client, tenant.id, client["id"])
        assert first is not None
        # Changed behind the session's back (as another transaction would have done it
        # before this one took its lock).
        change = update(Client).where(Client.id == first.id).values(name="Bo")
        await session.execute(change.execution_options(synchronize_session=False))
        assert (await repo.of_business(Client, tenant.id, first.id)).name == "Ada"  # type: ignore[union-attr]
        locked = await repo.of_business(Client, tenant.id, first.id, lock=True)
        assert locked is first and locked.name == "Bo"


async def test_a_business_rows_come_newest_first_a_page_at_a_time(
    tenant: Tenant, other_tenant: Tenant, ctx: Context
) -> None:
    made = [(await tenant.client(name=f"C{n}", number=None))["id"] for n in range(5)]
    await other_tenant.client(number=None)
    async with transaction(ctx.sessions) as session:
        repo = Repository(session)
        first = await repo.newest_first(Client, tenant.id, limit=3)
        rest = await repo.newest_first(Client, tenant.id, limit=3, starting_after=first[-1].id)
        named = await repo.newest_first(Client, tenant.id, Client.name == "C1", limit=3)
    assert [c.id for c in first + rest] == made[::-1]
    assert [c.id for c in named] == [made[1]]
