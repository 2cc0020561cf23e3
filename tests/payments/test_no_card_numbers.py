"""No card number is stored or logged, in any table of either store or in any log line."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from fareroom.bootstrap import Context
from fareroom.gateway.testcards import TEST_CARDS
from fareroom.kit.db import Base
from tests.conftest import Tenant


async def _dump(ctx: Context) -> str:
    engines = [ctx.engine] + ([ctx.sandbox_engine] if ctx.sandbox_engine else [])
    out = []
    for engine in engines:
        async with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                rows = (await conn.execute(text(f"SELECT * FROM {table.name}"))).all()
                out.extend(repr(tuple(r)) for r in rows)
    return "\n".join(out)


async def test_test_card_numbers_appear_in_no_table_and_no_log(
    tenant: Tenant, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # log every SQL parameter
    try:
        client = await tenant.client(number=None)
        for number in TEST_CARDS:
            token = await tenant.token(number)
            await tenant.api.post(f"/api/v1/clients/{client['id']}/cards", json={"token": token})
        await tenant.pay(client["id"], 1_000)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    dump = await _dump(ctx)
    assert "4242" in dump  # the last 4 digits are kept, so the search can see card data
    logs = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert "INSERT INTO" in logs  # the SQL log was captured
    for number in TEST_CARDS:
        assert number not in dump, f"{number} stored"
        assert number not in logs, f"{number} logged"
