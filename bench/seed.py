"""Bulk history for the benchmarks: what ``n`` captured payments leave behind.

Per payment: the payment row, a ledger transfer with its five entries (balances moved to
match, so ``verify`` stays clean), five gateway log rows, and the sandbox's charge and
idempotency objects. Written with set-based SQL (generate_series on PostgreSQL, a recursive
CTE on SQLite): set-up, never timed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from fareroom.bootstrap import sandbox_database_url
from fareroom.kit.db import create_engine


def series_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return "SELECT generate_series(1, :n) AS i"
    return (
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
        "SELECT i FROM s"
    )


def _pad(dialect: str, expr: str) -> str:
    return f"lpad({expr}::text, 8, '0')" if dialect == "postgresql" else f"printf('%08d', {expr})"


async def _one(conn: AsyncConnection, sql: str, **params: object) -> object:
    return (await conn.execute(text(sql), params)).scalar_one()


async def seed(url: str, business_id: str, n: int) -> None:
    engine = create_engine(url)
    dialect = engine.dialect.name
    when = datetime(2026, 1, 1, tzinfo=UTC) if dialect == "postgresql" else datetime(2026, 1, 1)
    series, pad = series_sql(dialect), _pad(dialect, "g.i")
    async with engine.begin() as conn:
        client_id, card_id = (
            await conn.execute(
                text("SELECT client_id, id FROM cards WHERE business_id = :b LIMIT 1"),
                {"b": business_id},
            )
        ).one()
        await conn.execute(
            text(
                "INSERT INTO payments (id, business_id, client_id, card_id, currency, category, "
                "description, status, amount, amount_captured, amount_refunded, platform_fee, "
                "processing_fee, business_net, gateway_charge_id, created_at, updated_at) "
                f"SELECT 'pay_00seed' || {pad}, :b, :c, :card, 'EUR', 'service', '', 'succeeded', "
                f"10000, 10000, 0, 1000, 320, 8680, 'ch_00seed' || {pad}, :t, :t FROM ({series}) g"
            ),
            {"b": business_id, "c": client_id, "card": card_id, "t": when, "n": n},
        )
        await conn.execute(
            text(
                "INSERT INTO ledger_transfers (id, business_id, kind, reference, currency, "
                f"event_at, created_at) SELECT 'tr_00seed' || {pad}, :b, 'payment_captured', "
                f"'pay_00seed' || {pad}, 'EUR', :t, :t FROM ({series}) g"
            ),
            {"b": business_id, "t": when, "n": n},
        )
        legs = {
            "platform:gateway_funds:EUR": 9_680,
            "platform:processing_fees:EUR": 320,
            "platform:platform_fee_revenue:EUR": -1_000,
            f"{business_id}:business_balance:EUR": -8_680,
            "platform:processing_fees_recharged:EUR": -320,
        }
        for key, amount in legs.items():
            account = await _one(conn, "SELECT id FROM ledger_accounts WHERE key = :k", k=key)
            await conn.execute(
                text(
                    "INSERT INTO ledger_entries (transfer_id, account_id, amount) "
                    f"SELECT 'tr_00seed' || {pad}, :a, :amt FROM ({series}) g"
                ),
                {"a": account, "amt": amount, "n": n},
            )
            await conn.execute(
                text(
                    "UPDATE ledger_balances SET balance = balance + :d "
                    "WHERE account_id = :a AND shard = 0"
                ),
                {"d": amount * n, "a": account},
            )
        for op in ("create_customer", "attach_card", "create_charge", "capture", "refund"):
            await conn.execute(
                text(
                    "INSERT INTO gateway_requests (id, business_id, gateway, operation, reference, "
                    "idempotency_key, request_summary, outcome, latency_ms, created_at) "
                    f"SELECT 'greq_00seed_{op}_' || {pad}, :b, 'sandbox', :op, '', "
                    f"'payment:pay_00seed' || {pad}, '{{}}', 'ok', 3, :t FROM ({series}) g"
                ),
                {"b": business_id, "op": op, "t": when, "n": n},
            )
    await engine.dispose()
    sandbox = create_engine(sandbox_database_url(url))
    async with sandbox.begin() as conn:
        for kind, prefix in (("charge", "ch_00seed"), ("idempotency", "idem:create_charge:seed")):
            await conn.execute(
                text(
                    "INSERT INTO sandbox_objects (id, kind, data, amount, created_at) "
                    f"SELECT '{prefix}' || {pad}, :k, '{{}}', 10000, :t FROM ({series}) g"
                ),
                {"k": kind, "t": when, "n": n},
            )
    await sandbox.dispose()
