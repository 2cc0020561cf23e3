"""Benchmark: the dashboard's charts and customer search with a small and a big business.

Two businesses in one PostgreSQL database: a small one (1 000 customers, 10 000 payments)
and a big one (``FAREROOM_BENCH_DASHBOARD_CUSTOMERS`` customers, 100 000 by default, and ten
payments each: 1 000 000), their payments spread over the last year, seeded with set-based
SQL together with the daily figures the product keeps beside them (``daily_stats``, as each
capture and new client counts itself). Then, signed in as each business's owner, the
dashboard's pages are asked for in alternating slices (one worker each, the same window):

- the overview's charts by day, by week and by month (``/dashboard/overview``);
- the customer search by the start of a name and of an email (``/dashboard/customers?q=``).

Printed per page: requests per second and the median time for both businesses, the big
one's time over the small one's (target <= 2), and the CPU per request (this process and
PostgreSQL's backends).

    .venv/bin/python bench/dashboard.py [seconds]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from typing import Any

import httpx
from sqlalchemy import text

from common import CpuMeter, fresh_databases, pg_backends, verdict
from fareroom.app import create_app
from fareroom.bootstrap import Context, bootstrap
from fareroom.config import Settings
from fareroom.kit.db import create_engine

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
SLICES = 10
BIG = int(os.environ.get("FAREROOM_BENCH_DASHBOARD_CUSTOMERS", "100000"))
SMALL = 1_000
PAYMENTS_EACH = 10
PASSWORD = "dashboard bench 2026"

_SEED = """
INSERT INTO clients (id, business_id, name, name_key, email, pay_with, created_at)
SELECT 'cli_' || :tag || lpad(g::text, 8, '0'), :b, 'Customer ' || lpad(g::text, 6, '0'),
       'customer ' || lpad(g::text, 6, '0'), 'c' || lpad(g::text, 6, '0') || '@bench.test',
       'card', now() - ((g % 365) || ' days')::interval
  FROM generate_series(1, CAST(:n AS integer)) g;
INSERT INTO payments (id, business_id, client_id, card_id, currency, category, description,
                      status, amount, amount_captured, amount_refunded, platform_fee,
                      processing_fee, business_net, created_at, updated_at)
SELECT 'pay_' || :tag || lpad(g::text, 9, '0'), :b,
       'cli_' || :tag || lpad((1 + g % CAST(:n AS integer))::text, 8, '0'), :card, 'EUR',
       'service', '',
       'succeeded', 1000 + g % 9000, 1000 + g % 9000, 0, 0, 0, 0,
       now() - ((g % 365) || ' days')::interval, now()
  FROM generate_series(1, CAST(:n AS integer) * CAST(:each AS integer)) g;
INSERT INTO daily_stats (business_id, day, currency, gross, charges, refunded, customers)
SELECT :b, d, 'EUR', sum(gross), sum(charges), 0, sum(customers) FROM (
  SELECT (created_at AT TIME ZONE 'UTC')::date AS d, amount_captured AS gross, 1 AS charges,
         0 AS customers FROM payments WHERE business_id = :b
  UNION ALL
  SELECT (created_at AT TIME ZONE 'UTC')::date, 0, 0, 1 FROM clients WHERE business_id = :b
) f GROUP BY d
ON CONFLICT (business_id, day, currency) DO UPDATE
  SET gross = EXCLUDED.gross, charges = EXCLUDED.charges, customers = EXCLUDED.customers;
"""


async def _business(ctx: Context, name: str, n: int, tag: str) -> str:
    async with ctx.unit_of_work() as s:
        made = await s.accounts.create_business(name=name, owner_email=f"{tag}@bench.test",
                                                owner_password=PASSWORD)  # fmt: skip
        client = await s.clients.create(made.business.id, name="Card holder",
                                        email="holder@bench.test")  # fmt: skip
        assert ctx.sandbox is not None
        token = await ctx.sandbox.tokenize(number="4242424242424242", exp_month=12,
                                           exp_year=2035)  # fmt: skip
        card = await s.clients.add_card(made.business.id, client.id, token=token)
    engine = create_engine(ctx.settings.database_url)
    async with engine.begin() as conn:
        for statement in filter(str.strip, _SEED.split(";\n")):
            await conn.execute(
                text(statement),
                {
                    "b": made.business.id,
                    "n": n,
                    "tag": tag,
                    "each": PAYMENTS_EACH,
                    "card": card.card.id,
                },
            )
        await conn.execute(text("ANALYZE"))
    await engine.dispose()
    return tag


class Side:
    """One business's owner asking for one page again and again."""

    def __init__(self, http: httpx.AsyncClient, paths: list[str], meter: CpuMeter) -> None:
        self.http, self.paths, self.meter = http, paths, meter
        self.times: list[float] = []
        self.cpu_ns = 0

    async def run(self, seconds: float) -> None:
        stop = time.perf_counter() + seconds
        cpu = time.process_time_ns()
        self.meter.start()
        i = 0
        while time.perf_counter() < stop:
            start = time.perf_counter()
            r = await self.http.get(self.paths[i % len(self.paths)])
            assert r.status_code == 200, r.text[:200]
            self.times.append(time.perf_counter() - start)
            i += 1
        self.meter.stop()
        self.cpu_ns += time.process_time_ns() - cpu

    def reset(self) -> None:
        self.times, self.cpu_ns = [], 0
        self.meter.ns = 0

    def cpu_ms(self) -> float:
        return (self.cpu_ns + self.meter.ns) / 1e6 / max(len(self.times), 1)


async def _signed_in(app: Any, email: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    page = await http.get("/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = await http.post("/login", data={"email": email, "password": PASSWORD, "csrf": token})
    assert r.status_code == 303, r.text[:200]
    http.cookies.update(r.cookies)
    return http


async def main(url: str) -> None:
    settings = Settings(_env_file=None, database_url=url, base_url="http://bench")  # type: ignore[call-arg]
    ctx = bootstrap(settings)
    print(
        f"# the dashboard of a business of {SMALL:,} customers and {SMALL * PAYMENTS_EACH:,} "
        f"payments beside one of {BIG:,} and {BIG * PAYMENTS_EACH:,}; PostgreSQL, "
        f"{SECONDS:.0f} s of alternating slices per page"
    )
    started = time.perf_counter()
    await _business(ctx, "Small", SMALL, "small")
    await _business(ctx, "Big", BIG, "big")
    print(f"# seeded in {time.perf_counter() - started:.0f} s")
    app = create_app(ctx)
    database = url.rsplit("/", 1)[1]
    meter = lambda: CpuMeter(lambda: pg_backends(database))  # noqa: E731
    small, big = await _signed_in(app, "small@bench.test"), await _signed_in(app, "big@bench.test")
    pages = {
        "charts by day": ["/dashboard/overview?unit=day"],
        "charts by week": ["/dashboard/overview?unit=week"],
        "charts by month": ["/dashboard/overview?unit=month"],
        "search by name": [f"/dashboard/customers?q=customer+000{d}" for d in range(1, 10)],
        "search by email": [f"/dashboard/customers?q=c000{d}" for d in range(1, 10)],
    }
    print(
        f"{'page':<16} {'small /s':>8} {'big /s':>8} {'small ms':>9} {'big ms':>8} "
        f"{'big/small':>9} {'CPU ms small':>12} {'CPU ms big':>10}"
    )
    worst = 0.0
    for name, paths in pages.items():
        sides = [Side(small, paths, meter()), Side(big, paths, meter())]
        for side in sides:  # warm up
            await side.run(0.5)
            side.reset()
        for _ in range(SLICES):
            for side in sides:
                await side.run(SECONDS / SLICES / 2)
        a, b = (statistics.median(s.times) * 1000 for s in sides)
        worst = max(worst, b / a)
        print(
            f"{name:<16} {len(sides[0].times) / (SECONDS / 2):>8.1f} "
            f"{len(sides[1].times) / (SECONDS / 2):>8.1f} {a:>9.2f} {b:>8.2f} {b / a:>9.2f} "
            f"{sides[0].cpu_ms():>12.2f} {sides[1].cpu_ms():>10.2f}",
            flush=True,
        )
    print(
        f"# the big business's pages within 2 x the small one's: {verdict(worst <= 2)} "
        f"(worst {worst:.2f})"
    )
    await small.aclose()
    await big.aclose()
    await ctx.close()


if __name__ == "__main__":
    os.environ.setdefault("FAREROOM_BENCH_DATABASES", "postgresql")
    asyncio.run(main(fresh_databases("dashboard")["postgresql"]))
