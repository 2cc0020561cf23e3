"""Ledger throughput and balance-read cost, on PostgreSQL and SQLite.

Prints, for each database, in one run with the same driver and 8 concurrent writers (the
first three measured in alternating slices, ``common.alternate``, so the machine's drift
spreads evenly over them):
- the floor: plain single-row INSERTs into a one-column table, one durable commit each;
- uniform transfers between random business accounts (one transfer per transaction);
- "hot" transfers that also credit the one platform-fee account;
- the cost of reading an account's balance at 10 000 and at 1 000 000 entries.
Targets (issue 2): uniform ≥ 0.35 × floor on PostgreSQL, ≥ 0.5 × on SQLite;
hot ≥ 0.8 × uniform; balance read at 1 000 000 entries ≤ 1.1 × at 10 000.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import text

from common import Rate, alternate, fresh_databases, verdict
from fareroom.bootstrap import bootstrap
from fareroom.config import Settings
from fareroom.kit.db import transaction
from fareroom.ledger.service import AccountRef, Ledger, platform
from seed import series_sql

WRITERS = 8
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
SLICES = int(os.environ.get("FAREROOM_BENCH_SLICES", "6"))
ACCOUNTS = 1_000


async def measure(kind: str, url: str) -> dict[str, float]:
    ctx = bootstrap(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    sessions = ctx.sessions
    async with ctx.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS bench_floor (v INTEGER)"))
    # Accounts exist before timing, as they would in a running platform.
    refs = [AccountRef("client_wallet", "EUR", None, f"c{i}") for i in range(ACCOUNTS)]
    fee = platform("platform_fee_revenue", "EUR")
    async with transaction(sessions) as s:
        ledger = Ledger(s, ctx.clock)
        for ref in [*refs, fee]:
            await ledger.account(ref)

    async def floor(w: int, i: int) -> None:
        async with transaction(sessions) as s:
            await s.execute(text("INSERT INTO bench_floor (v) VALUES (:v)"), {"v": i})

    def pair() -> tuple[AccountRef, AccountRef]:
        a, b = random.sample(refs, 2)
        return a, b

    async def uniform(w: int, i: int) -> None:
        a, b = pair()
        async with transaction(sessions) as s:
            await Ledger(s, ctx.clock, ctx.ledger_accounts).post(
                kind="bench", reference="u", currency="EUR", legs=[(a, 100), (b, -100)]
            )

    async def hot(w: int, i: int) -> None:
        a, b = pair()
        async with transaction(sessions) as s:
            await Ledger(s, ctx.clock, ctx.ledger_accounts).post(
                kind="bench", reference="h", currency="EUR", legs=[(a, 110), (b, -100), (fee, -10)]
            )

    sides = {name: Rate(op, WRITERS) for name, op in
             (("floor", floor), ("uniform", uniform), ("hot", hot))}  # fmt: skip
    await alternate(list(sides.values()), SECONDS, SLICES)
    out = {name: side.rate for name, side in sides.items()}
    out.update(await balance_reads(ctx, kind))
    async with transaction(sessions) as s:
        problems = await Ledger(s, ctx.clock).verify()
    out["verify_problems"] = len(problems)
    await ctx.close()
    return out


async def _bulk_entries(ctx: object, account_id: int, other_id: int, n: int, kind: str) -> None:
    """Append ``n`` entries of 1 to one account, balanced by one entry of -n on another,
    quickly (set-up, not timed), keeping both balances equal to their entries."""
    engine = ctx.engine  # type: ignore[attr-defined]
    when = datetime(2026, 1, 1) if kind == "sqlite" else datetime(2026, 1, 1, tzinfo=UTC)
    tid = f"tr_bulk_{account_id}"
    series = series_sql(kind)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO ledger_transfers (id, business_id, kind, reference, currency, "
                "event_at, created_at) VALUES (:tid, NULL, 'bench', 'bulk', 'EUR', :t, :t)"
            ),
            {"tid": tid, "t": when},
        )
        await conn.execute(
            text(
                f"INSERT INTO ledger_entries (transfer_id, account_id, amount) "
                f"SELECT :tid, :acc, 1 FROM ({series}) AS g"
            ),
            {"tid": tid, "acc": account_id, "n": n},
        )
        await conn.execute(
            text(
                "INSERT INTO ledger_entries (transfer_id, account_id, amount) "
                "VALUES (:tid, :acc, :amt)"
            ),
            {"tid": tid, "acc": other_id, "amt": -n},
        )
        for acc, amt in ((account_id, n), (other_id, -n)):
            await conn.execute(
                text(
                    "UPDATE ledger_balances SET balance = balance + :amt "
                    "WHERE account_id = :acc AND shard = 0"
                ),
                {"amt": amt, "acc": acc},
            )


async def balance_reads(ctx: object, kind: str) -> dict[str, float]:
    sessions = ctx.sessions  # type: ignore[attr-defined]
    clock = ctx.clock  # type: ignore[attr-defined]
    small, large, other = (
        AccountRef("client_wallet", "EUR", None, name) for name in ("small", "large", "other")
    )
    async with transaction(sessions) as s:
        ids = [(await Ledger(s, clock).account(r)).id for r in (small, large, other)]
    await _bulk_entries(ctx, ids[0], ids[2], 10_000, kind)
    await _bulk_entries(ctx, ids[1], ids[2], 1_000_000, kind)
    # Settle the database after the bulk load, so autovacuum does not run during the timing.
    async with ctx.engine.connect() as conn:  # type: ignore[attr-defined]
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE" if kind == "postgresql" else "ANALYZE"))

    async def read_many(ref: AccountRef, n: int = 2_000) -> float:
        async with transaction(sessions) as s:
            ledger = Ledger(s, clock, ctx.ledger_accounts)  # type: ignore[attr-defined]
            start = time.perf_counter()
            for _ in range(n):
                await ledger.balance(ref)
            return (time.perf_counter() - start) / n

    await read_many(small, 200)
    await read_many(large, 200)
    t_small, t_large = float("inf"), float("inf")
    for _ in range(5):  # interleaved, best of five: the figures see the same conditions
        t_small = min(t_small, await read_many(small))
        t_large = min(t_large, await read_many(large))
    async with transaction(sessions) as s:
        assert await Ledger(s, clock).balance(large) == -1_000_000  # credit-normal wallet
    return {"read_10k_us": t_small * 1e6, "read_1m_us": t_large * 1e6}


def main() -> None:
    urls = fresh_databases("ledger")
    print(f"# bench/ledger.py — {WRITERS} concurrent writers, {SECONDS:.0f} s per figure in "
          f"{SLICES} alternating slices")  # fmt: skip
    for kind, url in urls.items():
        r = asyncio.run(measure(kind, url))
        target = 0.35 if kind == "postgresql" else 0.5
        u, h = r["uniform"] / r["floor"], r["hot"] / r["uniform"]
        read = r["read_1m_us"] / r["read_10k_us"]
        print(f"\n[{kind}]")
        print(f"  floor (1-row INSERT, durable commit): {r['floor']:9.0f} /s")
        print(
            f"  uniform transfers:                    {r['uniform']:9.0f} /s"
            f"   ratio to floor {u:.2f}  (target >= {target}: {verdict(u >= target)})"
        )
        print(
            f"  hot transfers (+ platform fee acct):  {r['hot']:9.0f} /s"
            f"   ratio to uniform {h:.2f}  (target >= 0.8: {verdict(h >= 0.8)})"
        )
        print(f"  balance read at 10 000 entries:       {r['read_10k_us']:9.1f} us")
        print(
            f"  balance read at 1 000 000 entries:    {r['read_1m_us']:9.1f} us"
            f"   ratio {read:.2f}  (target <= 1.1: {verdict(read <= 1.1)})"
        )
        print(f"  ledger verify after the run:          {int(r['verify_problems'])} problems")


if __name__ == "__main__":
    main()
