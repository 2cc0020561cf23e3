"""The taxi meter at scale, on a frozen clock (issue 3, figures printed, no assertions).

1. **Tick**: recomputing and publishing the live state of every open session (``MeterJobs.tick``,
   into the in-memory hub) once per 30-s increment. Figure: CPU seconds of this process per
   tick, as a share of one core over the 30 s (target ≤ 10 %). The database server's own
   CPU is printed beside it (PostgreSQL: a separate process; SQLite: in this process).
2. **Timeout sweep**: two databases, one with 1 000 open sessions and one with 100 000, each
   given 100 stale sessions (a party offline for 91 s, opened for real with a hold) per
   round; the sweep ends and collects them. Rounds alternate between the two databases so
   that the machine's drift cancels. Figure: the median ratio big / small (target ≤ 2).

Usage: ``python bench/meter.py [open sessions for the tick, default 50000] [rounds, default 3]``.
``FAREROOM_BENCH_DATABASES=sqlite`` (or ``postgresql``) measures one database only.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import fresh_databases, settled, verdict
from fareroom.bootstrap import Context, bootstrap
from fareroom.config import Settings
from fareroom.kit.clock import FrozenClock
from fareroom.models.metering import ChatSession

TARIFF = {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}
START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


class World:
    """One database: a business, a room, a client with a card, and many open sessions."""

    def __init__(self, url: str) -> None:
        self.clock = FrozenClock(START)
        self.ctx: Context = bootstrap(Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                                               mail_dir="/tmp/fareroom-bench-mail"),
                                      clock=self.clock)  # fmt: skip
        self.open = 0

    async def setup(self) -> None:
        ctx = self.ctx
        assert ctx.sandbox is not None
        async with ctx.unit_of_work() as s:
            made = await s.accounts.create_business(
                name="Bench", owner_email=f"bench-{id(self)}@example.com",
                owner_password="correct horse battery")  # fmt: skip
            self.biz, self.agent = made.business, made.owner.id
            room = await s.chat.create_room(self.biz, name="Room", terms="Terms", tariff=TARIFF,
                                            agent_ids=[self.agent])  # fmt: skip
            self.room, self.tariff_id = room.room.id, room.room.tariff_id
            client = await s.clients.create(self.biz.id, name="C", email="c@example.com")
            self.client = client.id
        token = await ctx.sandbox.tokenize(number="4242424242424242", exp_month=12,
                                           exp_year=2035)  # fmt: skip
        async with ctx.unit_of_work() as s:
            card = await s.clients.add_card(self.biz.id, self.client, token=token)
            self.card = card.card.id

    async def add_open(self, n: int) -> None:
        """``n`` more open, running sessions, written in bulk (no holds: never collected)."""
        table = ChatSession.__table__
        now = self.clock.now()
        rows = [{
            "id": f"cs_bench_{self.open + i:08d}", "business_id": self.biz.id,
            "room_id": self.room, "agent_id": self.agent, "client_id": self.client,
            "card_id": self.card, "tariff_id": self.tariff_id, "agent_may_start": False,
            "agent_may_pause": False, "terms": "Terms", "terms_accepted_at": now,
            "opened_at": now - timedelta(seconds=i % 3600), "status": "open",
            "collected": 0, "abandoned": 0, "meter_seconds": 0,
            "meter_origin": now - timedelta(seconds=i % 3600), "meter_state": "running",
            "updated_at": now} for i in range(n)]  # fmt: skip
        for chunk in range(0, n, 5000):
            async with self.ctx.unit_of_work() as s:
                await s.session.execute(table.insert(), rows[chunk : chunk + 5000])
        self.open += n

    async def stale(self, n: int) -> None:
        """Open ``n`` sessions for real (a hold each), then their client goes offline."""
        ids = []
        for _ in range(n):
            async with self.ctx.unit_of_work(self.biz.id) as s:
                state = await s.chat.open_session(
                    self.biz, room_id=self.room, agent_id=self.agent, client_id=self.client,
                    card_id=self.card, accepted_terms=True)  # fmt: skip
                ids.append(state.session.id)
        self.clock.advance(seconds=120)
        for sid in ids:
            async with self.ctx.unit_of_work() as s:
                await s.metering.record(self.biz.id, sid, "offline", party="client")
        self.clock.advance(seconds=91)

    async def sweep(self) -> tuple[float, int]:
        start, ended = time.perf_counter(), 0
        while True:
            done = await self.ctx.meters.sweep_timeouts()
            ended += done
            if not done:
                return time.perf_counter() - start, ended


def _cpu_of_server(url: str) -> float:
    """CPU seconds used so far by the PostgreSQL server's processes (0 for SQLite)."""
    if not url.startswith("postgresql"):
        return 0.0
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not (proc / "comm").read_text().startswith("postgres"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


async def tick_figure(url: str, sessions: int) -> None:
    world = World(url)
    await world.setup()
    seed = time.perf_counter()
    await world.add_open(sessions)
    print(f"  seeded {sessions} open sessions in {time.perf_counter() - seed:.1f} s")
    await settled(url)
    samples = []
    for _ in range(3):
        world.clock.advance(seconds=30)
        cpu, server, wall = time.process_time(), _cpu_of_server(url), time.perf_counter()
        result = await world.ctx.meters.tick()
        samples.append((time.process_time() - cpu, _cpu_of_server(url) - server,
                        time.perf_counter() - wall))  # fmt: skip
        assert result.sessions == sessions, result
    cpu, server, wall = (statistics.median(s[i] for s in samples) for i in range(3))
    share = cpu / 30
    print(
        f"  tick of {sessions} sessions: {cpu:.2f} s CPU here (+ {server:.2f} s in the "
        f"database server), {wall:.2f} s wall; {100 * share:.1f} % of a core per 30-s "
        f"increment (target ≤ 10 %: {verdict(share <= 0.10)})"
    )
    if server:
        print(f"  with the server's CPU: {100 * (cpu + server) / 30:.1f} % of a core")
    await world.ctx.close()


async def sweep_figure(small_url: str, big_url: str, rounds: int) -> None:
    small, big = World(small_url), World(big_url)
    for world, n in ((small, 1_000), (big, 100_000)):
        await world.setup()
        await world.add_open(n)
    await settled(small_url)
    await settled(big_url)
    ratios = []
    for r in range(rounds):
        times: dict[int, float] = {}
        for world in (small, big) if r % 2 == 0 else (big, small):
            await world.stale(100)
            elapsed, ended = await world.sweep()
            assert ended == 100, ended
            times[world.open] = elapsed
        ratios.append(times[100_000] / times[1_000])
        print(
            f"  round {r + 1}: 1 000 open + 100 stale {times[1_000]:.2f} s; "
            f"100 000 open + 100 stale {times[100_000]:.2f} s; ratio {ratios[-1]:.2f}"
        )
    ratio = statistics.median(ratios)
    print(
        f"  timeout sweep, 100 000 vs 1 000 open (100 stale each): median ratio {ratio:.2f} "
        f"(target ≤ 2: {verdict(ratio <= 2)})"
    )
    await small.ctx.close()
    await big.ctx.close()


def main(argv: list[str]) -> None:
    sessions = int(argv[1]) if len(argv) > 1 else 50_000
    rounds = int(argv[2]) if len(argv) > 2 else 3
    tick_dbs = fresh_databases("meter_tick")
    small_dbs = fresh_databases("meter_small")
    big_dbs = fresh_databases("meter_big")
    for name in tick_dbs:
        print(f"{name}:")
        asyncio.run(tick_figure(tick_dbs[name], sessions))
        asyncio.run(sweep_figure(small_dbs[name], big_dbs[name], rounds))


if __name__ == "__main__":
    main(sys.argv)
